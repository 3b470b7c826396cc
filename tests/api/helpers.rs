use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use lora_auth::{AuthConfig, HmacSecret, Role, Verifier};
use lora_http::{AppState, ServerOptions};
use lora_store::Store;
use serde_json::Value;

pub const SECRET: &[u8] = b"contract-suite-secret-0123456789";
/// A small limit keeps the 413 tests cheap.
pub const LIMIT: u64 = 64 * 1024;

pub struct TestApp {
    pub addr: SocketAddr,
    pub admin: String,
    pub user: String,
    pub data: Utf8PathBuf,
    pub store: Arc<Store>,
    _dir: Option<tempfile::TempDir>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop without waiting: the command is sent at once.
        drop(self.handle.stop(false));
    }
}

pub fn spawn_app() -> TestApp {
    spawn_app_with_limit(LIMIT)
}

pub fn spawn_app_with_limit(limit: u64) -> TestApp {
    spawn_app_with(move |state| state.with_max_upload_bytes(limit))
}

pub fn spawn_app_with(customize: impl FnOnce(AppState) -> AppState) -> TestApp {
    spawn_app_serving(customize, |options| options)
}

/// As [`spawn_app_with`], with the server's options customized too.
pub fn spawn_app_serving(
    customize: impl FnOnce(AppState) -> AppState,
    serve: impl FnOnce(ServerOptions) -> ServerOptions + Send + 'static,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let data = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
    spawn(data, Some(dir), customize, serve)
}

/// A server on the data directory `data`, which the caller owns (a mounted filesystem).
pub fn spawn_app_at(data: Utf8PathBuf) -> TestApp {
    spawn(data, None, |state| state, |options| options)
}

fn spawn(
    data: Utf8PathBuf,
    dir: Option<tempfile::TempDir>,
    customize: impl FnOnce(AppState) -> AppState,
    serve: impl FnOnce(ServerOptions) -> ServerOptions + Send + 'static,
) -> TestApp {
    // Quiet by default; `TEST_LOG=1 cargo test -p lora-contract-tests` shows the server's logs.
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_test_writer()
            .try_init();
    }
    let store = Arc::new(Store::open(data.clone()).unwrap());
    let verifier =
        Arc::new(Verifier::new(AuthConfig::hs256(HmacSecret::new(SECRET.to_vec()))).unwrap());
    let admin = verifier.mint(Role::Admin, "admin", 600).unwrap();
    let user = verifier.mint(Role::User, "user", 600).unwrap();
    let state = customize(AppState::new(Arc::clone(&store), verifier).with_max_upload_bytes(LIMIT));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let options = serve(ServerOptions {
                workers: 2,
                shutdown_grace: Duration::from_secs(1),
                ..ServerOptions::default()
            });
            let server = lora_http::run(listener, state, options).unwrap();
            tx.send(server.handle()).unwrap();
            server.await
        })
    });
    let handle = rx.recv().unwrap();
    TestApp {
        addr,
        admin,
        user,
        data,
        store,
        _dir: dir,
        handle,
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Status and body, with what varies between runs redacted, for snapshots.
    pub fn snapshot(&self, app: &TestApp) -> Value {
        let mut body = self.json();
        redact(&mut body, app.data.as_str());
        serde_json::json!({ "status": self.status, "body": body })
    }
}

fn redact(value: &mut Value, data_dir: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match key.as_str() {
                    "upload_timestamp" | "timestamp" | "modified_at" | "deleted_at"
                        if v.is_string() =>
                    {
                        *v = Value::from("[timestamp]");
                    }
                    "free_bytes" => *v = Value::from("[free_bytes]"),
                    _ => redact(v, data_dir),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, data_dir)),
        Value::String(s) if s.contains(data_dir) => *s = s.replace(data_dir, "[DATA]"),
        _ => {}
    }
}

/// A part of a multipart body.
pub enum Part<'a> {
    File {
        name: &'a str,
        filename: &'a str,
        bytes: &'a [u8],
    },
    Text(&'a str, &'a str),
}

pub fn file<'a>(filename: &'a str, bytes: &'a [u8]) -> Part<'a> {
    Part::File {
        name: "file",
        filename,
        bytes,
    }
}

pub const BOUNDARY: &str = "----lora-contract-boundary";

pub fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match part {
            Part::File {
                name,
                filename,
                bytes,
            } => {
                let escaped = filename.replace('\\', "\\\\").replace('"', "\\\"");
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{escaped}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(bytes);
            }
            Part::Text(name, value) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}")
                        .as_bytes(),
                );
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A token for `sub` with `role`, signed like the app's own.
pub fn mint(role: Role, sub: &str) -> String {
    Verifier::new(AuthConfig::hs256(HmacSecret::new(SECRET.to_vec())))
        .unwrap()
        .mint(role, sub, 600)
        .unwrap()
}

pub fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

