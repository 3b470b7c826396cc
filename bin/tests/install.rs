//! Installs from a URL through the served binary, against a local source that imitates
//! Hugging Face, Civitai and their CDNs (`common/source.rs`): redirects followed with the
//! token kept on its own origin, the publisher's hash verified, cut connections resumed
//! with `Range`, a source that ignores `Range` restarted, a restart of the binary
//! mid-download continued, private addresses refused on redirect, bad requests refused
//! before any job exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::Digest;

#[path = "common/server.rs"]
mod server;
#[path = "common/source.rs"]
mod source;

use server::{Running, serve_dev_with};
use source::{Source, State};

/// A valid LoRA of `width`-wide factors (4 × width × 4 bytes each, four of them).
fn lora(width: u64) -> Vec<u8> {
    let values: Vec<u8> = (0..4 * width as usize)
        .flat_map(|i| (0.01 + (i % 7) as f32 * 0.001).to_le_bytes())
        .collect();
    lora_inspect::safetensors::build(
        &[
            ("lora_unet_a.lora_down.weight", "F32", &[4, width], &values),
            ("lora_unet_a.lora_up.weight", "F32", &[width, 4], &values),
            ("lora_unet_b.lora_down.weight", "F32", &[4, width], &values),
            ("lora_unet_b.lora_up.weight", "F32", &[width, 4], &values),
        ],
        &[],
    )
}

