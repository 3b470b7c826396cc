//! The binary as an operator meets it: development mode, refusals, token minting, a
//! graceful stop, and a restart after being killed in the middle of an upload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/server.rs"]
mod server;

use server::{
    EXE, Running, command, get, open_upload, open_upload_with, request, serve_dev, serve_dev_with,
    serve_from, upload_file,
};

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn development_mode_prints_working_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_dev(dir.path());
    let (status, body) = get(&server.addr, "/api/v1/admin/lora", &server.admin);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"total\":0"), "{body}");
}

#[test]
fn a_public_address_without_a_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .env("LORA_BIND", "0.0.0.0:0")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to serve"), "{err}");
}

/// An operator must see why, down to the operating system's words.
#[test]
fn a_data_directory_that_cannot_be_made_names_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let out = command(&file.join("data"))
        .env("LORA_BIND", "127.0.0.1:0")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open the data directory: could not create")
            && err.contains("Not a directory (os error 20)"),
        "{err}"
    );
}

#[test]
fn token_mints_with_the_configured_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .args(["token", "--role", "admin", "--sub", "ops"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "no secret, no token");

    let out = command(dir.path())
        .env("LORA_JWT_SECRET", "s3cret-s3cret-s3cret-s3cret-s3cret")
        .args(["token", "--role", "admin", "--sub", "ops", "--ttl", "60"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let verifier = lora_auth::Verifier::new(lora_auth::AuthConfig::hs256(
        lora_auth::HmacSecret::new(b"s3cret-s3cret-s3cret-s3cret-s3cret".to_vec()),
    ))
    .unwrap();
    let claims = verifier.verify(&token).unwrap();
    assert_eq!(claims.sub(), "ops");
    assert_eq!(claims.role(), lora_auth::Role::Admin);
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = serve_dev(dir.path());
    let out = command(dir.path())
        .env("LORA_BIND", "127.0.0.1:0")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
}

#[test]
fn sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve_dev(dir.path());
    // Serving means the signal handlers are installed.
    assert_eq!(get(&server.addr, "/api/v1/evaluation/health", "").0, 200);
    let pid = server.child.id().to_string();
    send_signal(&pid, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killed_mid_upload_leaves_no_partial_file_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    std::fs::create_dir_all(data.join("models/loras/styles")).unwrap();
    std::fs::write(data.join("models/loras/styles/kept.pt"), b"kept").unwrap();

    let mut server = serve_dev(data);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    let boundary = "kill-test";
    let head = format!(
        "POST /api/v1/admin/lora/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 20000000\r\n\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.safetensors\"\r\n\r\n",
        server.admin
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&vec![7u8; 4_000_000]).unwrap();
    // Wait until the upload is being staged, then kill the server outright.
    let staging = data.join(".lora-server/staging");
    let deadline = Instant::now() + Duration::from_secs(20);
    while files_under(&staging).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the upload never reached staging"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(
        files_under(&data.join("models/loras")).len(),
        1,
        "only the hand-placed file"
    );

    let restarted = serve_dev(data);
    assert!(files_under(&staging).is_empty(), "staging cleaned at start");
    let (status, body) = get(&restarted.addr, "/api/v1/admin/lora", &restarted.admin);
    assert_eq!(status, 200);
    assert!(
        body.contains("\"total\":1") && body.contains("styles/kept.pt"),
        "{body}"
    );
}

#[test]
fn inspect_prints_reports_and_fails_on_a_fail_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let good = sdxl_lora(dir.path(), "good.safetensors");
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a lora at all").unwrap();

    let out = command(dir.path())
        .arg("inspect")
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sdxl") && text.contains("4 / 2"), "{text}");

    let out = command(dir.path())
        .args(["inspect", "--json"])
        .arg(&good)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rank"], 4);
    assert_eq!(report["alpha"], 2.0);

    let out = command(dir.path())
        .arg("inspect")
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("invalid_safetensors"));
}

/// Starts `serve` with extra environment, in development mode.
fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "did not stop in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) until an upload under way has a staging file in `data`; the folder.
fn wait_for_staging(data: &std::path::Path) -> std::path::PathBuf {
    let staging = data.join(".lora-server/staging");
    let deadline = Instant::now() + Duration::from_secs(10);
    while files_under(&staging).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the upload never reached staging"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    staging
}

/// `kill -{signal} {pid}`, which must succeed.
fn send_signal(pid: &str, signal: &str) {
    assert!(
        Command::new("kill")
            .args([signal, pid])
            .status()
            .unwrap()
            .success()
    );
}