impl TestApp {
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
    }

    /// Sends a full request (`head` without the final blank line) and reads the answer.
    pub fn request(&self, method: &str, path: &str, headers: &str, body: &[u8]) -> Resp {
        let mut stream = self.connect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        // The server may answer (and close) before reading the whole body.
        let _ = stream.write_all(body);
        read_response(&mut BufReader::new(stream))
    }

    /// Sends a HEAD request and reads the answer's status and headers (no body follows,
    /// whatever its `Content-Length` says).
    pub fn head(&self, path: &str, headers: &str) -> Resp {
        let mut stream = self.connect();
        let head = format!(
            "HEAD {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{headers}\r\n",
            self.addr
        );
        stream.write_all(head.as_bytes()).unwrap();
        let (status, headers) = read_head(&mut BufReader::new(stream));
        Resp {
            status,
            headers,
            body: Vec::new(),
        }
    }

    pub fn upload_as(&self, path: &str, token: &str, parts: &[Part<'_>]) -> Resp {
        let headers = format!(
            "{}Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n",
            bearer(token)
        );
        self.request("POST", path, &headers, &multipart(parts))
    }

    pub fn upload(&self, parts: &[Part<'_>]) -> Resp {
        self.upload_as("/api/v1/lora/upload", &self.user, parts)
    }

    pub fn admin_upload(&self, parts: &[Part<'_>]) -> Resp {
        self.upload_as("/api/v1/admin/lora/upload", &self.admin, parts)
    }

    pub fn list(&self, query: &str) -> Resp {
        self.request(
            "GET",
            &format!("/api/v1/admin/lora{query}"),
            &bearer(&self.admin),
            b"",
        )
    }

    /// A JSON request with `token`.
    pub fn json_as(&self, method: &str, path: &str, token: &str, body: &str) -> Resp {
        let headers = format!("{}Content-Type: application/json\r\n", bearer(token));
        self.request(method, path, &headers, body.as_bytes())
    }

    /// A JSON request with the admin token.
    pub fn admin_json(&self, method: &str, path: &str, body: &str) -> Resp {
        self.json_as(method, path, &self.admin, body)
    }

    pub fn delete(&self, body: &str) -> Resp {
        self.admin_json("DELETE", "/api/v1/admin/lora", body)
    }

    /// The health route's JSON.
    pub fn health(&self) -> Value {
        self.request("GET", "/api/v1/evaluation/health", "", b"")
            .json()
    }

    /// Waits (bounded) until health counts `n` uploads in flight: the event that says a
    /// request holds its upload slot (and, for a tus PATCH, its upload's claim).
    pub fn wait_for_uploads_in_flight(&self, n: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.health()["uploads"]["in_flight"] != n {
            assert!(std::time::Instant::now() < deadline, "{}", self.health());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn live(&self) -> Utf8PathBuf {
        self.data.join("models/loras")
    }

    pub fn bin(&self) -> Utf8PathBuf {
        self.data.join("bin/models/loras")
    }

    pub fn staging(&self) -> Utf8PathBuf {
        self.data.join(".lora-server/staging")
    }

    /// Every regular file under `models/loras`, relative to it, sorted.
    pub fn live_files(&self) -> Vec<String> {
        files_under(&self.live())
    }

    /// Waits (bounded) until the staging folder is empty; returns what is left.
    pub fn staging_after_settling(&self) -> Vec<String> {
        for _ in 0..100 {
            if files_under(&self.staging()).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        files_under(&self.staging())
    }
}

pub fn files_under(root: &Utf8Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = Utf8PathBuf::from_path_buf(entry.path()).unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The status line and headers of an answer.
pub fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line: {status_line:?}"))
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    (status, headers)
}

pub fn read_response(reader: &mut impl BufRead) -> Resp {
    let (status, headers) = read_head(reader);
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().unwrap());
    let mut body = Vec::new();
    if (100..200).contains(&status) {
        return Resp {
            status,
            headers,
            body,
        };
    }
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body).unwrap();
        }
        None => {
            let _ = reader.read_to_end(&mut body);
        }
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// A token signed with the suite's secret, with exactly `claims`.
pub fn token_with(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Some bytes that look like nothing in particular.
pub fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

/// A small valid SD1 kohya LoRA in safetensors; `seed` makes its bytes distinct.
pub fn st(seed: u8) -> Vec<u8> {
    let name = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
    let down = lora_inspect::fixtures::f16_bytes(2 * 768, u32::from(seed));
    let up = lora_inspect::fixtures::f16_bytes(320 * 2, u32::from(seed) + 1);
    lora_inspect::safetensors::build(
        &[
            (&format!("{name}.lora_down.weight"), "F16", &[2, 768], &down),
            (&format!("{name}.lora_up.weight"), "F16", &[320, 2], &up),
        ],
        &[("ss_network_dim", "2")],
    )
}

/// A valid safetensors file of exactly `total` bytes (one U8 tensor).
pub fn st_sized(total: usize) -> Vec<u8> {
    const HEADER: usize = 128;
    let k = total - 8 - HEADER;
    let mut json = format!(r#"{{"w":{{"dtype":"U8","shape":[{k}],"data_offsets":[0,{k}]}}}}"#);
    while json.len() < HEADER {
        json.push(' ');
    }
    let mut out = (HEADER as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend(bytes(k));
    out
}

/// A benign raw pickle holding a torch-style state dict.
pub fn pt() -> Vec<u8> {
    lora_inspect::fixtures::state_dict_pickle(&[
        ("lora_unet_x.lora_down.weight", &[2, 8]),
        ("lora_unet_x.lora_up.weight", &[8, 2]),
    ])
}