fn sha(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hugging Face's and Civitai's routes (each on an origin of its own, as their hosts
/// are) and the CDN they redirect to, serving `files`.
struct Sources {
    hf: Source,
    civitai: Source,
    cdn: Source,
}

fn sources(files: &[(&str, &[u8])]) -> Sources {
    let state = Arc::new(State::default());
    for (name, bytes) in files {
        state
            .files
            .lock()
            .unwrap()
            .insert((*name).to_owned(), bytes.to_vec());
        state
            .hashes
            .lock()
            .unwrap()
            .insert((*name).to_owned(), sha(bytes));
    }
    *state.civitai_token.lock().unwrap() = "civ-secret".into();
    let hf = Source::start("127.0.0.1", Arc::clone(&state));
    let civitai = Source::start("127.0.0.1", Arc::clone(&state));
    let cdn = Source::start("127.0.0.1", Arc::clone(&state));
    *state.cdn.lock().unwrap() = cdn.origin.clone();
    Sources { hf, civitai, cdn }
}

/// The binary with installs allowed to reach the local sources, and the publishers'
/// endpoints and tokens pointing at them.
fn serve(data: &Path, sources: &Sources, extra: &[(&str, &str)]) -> Running {
    let hf = format!("{}/hf", sources.hf.origin);
    let mut env = vec![
        ("LORA_INSTALL_ALLOW_HTTP", "true"),
        ("LORA_INSTALL_ALLOW_PRIVATE", "true"),
        ("LORA_HF_ENDPOINT", hf.as_str()),
        ("LORA_CIVITAI_ENDPOINT", sources.civitai.origin.as_str()),
        ("LORA_HF_TOKEN", "hf_secret"),
        ("LORA_CIVITAI_TOKEN", "civ-secret"),
    ];
    env.extend_from_slice(extra);
    serve_dev_with(data, &env)
}

fn post(server: &Running, body: &Value) -> (u16, String, Value) {
    let (status, head, body) = server::send(
        &server.addr,
        &server.admin,
        "POST",
        "/api/v1/admin/lora/install",
        "Content-Type: application/json\r\n",
        body.to_string().as_bytes(),
    );
    (
        status,
        head,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

fn job(server: &Running, id: &str) -> Value {
    let (status, body) = server::get(
        &server.addr,
        &format!("/api/v1/admin/lora/install/{id}"),
        &server.admin,
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls job `id` until `done(job)`, for at most 60 s.
fn wait_for(server: &Running, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = job(server, id);
        if done(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "job never got there: {job}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finished(server: &Running, id: &str) -> Value {
    wait_for(server, id, |j| {
        matches!(j["status"].as_str(), Some("done" | "failed" | "cancelled"))
    })
}

/// Starts an install of `body`; the finished job.
fn install(server: &Running, body: &Value) -> Value {
    let (status, head, job) = post(server, body);
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("location: /api/v1/admin/lora/install/{id}")),
        "{head}"
    );
    assert_eq!(job["status"], "queued");
    finished(server, &id)
}

fn stored(data: &Path, partial: &str) -> Vec<u8> {
    std::fs::read(data.join("models/loras").join(partial)).unwrap()
}

/// Nothing but job records left in the installs folder, nothing in staging.
fn no_partials(data: &Path) {
    let installs = data.join(".lora-server/installs");
    for entry in std::fs::read_dir(installs).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name.ends_with(".json"), "{name} left behind");
    }
    let staging = data.join(".lora-server/staging");
    assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0);
}

#[test]
fn a_hugging_face_file_is_fetched_through_its_cdn_verified_and_stored() {
    let bytes = lora(4096);
    let src = sources(&[("ink.safetensors", &bytes)]);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &src, &[]);
    let job = install(
        &server,
        &json!({"url": "hf://alice/inks@v2/ink.safetensors", "entity_type": "styles"}),
    );
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["sha256_source"], "huggingface");
    assert_eq!(job["expected_sha256"], sha(&bytes));
    assert_eq!(job["bytes_done"], bytes.len());
    assert_eq!(job["bytes_total"], bytes.len());
    let result = &job["result"];
    assert_eq!(result["partial_path"], "styles/ink.safetensors");
    assert_eq!(result["entity_type"], "styles");
    assert_eq!(result["sha256"], sha(&bytes));
    assert_eq!(stored(dir.path(), "styles/ink.safetensors"), bytes);
    // The token went to Hugging Face's origin, never to the CDN it redirected to.
    let asked = src.hf.seen("/hf/alice/inks/resolve/v2/ink.safetensors");
    assert_eq!(asked[0].headers["authorization"], "Bearer hf_secret");
    let fetched = src.cdn.seen("/cdn/ink.safetensors");
    assert!(!fetched.is_empty());
    assert!(
        fetched
            .iter()
            .all(|s| !s.headers.contains_key("authorization"))
    );
    no_partials(dir.path());
    // The listing, health and metrics know of it.
    let (_, health) = server::get(&server.addr, "/api/v1/evaluation/health", "");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["installs"]["done"], 1, "{health}");
    assert!(health["installs"]["bytes_fetched"].as_u64().unwrap() >= bytes.len() as u64);
    let (_, metrics) = server::get(&server.addr, "/metrics", "");
    assert!(
        metrics.contains("lora_install_jobs{state=\"done\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("lora_install_bytes_total"), "{metrics}");
}

#[test]
fn a_civitai_download_uses_its_token_its_disposition_name_and_its_api_hash() {
    let bytes = lora(1024);
    let src = sources(&[("civitai-128713", &bytes)]);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &src, &[]);
    let url = format!(
        "{}/api/download/models/128713?type=Model",
        src.civitai.origin
    );
    let job = install(&server, &json!({"url": url, "entity_type": "identities"}));
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["filename"], "Ink Style.safetensors");
    assert_eq!(job["sha256_source"], "civitai");
    assert_eq!(
        job["result"]["partial_path"],
        "identities/Ink Style.safetensors"
    );
    assert_eq!(
        stored(dir.path(), "identities/Ink Style.safetensors"),
        bytes
    );
    let download = src.civitai.seen("/api/download/models/128713");
    assert_eq!(download[0].headers["authorization"], "Bearer civ-secret");
    let signed = src.cdn.seen("/cdn/civitai-128713");
    assert!(
        signed
            .iter()
            .all(|s| !s.headers.contains_key("authorization"))
    );
    // Without the token, the source's 401 fails the job with a clear reason.
    let dir = tempfile::tempdir().unwrap();
    let untokened = serve(dir.path(), &src, &[("LORA_CIVITAI_TOKEN", "wrong")]);
    let job = install(
        &untokened,
        &json!({"url": url, "entity_type": "identities"}),
    );
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("401"), "{job}");
    // The job never shows a token.
    assert!(!job.to_string().contains("civ-secret") && !job.to_string().contains("wrong"));
}

