//! Every weight checked at upload, and the tensor-data hash: what the binary's tests in
//! `bin/tests/weights.rs` do not show (which way the check reads the weights, pickle
//! archives, the hash in evaluation reports).

use std::sync::{Arc, Mutex};

use base64::Engine;

use lora_http::InspectCheck;
use lora_inspect::fixtures::{state_dict_pickle, torch_zip};
use lora_inspect::{Candidate, Checked, ContentCheck, ContentRejection, Incoming};
use serde_json::json;

use crate::helpers::*;

/// The contract's check, noting for each file whether its weights were scanned while the
/// bytes arrived (`true`) or are read from the file (`false`).
#[derive(Default)]
struct Watching {
    inner: InspectCheck,
    streamed: Mutex<Vec<bool>>,
}

impl ContentCheck for Watching {
    fn incoming(&self) -> Option<Incoming> {
        self.inner.incoming()
    }

    fn check(&self, candidate: Candidate<'_>) -> Result<Checked, ContentRejection> {
        let streamed = candidate.scanned.as_ref().is_some_and(|s| s.complete);
        self.streamed.lock().unwrap().push(streamed);
        self.inner.check(candidate)
    }
}

#[test]
fn multipart_uploads_are_scanned_as_they_arrive_and_resumable_ones_from_the_file() {
    let check = Arc::new(Watching::default());
    let app = {
        let check = Arc::clone(&check);
        spawn_app_with(move |s| s.with_content_check(check))
    };
    let r = app.upload(&[
        file("a.safetensors", &st(1)),
        Part::Text("entity_type", "styles"),
    ]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let tensor = r.json()["tensor_sha256"].as_str().unwrap().to_owned();
    assert_eq!(tensor.len(), 64);
    let evaluated = app.json_as(
        "POST",
        "/api/v1/evaluation/",
        &app.user,
        &json!({"partial_path": "styles/a.safetensors"}).to_string(),
    );
    assert_eq!(
        evaluated.status,
        200,
        "{}",
        String::from_utf8_lossy(&evaluated.body)
    );
    assert_eq!(
        evaluated.json()["hashes"]["tensor_sha256"],
        tensor.as_str(),
        "the remembered tensor hash, given without being asked for"
    );
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let body = st(2);
    let headers = format!(
        "{}Tus-Resumable: 1.0.0\r\nUpload-Metadata: filename {},entity_type {}\r\nUpload-Length: {}\r\nContent-Type: application/offset+octet-stream\r\n",
        bearer(&app.admin),
        b64("b.safetensors"),
        b64("styles"),
        body.len()
    );
    let r = app.request("POST", "/api/v1/admin/lora/uploads", &headers, &body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Lora-Tensor-Sha256").map(str::len), Some(64));
    assert_eq!(*check.streamed.lock().unwrap(), [true, false]);
}

/// A torch zip whose second tensor holds a NaN (f16 0x7e00) at its last element.
fn poisoned_zip() -> Vec<u8> {
    let pickle = state_dict_pickle(&[
        ("lora_unet_x.lora_down.weight", &[4, 8]),
        ("lora_unet_x.lora_up.weight", &[8, 4]),
    ]);
    let clean = vec![0u8; 32 * 2];
    let mut bad = clean.clone();
    bad[62..].copy_from_slice(&0x7e00u16.to_le_bytes());
    torch_zip(
        &pickle,
        &[],
        &[("archive/data/0", &clean), ("archive/data/1", &bad)],
    )
}

#[test]
fn a_torch_archive_with_nan_weights_is_refused_after_it_arrives() {
    let app = spawn_app();
    let r = app.upload(&[
        file("bad.pt", &poisoned_zip()),
        Part::Text("entity_type", "styles"),
    ]);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["detail"],
        "Invalid file content: tensor 'lora_unet_x.lora_up.weight' holds 1 NaN and 0 Inf values"
    );
    assert!(files_under(&app.data.join("models/loras")).is_empty());
}
