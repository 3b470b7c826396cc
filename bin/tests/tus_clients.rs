//! Resumable uploads with tus clients nobody on this project wrote: `tuspy` (PyPI) and
//! `tus-js-client` (npm, under Node), against the real binary. Each upload is
//! interrupted by killing the server (`kill -9`) while a PATCH is in flight, the server
//! is restarted on the same port and data directory, and the client resumes from the
//! offset the server reports to the exact file. The interrupted run goes through a
//! throttling proxy, so the kill lands mid-way on any machine, and each test checks that
//! it did (the server holds part of the upload, not all). The clients are installed into
//! the target folder on first use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/clients.rs"]
mod clients;

use clients::{TUSPY, tus_js, tus_reference_server, tuspy};

const EXE: &str = env!("CARGO_BIN_EXE_lora-server");
const SECRET: &str = "tus-client-test-secret-0123456789";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path, port: u16) -> Server {
    let child = Command::new(EXE)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LORA_DATA_DIR", data)
        .env("LORA_BIND", format!("127.0.0.1:{port}"))
        .env("LORA_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child }
}

fn admin_token(data: &Path) -> String {
    let out = Command::new(EXE)
        .env_clear()
        .env("LORA_DATA_DIR", data)
        .env("LORA_JWT_SECRET", SECRET)
        .args(["token", "--role", "admin", "--sub", "laptop"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A valid 6 MiB LoRA.
fn lora_file(dir: &Path) -> (PathBuf, Vec<u8>) {
    let bytes = lora_inspect::fixtures::sdxl_lora(6, 8);
    let path = dir.join("resumed.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

/// Bytes per second the slow proxy passes on toward the server: the megabytes the cut
/// run has left take seconds, not the milliseconds of loopback.
const PROXY_RATE: usize = 1 << 20;
/// The cut run is killed once the server has this many more bytes of it on disk.
const CUT_AFTER: u64 = 256 << 10;

/// A proxy on a port of its own to the server on `upstream`, passing what clients send at
/// [`PROXY_RATE`] (answers at full speed). It opens a connection upstream for each client
/// connection, and passes each end's closing on to the other, so a client whose server is
/// killed sees its connection end. It lives as long as the test process.
fn slow_proxy(upstream: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            // Refused (the server is down): dropping the client closes it.
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pipe(client, server, Some(PROXY_RATE)));
            std::thread::spawn(move || pipe(server2, client2, None));
        }
    });
    port
}

/// Copies `from` to `to` (at `rate` bytes per second, if given) until `from` ends or
/// fails, then ends `to` (FIN). Once `to` cannot take more (its end is gone), what `from`
/// still sends is read and dropped: a client blocked sending a body then finishes it and
/// reads the end, instead of waiting on a full window that nothing empties.
fn pipe(mut from: TcpStream, mut to: TcpStream, rate: Option<usize>) {
    let mut buf = vec![0; 16 << 10];
    let mut forwarding = true;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if forwarding {
            if to.write_all(&buf[..n]).is_err() {
                forwarding = false;
            } else if let Some(rate) = rate {
                std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// `url` (on `127.0.0.1:{port}`) through the proxy on `proxy`.
fn through(url: &str, port: u16, proxy: u16) -> String {
    let direct = format!("http://127.0.0.1:{port}/");
    assert!(url.starts_with(&direct), "{url} is not on port {port}");
    url.replacen(&direct, &format!("http://127.0.0.1:{proxy}/"), 1)
}

/// An upload under way: its URL, the token that may see it, the file the server keeps its
/// received bytes in, and its length.
struct Upload<'a> {
    url: &'a str,
    token: &'a str,
    part: PathBuf,
    length: u64,
}

/// The size of `part`, `None` when it is gone (our server moves it on when the upload
/// completes).
fn part_len(part: &Path) -> Option<u64> {
    std::fs::metadata(part).ok().map(|m| m.len())
}

/// Runs `client`, which continues `upload` through a [`slow_proxy`], until the server has
/// [`CUT_AFTER`] more bytes of it on disk; then kills the server (SIGKILL: no graceful
/// stop, no chance to tidy up) while that PATCH is still arriving, and starts it again
/// with `restart`. Checks that the kill cut the upload: the client failed, and the server
/// held part of the upload but not all, on disk before the restart and as HEAD reports
/// after it.
fn kill_mid_upload(
    server: Server,
    upload: &Upload,
    mut client: Command,
    restart: impl FnOnce() -> Server,
) -> Server {
    let before = part_len(&upload.part)
        .unwrap_or_else(|| panic!("no part file at {}", upload.part.display()));
    assert!(
        0 < before && before < upload.length,
        "{before} of {}",
        upload.length
    );
    let mut client = client
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while part_len(&upload.part).is_none_or(|len| len < before + CUT_AFTER) {
        if let Some(status) = client.try_wait().unwrap() {
            panic!(
                "the client ended ({status}) before the server had {CUT_AFTER} more bytes: {}",
                stderr_of(client)
            );
        }
        assert!(
            Instant::now() < deadline,
            "the server did not receive {CUT_AFTER} more bytes within 30 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut server = server;
    let _ = server.child.kill();
    let _ = server.child.wait();
    drop(server);

    // Without retries, a client whose server died mid-way can only fail.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = client.kill();
            let _ = client.wait();
            panic!("the client did not notice its server was killed within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let cut =
        part_len(&upload.part).expect("the part file is gone: the upload finished before the kill");
    assert!(
        before < cut && cut < upload.length,
        "on disk at the kill: {cut} bytes; {before} before the cut run, {} in all",
        upload.length
    );
    assert!(
        !status.success(),
        "the client reported success for an upload cut off mid-way: {}",
        stderr_of(client)
    );

    let server = restart();
    let (offset, length) = head(upload);
    assert_eq!(length, upload.length);
    assert!(
        0 < offset && offset < upload.length,
        "after the restart the server reports {offset} of {}",
        upload.length
    );
    server
}

fn stderr_of(client: Child) -> String {
    let out = client.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `Upload-Offset` and `Upload-Length` as a HEAD on the upload's URL reports them.
fn head(upload: &Upload) -> (u64, u64) {
    let rest = upload.url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "HEAD {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n",
        upload.token
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    let header = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    (header("Upload-Offset"), header("Upload-Length"))
}

/// The tuspy scenario against `endpoint` (a server on `port`, keeping an upload's bytes in
/// the file `part` names for its URL): 2 MiB in 1 MiB PATCHes, the rest in one big PATCH
/// through a slow proxy that a kill of `server` cuts, `restart`, then a resume from the
/// offset the server reports. The upload's URL and the offset the resumed upload ended at.
fn tuspy_kill_and_resume(
    endpoint: &str,
    port: u16,
    token: &str,
    path: &Path,
    part: impl Fn(&str) -> PathBuf,
    server: Server,
    restart: impl FnOnce() -> Server,
) -> (String, String, Server) {
    let python = |endpoint: &str, args: &[&str]| {
        let mut cmd = Command::new("python3");
        cmd.env("PYTHONPATH", tuspy())
            .arg("-c")
            .arg(TUSPY)
            .args([
                endpoint,
                token,
                path.to_str().unwrap(),
                "resumed.safetensors",
            ])
            .args(args);
        cmd
    };
    let url = run_ok(python(endpoint, &["start", "2"])).trim().to_owned();
    let proxy = slow_proxy(port);
    let big = python(
        &through(endpoint, port, proxy),
        &["big", &through(&url, port, proxy)],
    );
    let upload = Upload {
        url: &url,
        token,
        part: part(&url),
        length: std::fs::metadata(path).unwrap().len(),
    };
    let server = kill_mid_upload(server, &upload, big, restart);
    let offset = run_ok(python(endpoint, &["resume", &url]))
        .trim()
        .to_owned();
    (url, offset, server)
}

/// Where our server keeps the bytes of the upload at `url`.
fn part_file(data: &Path, url: &str) -> PathBuf {
    let id = url.rsplit('/').next().unwrap();
    data.join(".lora-server/uploads").join(format!("{id}.part"))
}

fn stored(data: &Path) -> Vec<u8> {
    std::fs::read(data.join("models/loras/styles/resumed.safetensors")).unwrap()
}

fn run_ok(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tuspy_resumes_after_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let server = serve(&data, port);
    let token = admin_token(&data);
    let (path, bytes) = lora_file(dir.path());
    let endpoint = format!("http://127.0.0.1:{port}/api/v1/admin/lora/uploads");
    let (_, offset, _server) = tuspy_kill_and_resume(
        &endpoint,
        port,
        &token,
        &path,
        |url| part_file(&data, url),
        server,
        || serve(&data, port),
    );
    assert_eq!(offset, bytes.len().to_string());
    assert_eq!(stored(&data), bytes, "the resumed upload is the exact file");
}

const TUS_JS: &str = r#"
const tus = require("tus-js-client");
const fs = require("fs");
// `node -e`: no script path in argv.
const [endpoint, token, path, mode, url] = process.argv.slice(1);
const file = fs.readFileSync(path);
const upload = new tus.Upload(file, {
  endpoint,
  uploadUrl: url || null,
  headers: { Authorization: "Bearer " + token },
  chunkSize: mode === "start" ? 256 * 1024 : 1024 * 1024,
  retryDelays: null,
  removeFingerprintOnSuccess: true,
  metadata: { filename: "resumed.safetensors", entity_type: "styles" },
  onError: (e) => { console.error("error: " + e); process.exit(2); },
  onProgress: (sent) => { if (mode === "start" && sent >= 2 * 1024 * 1024) { console.log(upload.url); upload.abort(); process.exit(0); } },
  onSuccess: () => { console.log("done " + upload.url); process.exit(0); },
});
upload.start();
"#;

#[test]
fn tus_js_client_resumes_after_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let server = serve(&data, port);
    let token = admin_token(&data);
    let (path, bytes) = lora_file(dir.path());
    let endpoint = format!("http://127.0.0.1:{port}/api/v1/admin/lora/uploads");
    let node = |args: &[&str]| {
        let mut cmd = Command::new("node");
        cmd.env("NODE_PATH", tus_js().join("node_modules"))
            .arg("-e")
            .arg(TUS_JS)
            .args([endpoint.as_str(), token.as_str(), path.to_str().unwrap()])
            .args(args);
        cmd
    };
    let url = run_ok(node(&["start"])).trim().to_owned();
    assert!(url.contains("/api/v1/admin/lora/uploads/"), "{url}");
    // Resumed in 1 MiB PATCHes through a slow proxy; the kill cuts one of them.
    let proxy = slow_proxy(port);
    let cut = node(&["resume", &through(&url, port, proxy)]);
    let upload = Upload {
        url: &url,
        token: &token,
        part: part_file(&data, &url),
        length: bytes.len() as u64,
    };
    let _server = kill_mid_upload(server, &upload, cut, || serve(&data, port));
    let done = run_ok(node(&["resume", &url]));
    assert!(done.starts_with("done"), "{done}");
    assert_eq!(stored(&data), bytes, "the resumed upload is the exact file");
}

const REFERENCE: &str = r#"
const { Server } = require("@tus/server");
const { FileStore } = require("@tus/file-store");
const http = require("http");
const [port, dir] = process.argv.slice(1);
const server = new Server({ path: "/files", datastore: new FileStore({ directory: dir }) });
http.createServer((req, res) => server.handle(req, res)).listen(Number(port), "127.0.0.1");
"#;

/// The same tuspy script, kill and resume against the reference server: where ours is
/// meant to match the protocol, so does the client's experience (the differences are
/// in docs/COMPATIBILITY.md).
#[test]
fn the_same_tuspy_script_resumes_against_the_reference_server() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reference-store");
    std::fs::create_dir_all(&store).unwrap();
    let port = free_port();
    let start = || {
        let child = Command::new("node")
            .env("NODE_PATH", tus_reference_server().join("node_modules"))
            .arg("-e")
            .arg(REFERENCE)
            .arg(port.to_string())
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "@tus/server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child }
    };
    let server = start();
    let (path, bytes) = lora_file(dir.path());
    let endpoint = format!("http://127.0.0.1:{port}/files");
    // @tus/file-store keeps an upload's bytes in `{directory}/{id}` (its offset is that
    // file's size), the description beside it in `{id}.json`.
    let (url, offset, _server) = tuspy_kill_and_resume(
        &endpoint,
        port,
        "no-token",
        &path,
        |url| store.join(url.rsplit('/').next().unwrap()),
        server,
        start,
    );
    assert_eq!(offset, bytes.len().to_string());
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(store.join(id)).unwrap(), bytes);
}