#[test]
fn a_cut_connection_resumes_with_range_and_the_stored_file_is_exact() {
    let bytes = lora(65_536); // 4 MiB
    let src = sources(&[("big.safetensors", &bytes)]);
    src.cdn
        .state
        .faults
        .cut_after
        .store(1_500_000, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &src, &[]);
    let url = format!("{}/cdn/big.safetensors", src.cdn.origin);
    let job = install(
        &server,
        &json!({"url": url, "entity_type": "styles", "sha256": sha(&bytes)}),
    );
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["attempts"], 2);
    assert_eq!(job["sha256_source"], "request");
    let asked = src.cdn.seen("/cdn/big.safetensors");
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[1].headers["range"], "bytes=1500000-");
    assert_eq!(
        asked[1].headers["if-range"],
        format!("\"v-{}\"", bytes.len())
    );
    assert_eq!(stored(dir.path(), "styles/big.safetensors"), bytes);
    no_partials(dir.path());
}

#[test]
fn a_source_that_ignores_range_is_fetched_again_from_zero() {
    let bytes = lora(65_536);
    let src = sources(&[("big.safetensors", &bytes)]);
    src.cdn
        .state
        .faults
        .cut_after
        .store(1_000_000, Ordering::SeqCst);
    src.cdn
        .state
        .faults
        .ignore_range
        .store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &src, &[]);
    let url = format!("{}/cdn/big.safetensors", src.cdn.origin);
    let job = install(&server, &json!({"url": url, "entity_type": "styles"}));
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["sha256_source"], Value::Null);
    assert_eq!(stored(dir.path(), "styles/big.safetensors"), bytes);
    assert_eq!(job["result"]["sha256"], sha(&bytes));
}

#[test]
fn a_wrong_hash_fails_the_job_and_stores_nothing() {
    let bytes = lora(1024);
    let src = sources(&[("a.safetensors", &bytes)]);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &src, &[]);
    let url = format!("{}/cdn/a.safetensors", src.cdn.origin);
    let job = install(
        &server,
        &json!({"url": url, "entity_type": "styles", "sha256": "ab".repeat(32)}),
    );
    assert_eq!(job["status"], "failed");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("SHA-256 mismatch") && error.contains(&sha(&bytes)),
        "{error}"
    );
    assert!(
        !dir.path()
            .join("models/loras/styles/a.safetensors")
            .exists()
    );
    no_partials(dir.path());
    // Content the rules refuse fails the same way (nothing stored).
    drop(server);
    let src = sources(&[("junk.safetensors", b"not a safetensors file")]);
    let server = serve(dir.path(), &src, &[]);
    let url = format!("{}/cdn/junk.safetensors", src.cdn.origin);
    let job = install(&server, &json!({"url": url, "entity_type": "styles"}));
    assert_eq!(job["status"], "failed");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("Invalid file content"),
        "{job}"
    );
    no_partials(dir.path());
}

#[test]
fn a_redirect_to_a_private_address_is_refused_with_the_default_rule() {
    let bytes = lora(1024);
    let state = Arc::new(State::default());
    state
        .files
        .lock()
        .unwrap()
        .insert("a.safetensors".into(), bytes.clone());
    let public = Source::start("127.0.0.1", Arc::new(State::default()));
    // 127.0.0.2 stands for an internal address: only 127.0.0.1 is allowed.
    let internal = Source::start("127.0.0.2", state);
    let dir = tempfile::tempdir().unwrap();
    let server = serve_dev_with(
        dir.path(),
        &[
            ("LORA_INSTALL_ALLOW_HTTP", "true"),
            ("LORA_INSTALL_ALLOW_PRIVATE", "127.0.0.1/32"),
        ],
    );
    let url = format!(
        "{}/redirect?to={}/cdn/a.safetensors",
        public.origin, internal.origin
    );
    let job = install(&server, &json!({"url": url, "entity_type": "styles"}));
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("127.0.0.2") && error.contains("loopback"),
        "{error}"
    );
    assert!(
        internal.seen("/").is_empty(),
        "the internal address was reached"
    );
    // A literal private address is refused before any job exists.
    let (status, _, body) = post(
        &server,
        &json!({"url": format!("{}/cdn/a.safetensors", internal.origin), "entity_type": "styles"}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("LORA_INSTALL_ALLOW_PRIVATE")
    );
}