/// Opens an upload of `total` file bytes and sends the first `first` of them.
fn start_upload(server: &Running, total: usize, first: usize) -> (TcpStream, Vec<u8>) {
    let lora = lora_inspect::fixtures::kohya_lora(
        &[("lora_unet_input_blocks_4_1_proj_in", 640, 640)],
        4,
        4.0,
        &[],
    );
    let mut file = lora;
    file.resize(file.len().max(total), 0);
    let (mut s, body, head_len) = open_upload(server, "g.safetensors", &file);
    s.write_all(&body[..head_len + first]).unwrap();
    let rest = body[head_len + first..].to_vec();
    (s, rest)
}

#[test]
fn sigterm_lets_an_upload_in_flight_finish() {
    a_signal_lets_an_upload_in_flight_finish("-TERM");
}

/// Ctrl-C is graceful, as SIGTERM is: an upload in flight completes.
#[test]
fn sigint_lets_an_upload_in_flight_finish() {
    a_signal_lets_an_upload_in_flight_finish("-INT");
}

/// Sends `signal` while an upload is in flight: the listener closes, the upload finishes.
fn a_signal_lets_an_upload_in_flight_finish(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve_dev_with(dir.path(), &[("LORA_SHUTDOWN_GRACE_SECS", "20")]);
    assert_eq!(get(&server.addr, "/api/v1/evaluation/health", "").0, 200);
    let (mut s, rest) = start_upload(&server, 0, 1000);
    // The upload is in flight once its staging file exists.
    wait_for_staging(dir.path());
    let pid = server.child.id().to_string();
    send_signal(&pid, signal);
    // The signal was handled once the listener is closed to new connections; the server
    // itself must still be running, waiting for the upload.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&server.addr).is_ok() {
        assert!(Instant::now() < deadline, "the listener was never closed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "still finishing the upload"
    );
    s.write_all(&rest).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(wait_exit(&mut server.child, Duration::from_secs(20)).success());
    assert!(
        dir.path()
            .join("models/loras/no_type_provided/g.safetensors")
            .exists()
    );
}

#[test]
fn sigterm_aborts_an_upload_past_the_grace_period_without_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve_dev_with(dir.path(), &[("LORA_SHUTDOWN_GRACE_SECS", "1")]);
    assert_eq!(get(&server.addr, "/api/v1/evaluation/health", "").0, 200);
    // Past the first batch the sink hands to its writer (1 MiB), so a staging file exists.
    let (_stalled, _) = start_upload(&server, 4_000_000, 2_000_000);
    let staging = wait_for_staging(dir.path());
    let pid = server.child.id().to_string();
    let stopped_at = Instant::now();
    send_signal(&pid, "-TERM");
    wait_exit(&mut server.child, Duration::from_secs(15));
    assert!(
        stopped_at.elapsed() < Duration::from_secs(10),
        "stopped after the grace period"
    );
    assert!(
        files_under(&dir.path().join("models/loras")).is_empty(),
        "nothing half-written is visible"
    );
    // Whatever the abort left in staging, the next start removes it.
    let _restarted = serve_dev(dir.path());
    assert!(files_under(&staging).is_empty());
}

/// SIGQUIT (and a second Ctrl-C) stops at once: the process ends with 131 while an upload
/// is in flight, nothing half-written is visible, and the next start clears staging.
#[test]
fn sigquit_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve_dev_with(dir.path(), &[("LORA_SHUTDOWN_GRACE_SECS", "60")]);
    let (_stalled, _) = start_upload(&server, 4_000_000, 2_000_000);
    let staging = wait_for_staging(dir.path());
    let pid = server.child.id().to_string();
    send_signal(&pid, "-QUIT");
    let status = wait_exit(&mut server.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(131), "{status:?}");
    assert!(files_under(&dir.path().join("models/loras")).is_empty());
    let _restarted = serve_dev(dir.path());
    assert!(files_under(&staging).is_empty());
}

