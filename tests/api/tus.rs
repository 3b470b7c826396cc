//! Resumable uploads (tus 1.0.0): what the status table in `statuses.rs` does not show.

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

#[test]
fn expired_uploads_are_gone() {
    let app = spawn_app_with(|s| s.with_upload_expiry(std::time::Duration::from_secs(1)));
    let created = create(&app, "slow.safetensors", 1000, b"");
    let url = created.header("location").unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let late = patch(&app, &url, 0, b"x");
    assert_eq!(late.status, 404);
    // The sweep removes the bytes too.
    let uploads = app.data.join(".lora-server/uploads");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_dir(&uploads).unwrap().count() > 0 {
        assert!(std::time::Instant::now() < deadline, "expired files stay");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
