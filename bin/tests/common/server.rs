//! The served binary for tests that drive it as an operator does: `serve` in development
//! mode on a free loopback port (its printed tokens read back), and raw HTTP requests and
//! multipart uploads against it; shared by the test binaries (each uses some of it).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

pub(crate) const EXE: &str = env!("CARGO_BIN_EXE_lora-server");

pub(crate) fn command(data: &std::path::Path) -> Command {
    let mut cmd = Command::new(EXE);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LORA_DATA_DIR", data)
        .env("RUST_LOG", "warn");
    cmd
}

pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) admin: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on a free loopback port in development mode and reads its tokens.
pub(crate) fn serve_dev(data: &std::path::Path) -> Running {
    serve_dev_with(data, &[])
}

pub(crate) fn get(addr: &str, path: &str, token: &str) -> (u16, String) {
    request(addr, "GET", path, token, "")
}

/// Sends a request with a JSON body (empty: none) and returns the status and body.
pub(crate) fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

pub(crate) fn serve_dev_with(data: &std::path::Path, env: &[(&str, &str)]) -> Running {
    let mut cmd = command(data);
    cmd.env("LORA_BIND", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("serve").stderr(Stdio::null());
    serve_from(cmd)
}

/// Runs `cmd` (a `serve` in development mode on a free port) and reads its tokens.
/// The caller decides where its stderr goes (the default: inherited).
pub(crate) fn serve_from(mut cmd: Command) -> Running {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut admin, mut addr) = (None, None);
    while let Some(Ok(line)) = lines.next() {
        if let Some(token) = line.trim().strip_prefix("admin: ") {
            admin = Some(token.to_owned());
        }
        if let Some(url) = line.split("http://").nth(1) {
            addr = Some(url.split('/').next().unwrap().to_owned());
            break;
        }
    }
    Running {
        child,
        addr: addr.unwrap(),
        admin: admin.unwrap(),
    }
}

/// Sends the headers of an admin upload of `bytes` as `name`; the connection, the
/// multipart body to send and where the file's bytes start in it.
pub(crate) fn open_upload(
    server: &Running,
    name: &str,
    bytes: &[u8],
) -> (TcpStream, Vec<u8>, usize) {
    open_upload_with(server, name, bytes, "")
}

/// [`open_upload`] with more request headers (each ending in CRLF).
pub(crate) fn open_upload_with(
    server: &Running,
    name: &str,
    bytes: &[u8],
    headers: &str,
) -> (TcpStream, Vec<u8>, usize) {
    let boundary = "upload";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
    )
    .into_bytes();
    let head_len = body.len();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "POST /api/v1/admin/lora/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        server.admin,
        body.len()
    )
    .unwrap();
    (s, body, head_len)
}

/// Uploads `bytes` as `name` through the admin route; the status and body.
pub(crate) fn upload_file(server: &Running, name: &str, bytes: &[u8]) -> (u16, String) {
    let (mut s, body, _) = open_upload(server, name, bytes);
    s.write_all(&body).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned(),
    )
}

/// Sends `method path` to `addr` with `token`, more `headers` (each ending in CRLF) and
/// `body`; the status, the answer's head and its body.
pub(crate) fn send(
    addr: &str,
    token: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}
