//! Resumable uploads (tus 1.0.0): what the status table in `statuses.rs` does not show.

use std::io::{BufReader, Write};

use base64::Engine;

use crate::helpers::*;

fn meta(filename: &str) -> String {
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "Tus-Resumable: 1.0.0\r\nUpload-Metadata: filename {},entity_type {}\r\n",
        b(filename),
        b("styles")
    )
}

fn create(app: &TestApp, filename: &str, length: usize, body: &[u8]) -> Resp {
    let mut headers = format!(
        "{}{}Upload-Length: {length}\r\n",
        bearer(&app.admin),
        meta(filename)
    );
    if !body.is_empty() {
        headers.push_str("Content-Type: application/offset+octet-stream\r\n");
    }
    app.request("POST", "/api/v1/admin/lora/uploads", &headers, body)
}

fn patch(app: &TestApp, url: &str, offset: usize, body: &[u8]) -> Resp {
    let headers = format!(
        "{}Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n",
        bearer(&app.admin)
    );
    app.request("PATCH", url, &headers, body)
}

#[test]
fn creation_with_upload_then_the_rest_publishes_like_the_multipart_route() {
    let app = spawn_app();
    let lora = st(3);
    let created = create(&app, "whole.safetensors", lora.len(), &lora[..100]);
    assert_eq!(created.status, 201);
    assert_eq!(created.header("upload-offset"), Some("100"));
    assert!(created.header("upload-expires").is_some());
    let url = created.header("location").unwrap().to_owned();
    let done = patch(&app, &url, 100, &lora[100..]);
    assert_eq!(done.status, 204);
    assert_eq!(
        done.header("lora-partial-path"),
        Some("styles/whole.safetensors")
    );
    assert_eq!(
        std::fs::read(app.live().join("styles/whole.safetensors")).unwrap(),
        lora
    );
    let answer = app.request("GET", &url, &bearer(&app.admin), b"").json();
    assert_eq!(answer["partial_path"], "styles/whole.safetensors");
    assert_eq!(answer["entity_type"], "styles");
    assert_eq!(answer["sha256"], done.header("lora-sha256").unwrap());
    // The name is taken now: a second tus upload of it is versioned, as a form's would be.
    let again = create(&app, "whole.safetensors", lora.len(), &lora);
    assert_eq!(again.status, 201);
    assert!(app.live().join("styles/whole_v2.safetensors").exists());
}

#[test]
fn refusals_at_the_end_are_the_multipart_routes_and_leave_nothing() {
    let app = spawn_app();
    // Not safetensors, though the name says so: refused by the content check.
    let junk = b"not a safetensors file at all".to_vec();
    let created = create(&app, "junk.safetensors", junk.len(), b"");
    let url = created.header("location").unwrap().to_owned();
    let refused = patch(&app, &url, 0, &junk);
    assert_eq!(refused.status, 400);
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("Invalid file content"),
        "{:?}",
        refused.json()
    );
    assert!(app.live_files().is_empty());
    assert!(app.staging_after_settling().is_empty());
    let gone = app.head(
        &url,
        &format!("{}Tus-Resumable: 1.0.0\r\n", bearer(&app.admin)),
    );
    assert_eq!(gone.status, 404);
    // Refused before any byte: a name the multipart route refuses.
    let bad = create(&app, "evil.exe", 10, b"");
    assert_eq!(bad.status, 400);
}

/// An upload past its expiry is gone for every request; its bytes go with it.
#[test]
fn expired_uploads_are_gone() {
    let clock = std::sync::Arc::new(lora_core::ManualClock::now_utc());
    let set = std::sync::Arc::clone(&clock);
    let app = spawn_app_with(move |s| {
        s.with_upload_expiry(std::time::Duration::from_secs(60))
            .with_clock(set)
    });
    let created = create(&app, "slow.safetensors", 1000, b"");
    let url = created.header("location").unwrap().to_owned();
    assert_eq!(patch(&app, &url, 0, b"x").status, 204);
    clock.advance(std::time::Duration::from_secs(61));
    let late = patch(&app, &url, 1, b"y");
    assert_eq!(late.status, 404);
    let head = app.head(
        &url,
        &format!("{}Tus-Resumable: 1.0.0\r\n", bearer(&app.admin)),
    );
    assert_eq!(head.status, 404);
    assert!(
        uploads_dir_files(&app).is_empty(),
        "{:?}",
        uploads_dir_files(&app)
    );
}

/// Opens a PATCH from offset 0 announcing `length` bytes and sends `first` of them: the
/// upload stays claimed while the rest is awaited.
fn start_patch(app: &TestApp, url: &str, length: usize, first: &[u8]) -> std::net::TcpStream {
    let mut s = app.connect();
    write!(
        s,
        "PATCH {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {length}\r\n\r\n",
        bearer(&app.admin)
    )
    .unwrap();
    s.write_all(first).unwrap();
    s
}

