//! `POST /api/v1/lora/ensure` on one machine: the files are here; the answer names where,
//! with their SHA-256, for a pipeline to open.

use sha2::Digest;

use crate::helpers::*;

fn ensure(app: &TestApp, token: &str, body: &str) -> Resp {
    app.json_as("POST", "/api/v1/lora/ensure", token, body)
}

#[test]
fn a_stored_file_is_handed_out_with_its_path_and_hash() {
    let app = spawn_app();
    let lora = st(2);
    let uploaded = app
        .upload(&[
            file("here.safetensors", &lora),
            Part::Text("entity_type", "styles"),
        ])
        .json();
    let r = ensure(
        &app,
        &app.user,
        r#"{"partial_path": "styles/here.safetensors"}"#,
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let file = &r.json()["files"][0];
    assert_eq!(file["partial_path"], "styles/here.safetensors");
    assert_eq!(file["sha256"], uploaded["sha256"]);
    assert_eq!(file["file_size"], lora.len());
    assert_eq!(file["fetched"], false);
    assert_eq!(file["fetch_seconds"], 0.0);
    let local = file["local_path"].as_str().unwrap();
    assert!(std::path::Path::new(local).is_absolute(), "{local}");
    assert_eq!(std::fs::read(local).unwrap(), lora);
    // The default lease: about 30 s from now.
    let expires = time::OffsetDateTime::parse(
        file["lease_expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ahead = (expires - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!((25..=31).contains(&ahead), "{ahead}");
}

#[test]
fn a_file_placed_by_hand_is_hashed_once_and_remembered() {
    let app = spawn_app();
    let bytes = st(3);
    std::fs::write(app.live().join("clothes/hand.safetensors"), &bytes).unwrap();
    let expected = hex(&sha2::Sha256::digest(&bytes));
    let body = r#"{"partial_paths": ["clothes/hand.safetensors"], "lease_secs": 0}"#;
    for _ in 0..2 {
        let r = ensure(&app, &app.admin, body);
        assert_eq!(r.status, 200, "{:?}", r.json());
        let file = &r.json()["files"][0];
        assert_eq!(file["sha256"], expected.as_str());
        assert!(file["lease_expires_at"].is_null());
    }
    // Remembered: the listing knows the hash now.
    let listed = app.list("").json();
    assert_eq!(listed["items"][0]["sha256"], expected.as_str());
}

#[test]
fn unknown_files_and_bad_leases_are_refused() {
    let app = spawn_app();
    let r = ensure(
        &app,
        &app.user,
        r#"{"partial_path": "styles/none.safetensors"}"#,
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["detail"],
        "LoRA file not found: styles/none.safetensors"
    );
    let r = ensure(
        &app,
        &app.user,
        r#"{"partial_path": "styles/none.safetensors", "lease_secs": 86401}"#,
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["detail"][0]["loc"],
        serde_json::json!(["body", "lease_secs"])
    );
    let r = ensure(
        &app,
        &app.user,
        r#"{"partial_path": "styles/none.safetensors", "lease_secs": -1}"#,
    );
    assert_eq!(r.status, 422);
    assert_eq!(ensure(&app, &app.user, "{}").status, 422);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Prefetch answers 202 at once, for files it will bring here and for names it will skip.
#[test]
fn prefetch_answers_at_once() {
    let app = spawn_app();
    app.upload(&[
        file("warm.safetensors", &st(4)),
        Part::Text("entity_type", "styles"),
    ]);
    let r = app.admin_json(
        "POST",
        "/api/v1/admin/lora/prefetch",
        r#"{"partial_paths": ["styles/warm.safetensors", "styles/none.safetensors"]}"#,
    );
    assert_eq!(r.status, 202, "{:?}", r.json());
    assert_eq!(
        r.json()["queued"],
        serde_json::json!(["styles/warm.safetensors", "styles/none.safetensors"])
    );
    let user = app.json_as(
        "POST",
        "/api/v1/admin/lora/prefetch",
        &app.user,
        r#"{"partial_path": "styles/warm.safetensors"}"#,
    );
    assert_eq!(user.status, 403);
}