/// The service's own files are input like any other: a hash log damaged while the server
/// was down (a bad `sha256`, garbage) is repaired at start, and evaluating the file gives
/// its real hash, never a 500.
#[test]
fn a_damaged_hash_log_is_repaired_and_the_hash_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let live = data.join("models/loras/styles");
    std::fs::create_dir_all(&live).unwrap();
    let placed = sdxl_lora(&live, "a.safetensors");
    let lora = std::fs::read(&placed).unwrap();
    std::fs::create_dir_all(data.join(".lora-server")).unwrap();
    let meta = std::fs::metadata(&placed).unwrap();
    let mtime_ns = std::os::unix::fs::MetadataExt::mtime(&meta) * 1_000_000_000
        + std::os::unix::fs::MetadataExt::mtime_nsec(&meta);
    let ino = std::os::unix::fs::MetadataExt::ino(&meta);
    // A record for exactly this file (a valid one would be trusted), but with a hash that
    // is no SHA-256; then garbage.
    std::fs::write(
        data.join(".lora-server/hashes.jsonl"),
        format!(
            "{{\"path\":\"styles/a.safetensors\",\"stamp\":{{\"len\":{},\"mtime_ns\":{mtime_ns},\"ino\":{ino}}},\"sha256\":\"0123\"}}\n\u{1}garbage\n",
            meta.len()
        ),
    )
    .unwrap();

    let server = serve_dev(data);
    let (status, answer) = send_json(
        &server,
        "POST",
        "/api/v1/evaluation/",
        r#"{"partial_path": "styles/a.safetensors"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    use sha2::Digest;
    let expected = format!("{:x}", sha2::Sha256::digest(&lora));
    assert!(
        answer.contains(&format!("\"sha256\":\"{expected}\"")),
        "{answer}"
    );
    // And the listing now knows it.
    let (status, listing) = get(&server.addr, "/api/v1/admin/lora", &server.admin);
    assert_eq!(status, 200);
    assert!(listing.contains(&expected), "{listing}");
}

/// `serve` as the operator's guide deploys it: through a shell that sets the umask first.
fn serve_with_umask(data: &std::path::Path, umask: &str, env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new("sh");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LORA_DATA_DIR", data)
        .env("LORA_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .args(["-c", &format!("umask {umask} && exec \"$0\" serve"), EXE])
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    serve_from(cmd)
}

/// Sends a JSON request with the admin token.
fn send_json(server: &Running, method: &str, path: &str, body: &str) -> (u16, String) {
    request(&server.addr, method, path, &server.admin, body)
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o777
}

/// The pipeline's user must read what the service stores: under umask 0022 published and
/// restored files are 0644 (staging stays private), and LORA_FILE_MODE sets another mode.
#[test]
fn published_and_restored_files_follow_the_umask() {
    for (umask, env, expected) in [
        ("022", &[][..], 0o644),
        ("022", &[("LORA_FILE_MODE", "0640")][..], 0o640),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = serve_with_umask(dir.path(), umask, env);
        let (mut s, rest) = start_upload(&server, 1000, 0);
        s.write_all(&rest).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let live = dir
            .path()
            .join("models/loras/no_type_provided/g.safetensors");
        assert_eq!(mode_of(&live), expected, "published");
        assert_eq!(mode_of(&dir.path().join(".lora-server/staging")), 0o700);

        let (status, _) = send_json(
            &server,
            "DELETE",
            "/api/v1/admin/lora",
            r#"{"partial_path": "no_type_provided/g.safetensors"}"#,
        );
        assert_eq!(status, 200);
        let binned = dir
            .path()
            .join("bin/models/loras/no_type_provided/g.safetensors");
        std::fs::set_permissions(&binned, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let (status, body) = send_json(
            &server,
            "POST",
            "/api/v1/admin/bin/restore",
            r#"{"bin_path": "no_type_provided/g.safetensors"}"#,
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(mode_of(&live), expected, "restored");
    }
}

/// With LORA_CREATE_DATA_DIR=false a directory that is no store (an unmounted disk's
/// mount point) is refused, naming `init`, and left empty; `init` makes it one.
#[test]
fn serve_without_create_refuses_an_uninitialised_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .env("LORA_BIND", "127.0.0.1:0")
        .env("LORA_CREATE_DATA_DIR", "false")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lora-server init"), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing created"
    );

    let out = command(dir.path()).arg("init").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = serve_dev_with(dir.path(), &[("LORA_CREATE_DATA_DIR", "false")]);
    assert_eq!(
        get(&server.addr, "/api/v1/admin/lora", &server.admin).0,
        200
    );
}