#[test]
fn bad_requests_are_refused_before_any_job_exists() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_dev_with(dir.path(), &[]);
    let cases = [
        (
            json!({"url": "ftp://example.com/a.safetensors", "entity_type": "styles"}),
            400,
            "scheme",
        ),
        (
            json!({"url": "http://example.com/a.safetensors", "entity_type": "styles"}),
            400,
            "LORA_INSTALL_ALLOW_HTTP",
        ),
        (
            json!({"url": "https://127.0.0.1/a.safetensors", "entity_type": "styles"}),
            400,
            "loopback",
        ),
        (
            json!({"url": "https://localhost/a.safetensors", "entity_type": "styles"}),
            400,
            "loopback",
        ),
        (
            json!({"url": "hf://alice", "entity_type": "styles"}),
            400,
            "hf://",
        ),
        (
            json!({"url": "https://example.com/a.safetensors", "entity_type": "cats"}),
            400,
            "cats",
        ),
        (
            json!({"url": "https://example.com/a", "entity_type": "styles", "filename": "x.exe"}),
            400,
            ".exe",
        ),
        (
            json!({"url": "https://example.com/a", "entity_type": "styles", "faces": true}),
            400,
            "faces",
        ),
        (
            json!({"url": "https://example.com/a", "sha256": "xyz"}),
            400,
            "sha256",
        ),
        (json!({"entity_type": "styles"}), 422, "url"),
        (json!({"url": 7}), 422, "url"),
    ];
    for (body, want, says) in cases {
        let (status, _, answer) = post(&server, &body);
        assert_eq!(status, want, "{body}: {answer}");
        assert!(answer.to_string().contains(says), "{body}: {answer}");
    }
    let (_, list) = server::get(&server.addr, "/api/v1/admin/lora/install", &server.admin);
    assert_eq!(
        serde_json::from_str::<Value>(&list).unwrap()["total"],
        0,
        "{list}"
    );
    let (status, body) = server::get(
        &server.addr,
        "/api/v1/admin/lora/install/nope",
        &server.admin,
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = server::request(
        &server.addr,
        "DELETE",
        "/api/v1/admin/lora/install/nope",
        &server.admin,
        "",
    );
    assert_eq!(status, 404, "{body}");
}

#[test]
fn a_restart_mid_download_goes_on_from_the_kept_bytes() {
    let bytes = lora(131_072); // 8 MiB
    let src = sources(&[("slow.safetensors", &bytes)]);
    src.cdn.state.faults.slow_ms.store(5, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &src, &[]);
    let url = format!("{}/cdn/slow.safetensors", src.cdn.origin);
    let (status, _, started) = post(&server, &json!({"url": url, "entity_type": "styles"}));
    assert_eq!(status, 202);
    let id = started["id"].as_str().unwrap().to_owned();
    // Killed once some bytes are in the partial itself (what a job reports may still be
    // on its way to the disk).
    let partial = dir.path().join(format!(".lora-server/installs/{id}.part"));
    let kept = || std::fs::metadata(&partial).map_or(0, |m| m.len());
    wait_for(&server, &id, |_| kept() > 1 << 20);
    drop(server); // kill -9
    src.cdn.state.faults.slow_ms.store(0, Ordering::SeqCst);
    let server = serve(dir.path(), &src, &[]);
    let job = finished(&server, &id);
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(stored(dir.path(), "styles/slow.safetensors"), bytes);
    let asked = src.cdn.seen("/cdn/slow.safetensors");
    let resumed = asked.last().unwrap().headers.get("range").cloned();
    let from: u64 = resumed
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .expect("the restarted job asked for a range");
    assert!(from > 0, "{resumed:?}");
}

