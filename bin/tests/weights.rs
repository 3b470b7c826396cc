//! Every weight checked at upload, through the served binary: a LoRA whose weights hold NaN
//! or Inf is refused on the multipart route and on the resumable (tus) route alike, naming
//! the first bad tensor and leaving nothing behind, unless `LORA_ACCEPT_UNHEALTHY_WEIGHTS`
//! admits it; and the tensor-data hash comes back with every stored upload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use base64::Engine;
use sha2::Digest;

#[path = "common/server.rs"]
mod server;

use server::{Running, serve_dev, serve_dev_with, upload_file};

/// A rank-4 LoRA of two modules whose second `up` factor holds `bad` at one element;
/// `wide` makes each factor 4 MiB (the upload's hashing, and so its scan, then runs on a
/// thread of its own).
fn lora(bad: f32, wide: bool, metadata: &[(&str, &str)]) -> Vec<u8> {
    let width: u64 = if wide { 262_144 } else { 64 };
    let values = |poison: Option<usize>| -> Vec<u8> {
        (0..4 * width as usize)
            .flat_map(|i| {
                let v = if Some(i) == poison { bad } else { 0.01 };
                v.to_le_bytes()
            })
            .collect()
    };
    let (clean, poisoned) = (values(None), values(Some(4 * width as usize - 3)));
    lora_inspect::safetensors::build(
        &[
            ("lora_unet_a.lora_down.weight", "F32", &[4, width], &clean),
            ("lora_unet_a.lora_up.weight", "F32", &[width, 4], &clean),
            ("lora_unet_b.lora_down.weight", "F32", &[4, width], &clean),
            ("lora_unet_b.lora_up.weight", "F32", &[width, 4], &poisoned),
        ],
        metadata,
    )
}

/// Sends `method path` as the server's admin.
fn send(
    server: &Running,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String, String) {
    server::send(&server.addr, &server.admin, method, path, headers, body)
}

/// Uploads `bytes` as `name` through tus in two PATCHes; the last PATCH's status, headers
/// and body.
fn upload_tus(server: &Running, name: &str, bytes: &[u8]) -> (u16, String, String) {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (status, head, body) = send(
        server,
        "POST",
        "/api/v1/admin/lora/uploads",
        &format!(
            "Tus-Resumable: 1.0.0\r\nUpload-Length: {}\r\nUpload-Metadata: filename {},entity_type {}\r\n",
            bytes.len(),
            b64(name),
            b64("styles")
        ),
        b"",
    );
    assert_eq!(status, 201, "{head}{body}");
    let location = header(&head, "location").unwrap();
    let path = location
        .split_once("://")
        .map_or(location.as_str(), |(_, rest)| {
            &rest[rest.find('/').unwrap()..]
        })
        .to_owned();
    let half = bytes.len() / 2;
    for (offset, piece) in [(0, &bytes[..half]), (half, &bytes[half..])] {
        let answer = send(
            server,
            "PATCH",
            &path,
            &format!(
                "Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            ),
            piece,
        );
        if offset == half {
            return answer;
        }
        assert_eq!(answer.0, 204, "{}{}", answer.1, answer.2);
    }
    unreachable!()
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// Every file under `dir` (the LoRA folder and the server's own staging and upload
/// folders), relative.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

#[test]
fn weights_with_nan_or_inf_are_refused_on_both_routes_unless_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_dev(dir.path());
    let refusal = |bad: &str| {
        format!("Invalid file content: tensor 'lora_unet_b.lora_up.weight' holds {bad}")
    };
    for (bad, wide, says) in [
        (f32::NAN, false, refusal("1 NaN and 0 Inf values")),
        (f32::INFINITY, true, refusal("0 NaN and 1 Inf values")),
        (f32::NEG_INFINITY, false, refusal("0 NaN and 1 Inf values")),
    ] {
        let bytes = lora(bad, wide, &[]);
        let (status, body) = upload_file(&server, "poisoned.safetensors", &bytes);
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(&says), "{body}");
        let (status, head, body) = upload_tus(&server, "poisoned.safetensors", &bytes);
        assert_eq!(status, 400, "{head}{body}");
        assert!(body.contains(&says), "{body}");
    }
    let left: Vec<String> = files(dir.path())
        .into_iter()
        .filter(|f| f.contains("poisoned") || f.contains("staging/") || f.contains("uploads/"))
        .collect();
    assert!(left.is_empty(), "nothing half-written is left: {left:?}");
    // The same server keeps serving: a sound file goes in.
    let (status, body) = upload_file(&server, "sound.safetensors", &lora(0.5, true, &[]));
    assert_eq!(status, 200, "{body}");
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let server = serve_dev_with(dir.path(), &[("LORA_ACCEPT_UNHEALTHY_WEIGHTS", "true")]);
    let bytes = lora(f32::NAN, true, &[]);
    let (status, body) = upload_file(&server, "accepted.safetensors", &bytes);
    assert_eq!(status, 200, "{body}");
    let (status, head, _) = upload_tus(&server, "accepted.safetensors", &bytes);
    assert_eq!(status, 204, "{head}");
    let (status, health) = server::get(&server.addr, "/api/v1/evaluation/health", "");
    assert_eq!(status, 200);
    assert!(
        health.contains(r#""accept_unhealthy_weights":true"#),
        "{health}"
    );
}

#[test]
fn the_tensor_hash_survives_a_metadata_edit_on_both_routes() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_dev(dir.path());
    let plain = lora(0.5, true, &[("ss_output_name", "mine")]);
    let edited = lora(0.5, true, &[("ss_output_name", "renamed by an editor")]);
    let header_end = |bytes: &[u8]| 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let expected = format!("{:x}", sha2::Sha256::digest(&plain[header_end(&plain)..]));
    assert_ne!(
        header_end(&plain),
        header_end(&edited),
        "the headers differ"
    );

    let (status, first) = upload_file(&server, "plain.safetensors", &plain);
    assert_eq!(status, 200, "{first}");
    let (status, second) = upload_file(&server, "edited.safetensors", &edited);
    assert_eq!(status, 200, "{second}");
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let second: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_ne!(first["sha256"], second["sha256"]);
    assert_eq!(first["tensor_sha256"], expected.as_str());
    assert_eq!(second["tensor_sha256"], expected.as_str());

    let (status, head, _) = upload_tus(&server, "edited.safetensors", &edited);
    assert_eq!(status, 204, "{head}");
    assert_eq!(
        header(&head, "lora-tensor-sha256").as_deref(),
        Some(expected.as_str())
    );
}