/// A clean stop is not a crash: after deletes through the API and a SIGTERM, the next
/// start finds nothing to repair, so its "repaired" warning means what it says.
#[test]
fn a_clean_restart_after_deletes_has_nothing_to_repair() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve_dev(dir.path());
    for _ in 0..3 {
        let (mut s, rest) = start_upload(&server, 1000, 0);
        s.write_all(&rest).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    for name in ["g", "g_v2", "g_v3"] {
        let body = format!(r#"{{"partial_path": "no_type_provided/{name}.safetensors"}}"#);
        assert_eq!(
            send_json(&server, "DELETE", "/api/v1/admin/lora", &body).0,
            200
        );
    }
    let pid = server.child.id().to_string();
    send_signal(&pid, "-TERM");
    assert!(wait_exit(&mut server.child, Duration::from_secs(20)).success());

    let log = dir.path().join("restart.log");
    let mut cmd = command(dir.path());
    cmd.env("LORA_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .arg("serve")
        .stderr(std::fs::File::create(&log).unwrap());
    let restarted = serve_from(cmd);
    assert_eq!(
        get(&restarted.addr, "/api/v1/admin/bin", &restarted.admin).0,
        200
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("nothing to repair"), "{text}");
    assert!(!text.contains("repaired"), "{text}");
}

/// A small SDXL LoRA (detected from its key names) at `dir/name`.
fn sdxl_lora(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        lora_inspect::fixtures::kohya_lora(
            &[("lora_unet_input_blocks_4_1_proj_in", 64, 64)],
            4,
            2.0,
            &[],
        ),
    )
    .unwrap();
    path
}

/// `inspect` reads the configuration as `serve` does and answers as the upload gate would
/// for a base model outside the allowlist: its words, exit status 1.
#[test]
fn inspect_applies_the_base_model_allowlist_of_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let good = sdxl_lora(dir.path(), "good.safetensors");
    let config = dir.path().join("lora.toml");
    std::fs::write(&config, "accept_base_models = \"sd1, flux\"\n").unwrap();

    let out = command(dir.path())
        .arg("--config")
        .arg(&config)
        .arg("inspect")
        .arg(&good)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Base model 'sdxl' is not accepted on this server (accepted: sd1, flux)"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("good.safetensors (not admitted)"), "{err}");

    // The environment wins over the file.
    let out = command(dir.path())
        .env("LORA_ACCEPT_BASE_MODELS", "sdxl")
        .arg("--config")
        .arg(&config)
        .arg("inspect")
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("base model 'sdxl' is accepted"));

    // With --json the report stays the API's; the refusal goes to stderr.
    let out = command(dir.path())
        .env("LORA_ACCEPT_BASE_MODELS", "sd1")
        .args(["inspect", "--json"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["base_model"], "sdxl");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Base model 'sdxl' is not accepted on this server (accepted: sd1)")
    );

    // No allowlist: no allowlist row, and the file passes.
    let out = command(dir.path())
        .arg("inspect")
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("allowlist"));
}

/// `--json` prints one JSON document: the report for one file, `{"reports": [...]}` in
/// argument order for several (the evaluation route's two shapes).
#[test]
fn inspect_json_prints_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let a = sdxl_lora(dir.path(), "a.safetensors");
    let b = sdxl_lora(dir.path(), "b.safetensors");
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a lora at all").unwrap();

    let out = command(dir.path())
        .args(["inspect", "--json"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reports = doc["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["partial_path"], a.display().to_string());
    assert_eq!(reports[1]["partial_path"], b.display().to_string());

    let out = command(dir.path())
        .args(["inspect", "--json"])
        .arg(&a)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["reports"][1]["verdict"], "fail");

    let out = command(dir.path())
        .args(["inspect", "--json"])
        .arg(&a)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["rank"], 4);
    assert!(doc.get("reports").is_none());
}

/// The server refuses a token whose `sub` is blank, so `token` does not mint one.
#[test]
fn token_refuses_a_blank_subject() {
    let dir = tempfile::tempdir().unwrap();
    for blank in ["", "   "] {
        let out = command(dir.path())
            .env("LORA_JWT_SECRET", "s3cret-s3cret-s3cret-s3cret-s3cret")
            .args(["token", "--sub", blank])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--sub") && err.contains("must not be empty or blank"),
            "{err}"
        );
    }
}

/// The help an operator reads names the environment variables and their defaults.
#[test]
fn help_lists_the_environment_and_its_defaults() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["serve", "--help"][..], &["--help"][..]] {
        let out = command(dir.path()).args(args).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        for expected in [
            "LORA_DATA_DIR",
            "LORA_BIND",
            "127.0.0.1:8000",
            "LORA_JWT_SECRET",
            "[default: ./data]",
        ] {
            assert!(
                text.contains(expected),
                "{args:?}: no {expected} in\n{text}"
            );
        }
    }
}