#[test]
fn a_cancelled_install_stops_and_leaves_no_bytes() {
    let bytes = lora(131_072);
    let src = sources(&[("slow.safetensors", &bytes)]);
    src.cdn.state.faults.slow_ms.store(20, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &src, &[]);
    let url = format!("{}/cdn/slow.safetensors", src.cdn.origin);
    let (_, _, started) = post(&server, &json!({"url": url, "entity_type": "styles"}));
    let id = started["id"].as_str().unwrap().to_owned();
    wait_for(&server, &id, |j| j["bytes_done"].as_u64().unwrap_or(0) > 0);
    let path = format!("/api/v1/admin/lora/install/{id}");
    let (status, body) = server::request(&server.addr, "DELETE", &path, &server.admin, "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "cancelled"
    );
    no_partials(dir.path());
    let (status, body) = server::request(&server.addr, "DELETE", &path, &server.admin, "");
    assert_eq!(status, 409, "{body}");
    assert_eq!(job(&server, &id)["status"], "cancelled");
    assert!(
        !dir.path()
            .join("models/loras/styles/slow.safetensors")
            .exists()
    );
}

#[test]
fn at_most_the_configured_number_of_installs_download_at_once() {
    let bytes = lora(131_072);
    let src = sources(&[("slow.safetensors", &bytes), ("next.safetensors", &bytes)]);
    src.cdn.state.faults.slow_ms.store(20, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &src, &[("LORA_INSTALL_CONCURRENCY", "1")]);
    let start = |name: &str| {
        let url = format!("{}/cdn/{name}", src.cdn.origin);
        let (status, _, job) = post(&server, &json!({"url": url, "entity_type": "styles"}));
        assert_eq!(status, 202, "{job}");
        job["id"].as_str().unwrap().to_owned()
    };
    let first = start("slow.safetensors");
    wait_for(&server, &first, |j| {
        j["bytes_done"].as_u64().unwrap_or(0) > 0
    });
    let second = start("next.safetensors");
    // The first is well under way, yet the second has not asked the source for a byte.
    wait_for(&server, &first, |j| {
        j["bytes_done"].as_u64().unwrap_or(0) > 1 << 20
    });
    assert_eq!(job(&server, &second)["status"], "queued");
    assert!(src.cdn.seen("/cdn/next.safetensors").is_empty());
    let (_, health) = server::get(&server.addr, "/api/v1/evaluation/health", "");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["installs"]["downloading"], 1, "{health}");
    assert_eq!(health["installs"]["queued"], 1, "{health}");
    // Its place freed, the second runs.
    let path = format!("/api/v1/admin/lora/install/{first}");
    let (status, _) = server::request(&server.addr, "DELETE", &path, &server.admin, "");
    assert_eq!(status, 200);
    src.cdn.state.faults.slow_ms.store(0, Ordering::SeqCst);
    assert_eq!(finished(&server, &second)["status"], "done");
}

#[test]
fn a_source_whose_file_changed_is_fetched_again_whole() {
    let (old, new) = (lora(65_536), lora(32_768));
    let src = sources(&[("moving.safetensors", &old)]);
    let faults = &src.cdn.state.faults;
    faults.cut_after.store(1_500_000, Ordering::SeqCst);
    *faults.replace_on_cut.lock().unwrap() = Some(("moving.safetensors".into(), new.clone()));
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &src, &[]);
    let url = format!("{}/cdn/moving.safetensors", src.cdn.origin);
    let job = install(&server, &json!({"url": url, "entity_type": "styles"}));
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["attempts"], 2);
    let asked = src.cdn.seen("/cdn/moving.safetensors");
    // The resume named the old file; the source answered with the new one, whole.
    assert_eq!(asked[1].headers["if-range"], format!("\"v-{}\"", old.len()));
    assert_eq!(stored(dir.path(), "styles/moving.safetensors"), new);
    assert_eq!(job["result"]["sha256"], sha(&new));
}