fn uploads_dir_files(app: &TestApp) -> Vec<String> {
    files_under(&app.data.join(".lora-server/uploads"))
}

/// An upload that expires while a PATCH writes it is answered 404 when the PATCH ends (as
/// it would have been a moment later), and nothing of it stays.
#[test]
fn an_upload_that_expires_during_its_patch_is_404_and_gone() {
    let clock = std::sync::Arc::new(lora_core::ManualClock::now_utc());
    let set = std::sync::Arc::clone(&clock);
    let app = spawn_app_with(move |s| s.with_clock(set));
    let lora = st(5);
    let url = create(&app, "late.safetensors", lora.len(), b"")
        .header("location")
        .unwrap()
        .to_owned();
    let mut holder = start_patch(&app, &url, lora.len(), &lora[..10]);
    app.wait_for_uploads_in_flight(1);
    clock.advance(std::time::Duration::from_secs(2 * 86_400));
    holder.write_all(&lora[10..]).unwrap();
    let r = read_response(&mut BufReader::new(holder));
    assert_eq!(r.status, 404, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["detail"], "Upload not found");
    assert!(app.live_files().is_empty());
    assert!(
        uploads_dir_files(&app).is_empty(),
        "{:?}",
        uploads_dir_files(&app)
    );
}

/// The completing PATCH published the file: if recording that fails, the client is still
/// told it is done (the file is live), and a retry is not a 500.
#[test]
fn a_published_upload_whose_record_cannot_be_written_is_answered_as_done() {
    let app = spawn_app();
    app.store.fail_upload_records(true);
    let lora = st(6);
    let url = create(&app, "kept.safetensors", lora.len(), b"")
        .header("location")
        .unwrap()
        .to_owned();
    let done = patch(&app, &url, 0, &lora);
    assert_eq!(
        done.status,
        204,
        "{:?}",
        String::from_utf8_lossy(&done.body)
    );
    assert_eq!(
        done.header("lora-partial-path"),
        Some("styles/kept.safetensors")
    );
    assert_eq!(
        std::fs::read(app.live().join("styles/kept.safetensors")).unwrap(),
        lora
    );
    // Without its record the upload is gone: a retry is told so, not failed.
    assert_eq!(patch(&app, &url, 0, &lora).status, 404);
    assert_eq!(
        app.request("GET", &url, &bearer(&app.admin), b"").status,
        404
    );
    assert_eq!(app.live_files(), ["styles/kept.safetensors"]);
}

/// tus uploads are in the operator's figures like multipart ones: the phase timings, and
/// a PATCH dropped for sending nothing counts as an idle drop.
#[test]
fn tus_uploads_are_timed_and_their_idle_drops_counted() {
    let app = spawn_app_with(|s| s.with_body_idle_timeout(std::time::Duration::from_millis(300)));
    let lora = st(8);
    let url = create(&app, "timed.safetensors", lora.len(), b"")
        .header("location")
        .unwrap()
        .to_owned();
    let stalled = start_patch(&app, &url, lora.len(), &lora[..10]);
    let dropped = read_response(&mut BufReader::new(stalled));
    assert_eq!(dropped.status, 408);
    assert_eq!(app.health()["uploads"]["idle_drops"], 1);
    // The ten bytes that arrived are kept: the upload resumes from them.
    assert_eq!(patch(&app, &url, 10, &lora[10..20]).status, 204);
    assert_eq!(patch(&app, &url, 20, &lora[20..]).status, 204);
    let metrics = String::from_utf8(app.request("GET", "/metrics", "", b"").body).unwrap();
    for phase in ["check", "publish"] {
        let line = format!("lora_upload_phase_duration_seconds_count{{phase=\"{phase}\"}} 1");
        assert!(metrics.contains(&line), "missing {line} in:\n{metrics}");
    }
    assert!(
        metrics.contains(r#"lora_upload_phase_duration_seconds_count{phase="receive"} 2"#),
        "each PATCH's body that arrived whole is timed:\n{metrics}"
    );
}

/// Termination waits for a PATCH that is writing: 423, and the upload is whole after.
#[test]
fn a_delete_while_a_patch_writes_is_423() {
    let app = spawn_app();
    let lora = st(9);
    let url = create(&app, "held.safetensors", lora.len(), b"")
        .header("location")
        .unwrap()
        .to_owned();
    let mut holder = start_patch(&app, &url, lora.len(), &lora[..10]);
    app.wait_for_uploads_in_flight(1);
    let refused = app.request(
        "DELETE",
        &url,
        &format!("{}Tus-Resumable: 1.0.0\r\n", bearer(&app.admin)),
        b"",
    );
    assert_eq!(refused.status, 423);
    holder.write_all(&lora[10..]).unwrap();
    assert_eq!(read_response(&mut BufReader::new(holder)).status, 204);
    assert_eq!(app.live_files(), ["styles/held.safetensors"]);
}