/// An empty secret is refused by name; it must not mean "development mode" or "the
/// config file's secret".
#[test]
fn an_empty_secret_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lora.toml");
    std::fs::write(
        &config,
        "jwt_secret = \"from-the-file-from-the-file-0123\"\n",
    )
    .unwrap();
    for key in ["LORA_JWT_SECRET", "LORA_JWT_PUBLIC_KEY_FILE"] {
        let mut child = command(dir.path())
            .env("LORA_BIND", "127.0.0.1:0")
            .env(key, "")
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{key}=\"\" was not refused: the server started");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!status.success());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(err.contains(&format!("{key} is set but empty")), "{err}");
    }
    // `token` reads the same configuration.
    let out = command(dir.path())
        .env("LORA_JWT_SECRET", " ")
        .args(["token", "--sub", "ops"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LORA_JWT_SECRET is set but empty"));
}

/// `LORA_LOG_FORMAT` is read with the rest of the configuration, by every command: an
/// unknown or empty value is refused by name.
#[test]
fn a_bad_log_format_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (value, expected) in [
        (
            "yaml",
            "invalid LORA_LOG_FORMAT: 'yaml' is not text or json",
        ),
        ("", "LORA_LOG_FORMAT is set but empty"),
    ] {
        let out = command(dir.path())
            .env("LORA_JWT_SECRET", "s3cret-s3cret-s3cret-s3cret-s3cret")
            .env("LORA_LOG_FORMAT", value)
            .args(["token", "--sub", "ops"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "LORA_LOG_FORMAT={value:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{err}");
    }
}

/// An embedding sent as a LoRA is refused by the served binary's default configuration
/// and admitted with LORA_ACCEPT_NON_LORA=true.
#[test]
fn lora_accept_non_lora_admits_other_kinds() {
    let (l, g) = (vec![0u8; 2 * 768 * 2], vec![0u8; 2 * 1280 * 2]);
    let embedding = lora_inspect::safetensors::build(
        &[
            ("clip_g", "F16", &[2, 1280], &g),
            ("clip_l", "F16", &[2, 768], &l),
        ],
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let server = serve_dev(dir.path());
    let (status, body) = upload_file(&server, "emb.safetensors", &embedding);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("Invalid file content: an SDXL textual-inversion embedding, not a LoRA"),
        "{body}"
    );
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let server = serve_dev_with(dir.path(), &[("LORA_ACCEPT_NON_LORA", "true")]);
    let (status, body) = upload_file(&server, "emb.safetensors", &embedding);
    assert_eq!(status, 200, "{body}");
    let (_, health) = get(&server.addr, "/api/v1/evaluation/health", "");
    assert!(health.contains(r#""accept_non_lora":true"#), "{health}");
}

/// `LORA_LOG_FORMAT=json`: one JSON object per line, the audit line of an upload with who,
/// what, the path, the sha256 and the request id; the text format has no colour codes in
/// a file.
#[test]
fn json_logs_carry_the_request_id_and_an_audit_line_per_change() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut cmd = command(dir.path());
    cmd.env("LORA_BIND", "127.0.0.1:0")
        .env("LORA_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .arg("serve")
        .stderr(std::fs::File::create(&log).unwrap());
    let server = serve_from(cmd);
    let lora = sdxl_lora(dir.path(), "audited.safetensors");
    let bytes = std::fs::read(&lora).unwrap();
    let (mut s, body, _) = open_upload_with(
        &server,
        "audited.safetensors",
        &bytes,
        "X-Request-Id: audit-1\r\n",
    );
    s.write_all(&body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let audit = lines
        .iter()
        .find(|l| l["target"] == "lora_http::audit")
        .expect("an audit line");
    assert_eq!(audit["fields"]["action"], "upload");
    assert_eq!(audit["fields"]["role"], "admin");
    assert_eq!(audit["fields"]["sub"], "dev-admin");
    assert_eq!(
        audit["fields"]["partial_path"],
        "no_type_provided/audited.safetensors"
    );
    assert_eq!(audit["fields"]["result"], "ok");
    assert_eq!(audit["fields"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(audit["span"]["request_id"], "audit-1");
    let access = lines
        .iter()
        .find(|l| l["target"] == "lora_http::access")
        .expect("an access line");
    assert_eq!(access["span"]["request_id"], "audit-1");
    assert_eq!(access["fields"]["route"], "/api/v1/admin/lora/upload");

    // Text, into a file: no escape codes.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut cmd = command(dir.path());
    cmd.env("LORA_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .arg("serve")
        .stderr(std::fs::File::create(&log).unwrap());
    let server = serve_from(cmd);
    let _ = get(&server.addr, "/api/v1/evaluation/health", "");
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("lora_http::access"), "{text}");
    assert!(!text.contains('\u{1b}'), "colour codes in a file: {text:?}");
}