#[test]
fn a_source_that_stalls_is_cut_after_the_idle_timeout_and_resumed() {
    let bytes = lora(65_536);
    let src = sources(&[("stall.safetensors", &bytes)]);
    src.cdn
        .state
        .faults
        .stall_once_ms
        .store(3_000, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &src, &[("LORA_UPLOAD_IDLE_TIMEOUT_SECS", "1")]);
    let url = format!("{}/cdn/stall.safetensors", src.cdn.origin);
    let job = install(&server, &json!({"url": url, "entity_type": "styles"}));
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
    let asked = src.cdn.seen("/cdn/stall.safetensors");
    assert!(asked[1].headers["range"].starts_with("bytes="), "{asked:?}");
    assert_eq!(stored(dir.path(), "styles/stall.safetensors"), bytes);
}

#[test]
fn redirect_loops_files_over_the_limit_and_unlisted_hosts_fail_with_their_reason() {
    let bytes = lora(65_536);
    let src = sources(&[("big.safetensors", &bytes)]);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(
        dir.path(),
        &src,
        &[
            ("LORA_MAX_UPLOAD_BYTES", "100000"),
            ("LORA_INSTALL_HOSTS", "127.0.0.1"),
        ],
    );
    let failed = |url: String| {
        let job = install(&server, &json!({"url": url, "entity_type": "styles"}));
        assert_eq!(job["status"], "failed", "{job}");
        job["error"].as_str().unwrap().to_owned()
    };
    let error = failed(format!("{}/loop", src.cdn.origin));
    assert!(error.contains("more than 10 redirects"), "{error}");
    assert_eq!(src.cdn.seen("/loop").len(), 11);
    // Over the limit by its Content-Length, and (without one) while streaming.
    let error = failed(format!("{}/cdn/big.safetensors", src.cdn.origin));
    assert!(error.contains("Maximum size is 100000 bytes"), "{error}");
    src.cdn.state.faults.no_length.store(true, Ordering::SeqCst);
    let error = failed(format!("{}/cdn/big.safetensors", src.cdn.origin));
    assert!(error.contains("Maximum size is 100000 bytes"), "{error}");
    // A host the allowlist does not name: refused at once, or on the redirect to it.
    let port = src.cdn.origin.rsplit(':').next().unwrap();
    let unlisted = format!("http://localhost:{port}/cdn/big.safetensors");
    let (status, _, body) = post(&server, &json!({"url": unlisted, "entity_type": "styles"}));
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("LORA_INSTALL_HOSTS"), "{body}");
    let error = failed(format!("{}/redirect?to={unlisted}", src.cdn.origin));
    assert!(error.contains("LORA_INSTALL_HOSTS"), "{error}");
    assert!(
        !dir.path()
            .join("models/loras/styles/big.safetensors")
            .exists()
    );
    no_partials(dir.path());
}

#[test]
fn a_name_whose_addresses_are_refused_is_refused_when_the_client_connects() {
    // Only 127.0.0.2 may be reached; `localhost` resolves to 127.0.0.1 and ::1. The first
    // request's literal address passes; the redirect's name is refused by the client's
    // own resolver, so its server is never reached.
    let state = Arc::new(State::default());
    let public = Source::start("127.0.0.2", Arc::new(State::default()));
    let behind = Source::start("127.0.0.1", state);
    let dir = tempfile::tempdir().unwrap();
    let server = serve_dev_with(
        dir.path(),
        &[
            ("LORA_INSTALL_ALLOW_HTTP", "true"),
            ("LORA_INSTALL_ALLOW_PRIVATE", "127.0.0.2"),
        ],
    );
    let port = behind.origin.rsplit(':').next().unwrap();
    let url = format!(
        "{}/redirect?to=http://localhost:{port}/cdn/a.safetensors",
        public.origin
    );
    let job = install(&server, &json!({"url": url, "entity_type": "styles"}));
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["attempts"], 1, "a refusal is not retried: {job}");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.starts_with("Install source refused: localhost is") && error.contains("loopback"),
        "{error}"
    );
    assert!(
        behind.seen("/").is_empty(),
        "the refused address was reached"
    );
}
