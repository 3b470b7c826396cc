//! Resumable uploads with tus clients nobody on this project wrote: `tuspy` (PyPI) and
//! `tus-js-client` (npm, under Node), against the real binary. Each upload is
//! interrupted by killing the server (`kill -9`) while a PATCH is in flight, the server
//! is restarted on the same port and data directory, and the client resumes from the
//! offset the server reports to the exact file. The clients are installed into the
//! target folder on first use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_lora-server");
const SECRET: &str = "tus-client-test-secret-0123456789";

fn tools() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("tus-clients")
}

/// `tools()/{dir}`, made once by `install` (given the folder) unless `marker` is there.
fn installed(
    cell: &'static OnceLock<PathBuf>,
    dir: &str,
    marker: &str,
    install: fn(&Path) -> Command,
) -> &'static Path {
    cell.get_or_init(|| {
        let dir = tools().join(dir);
        if !dir.join(marker).exists() {
            std::fs::create_dir_all(&dir).unwrap();
            let ok = install(&dir).status().expect("the installer runs");
            assert!(ok.success(), "installing into {} failed", dir.display());
        }
        dir
    })
}

fn npm(dir: &Path, packages: &[&str]) -> Command {
    let mut cmd = Command::new("npm");
    cmd.args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .args(packages);
    cmd
}

/// `PYTHONPATH` holding tuspy (installed from PyPI once).
fn tuspy() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    installed(&DIR, "python", "tusclient", |dir| {
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(dir)
        .arg("tuspy==1.1.0");
        cmd
    })
}

/// The folder whose `node_modules` holds tus-js-client (installed from npm once).
fn tus_js() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    installed(&DIR, "node", "node_modules/tus-js-client", |dir| {
        npm(dir, &["tus-js-client@4.3.1"])
    })
}

/// The folder whose `node_modules` holds the reference server `@tus/server` with its
/// file store (installed from npm once).
fn tus_reference_server() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    installed(&DIR, "reference", "node_modules/@tus/file-store", |dir| {
        npm(dir, &["@tus/server@2.4.5", "@tus/file-store@2.1.1"])
    })
}

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

/// Kills the server while `client` is uploading (once it has sent something), then
/// starts it again with `restart`.
fn kill_mid_upload(server: Server, client: Child, restart: impl FnOnce() -> Server) -> Server {
    std::thread::sleep(Duration::from_millis(400));
    let mut server = server;
    let mut client = client;
    // SIGKILL: no graceful stop, no chance to tidy up.
    let _ = server.child.kill();
    let _ = server.child.wait();
    let _ = client.wait();
    drop(server);
    restart()
}

/// The tuspy scenario against `endpoint`: 2 MiB in 1 MiB PATCHes, the rest in one big
/// PATCH that a kill of `server` cuts, `restart`, then a resume from the offset the server
/// reports. The upload's URL and the offset the resumed upload ended at.
fn tuspy_kill_and_resume(
    endpoint: &str,
    token: &str,
    path: &Path,
    server: Server,
    restart: impl FnOnce() -> Server,
) -> (String, String, Server) {
    let python = |args: &[&str]| {
        let mut cmd = Command::new("python3");
        cmd.env("PYTHONPATH", tuspy())
            .arg("-c")
            .arg(TUSPY)
            .args([endpoint, token, path.to_str().unwrap()])
            .args(args);
        cmd
    };
    let url = run_ok(python(&["start"])).trim().to_owned();
    let big = python(&["big", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = kill_mid_upload(server, big, restart);
    let offset = run_ok(python(&["resume", &url])).trim().to_owned();
    (url, offset, server)
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

const TUSPY: &str = r#"
import sys
from tusclient import client
endpoint, token, path, mode = sys.argv[1:5]
c = client.TusClient(endpoint, headers={"Authorization": "Bearer " + token})
meta = {"filename": "resumed.safetensors", "entity_type": "styles"}
if mode == "start":
    u = c.uploader(path, chunk_size=1 << 20, metadata=meta)
    u.upload(stop_at=2 << 20)
    print(u.url)
elif mode == "big":
    u = c.uploader(path, chunk_size=16 << 20, url=sys.argv[5], metadata=meta)
    u.upload()
else:
    u = c.uploader(path, chunk_size=1 << 20, url=sys.argv[5], metadata=meta)
    u.upload()
    print(u.offset)
"#;

#[test]
fn tuspy_resumes_after_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let server = serve(&data, port);
    let token = admin_token(&data);
    let (path, bytes) = lora_file(dir.path());
    let endpoint = format!("http://127.0.0.1:{port}/api/v1/admin/lora/uploads");
    let (_, offset, _server) =
        tuspy_kill_and_resume(&endpoint, &token, &path, server, || serve(&data, port));
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
    // Resumed in 1 MiB PATCHes; the kill cuts one of them.
    let cut = node(&["resume", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = kill_mid_upload(server, cut, || serve(&data, port));
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
    let (url, offset, _server) = tuspy_kill_and_resume(&endpoint, "no-token", &path, server, start);
    assert_eq!(offset, bytes.len().to_string());
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(store.join(id)).unwrap(), bytes);
}
