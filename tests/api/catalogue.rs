//! The catalogue through the API: facts on listing items, filters and sorts, the user's
//! metadata, files placed by hand, and a damaged index.

use std::time::{Duration, Instant};

use lora_inspect::fixtures::kohya_lora;
use serde_json::{Value, json};

use crate::helpers::*;

/// A Flux LoRA (musubi-style names, width 3072) with kohya's tag frequencies.
fn flux() -> Vec<u8> {
    kohya_lora(
        &[
            ("lora_unet_double_blocks_0_img_attn_qkv", 3072, 9216),
            ("lora_unet_double_blocks_18_img_mod_lin", 3072, 18432),
            ("lora_unet_single_blocks_37_linear1", 3072, 21504),
        ],
        4,
        4.0,
        &[
            ("ss_base_model_version", "flux1"),
            (
                "ss_tag_frequency",
                r#"{"10_inkwash": {"inkwash style": 9, "mountain": 3}}"#,
            ),
        ],
    )
}

fn items(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["items"].as_array().unwrap().clone()
}

fn paths(r: &Resp) -> Vec<String> {
    items(r)
        .iter()
        .map(|i| i["partial_path"].as_str().unwrap().to_owned())
        .collect()
}

fn upload(app: &TestApp, name: &str, bytes: &[u8]) {
    let r = app.upload(&[file(name, bytes), Part::Text("entity_type", "styles")]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn listing_items_carry_the_header_facts_and_filters_run_over_the_catalogue() {
    let app = spawn_app_with_limit(8 << 20);
    upload(&app, "ink_wash.safetensors", &flux());
    upload(&app, "anna.safetensors", &st(1));
    let all = items(&app.list(""));
    let ink = all
        .iter()
        .find(|i| i["filename"] == "ink_wash.safetensors")
        .unwrap();
    assert_eq!(ink["base_model"], "flux");
    assert_eq!(
        (ink["kind"].as_str(), ink["network_type"].as_str()),
        (Some("lora"), Some("lora"))
    );
    assert_eq!(ink["rank"], 4);
    assert_eq!(ink["trigger_words"], json!(["inkwash style", "mountain"]));
    assert_eq!(ink["trigger_words_source"], "tag_frequency");
    assert_eq!(ink["tensor_sha256"].as_str().map(str::len), Some(64));
    // Filters, each alone and combined; total counts the filtered set.
    assert_eq!(
        paths(&app.list("?base_model=flux")),
        ["styles/ink_wash.safetensors"]
    );
    assert_eq!(
        paths(&app.list("?base_model=sd1&kind=lora")),
        ["styles/anna.safetensors"]
    );
    assert_eq!(
        paths(&app.list("?q=INKWASH")),
        ["styles/ink_wash.safetensors"],
        "trigger words"
    );
    assert_eq!(
        paths(&app.list("?q=ann")),
        ["styles/anna.safetensors"],
        "the name"
    );
    let sha = ink["sha256"].as_str().unwrap();
    assert_eq!(paths(&app.list(&format!("?sha256={sha}"))).len(), 1);
    let by_size = paths(&app.list("?sort=file_size&order=desc"));
    assert_eq!(
        by_size[0], "styles/ink_wash.safetensors",
        "the Flux file is larger"
    );
    let page = app.list("?sort=name&limit=1");
    assert_eq!(
        (page.json()["total"].as_u64(), paths(&page).len()),
        (Some(2), 1)
    );
    assert!(paths(&app.list("?base_model=flux&q=anna")).is_empty());
    // Unknown values are the usual 422, naming each parameter.
    let r = app.list("?base_model=flux3&sort=size&order=up&sha256=xyz&kind=model");
    assert_eq!(r.status, 422);
    let locs: Vec<String> = r.json()["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["loc"][1].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(locs, ["base_model", "kind", "sort", "order", "sha256"]);
}

#[test]
fn user_metadata_is_kept_beside_the_file_and_follows_it_into_the_bin_and_back() {
    let app = spawn_app();
    upload(&app, "ink.safetensors", &st(2));
    let patch = |body: Value| app.admin_json("PATCH", "/api/v1/admin/lora/meta", &body.to_string());
    let r = patch(json!({
        "partial_path": "styles/ink.safetensors",
        "description": "Sumi-e brush strokes",
        "tags": ["Ink", "ink", "monochrome"],
        "preferred_weight": 0.8
    }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["meta"]["tags"], json!(["Ink", "monochrome"]));
    let listed = items(&app.list("?tag=MONOCHROME"));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["meta"]["description"], "Sumi-e brush strokes");
    assert_eq!(paths(&app.list("?q=brush")), ["styles/ink.safetensors"]);
    // A field left out keeps its value; null clears it.
    let r = patch(json!({"partial_path": "styles/ink.safetensors", "description": null}));
    assert_eq!(
        r.json()["meta"],
        json!({"tags": ["Ink", "monochrome"], "preferred_weight": 0.8})
    );
    // Beyond the limits: 422 naming the field, nothing changed; no such file: 404.
    let tags: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    let r = patch(json!({"partial_path": "styles/ink.safetensors", "tags": tags}));
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body", "tags"]));
    assert_eq!(
        patch(json!({"partial_path": "styles/gone.safetensors", "tags": []})).status,
        404
    );
    // Into the bin (out of the listing and its filters), back with its metadata.
    assert_eq!(
        app.delete(r#"{"partial_path": "styles/ink.safetensors"}"#)
            .status,
        200
    );
    assert!(paths(&app.list("?tag=ink")).is_empty());
    let r = app.admin_json(
        "POST",
        "/api/v1/admin/bin/restore",
        r#"{"bin_path": "styles/ink.safetensors"}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(paths(&app.list("?tag=ink")), ["styles/ink.safetensors"]);
    let meta_file = app
        .data
        .join(".lora-server/meta/live/styles/ink.safetensors.json");
    assert!(
        meta_file.exists(),
        "kept beside the data, not in the weights"
    );
}

/// Waits (bounded) until `query` lists `want` files.
fn listed_within(app: &TestApp, query: &str, want: usize, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let found = items(&app.list(query));
        if found.len() == want || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn files_placed_by_hand_are_catalogued_in_the_background() {
    let app = spawn_app();
    std::fs::write(app.live().join("styles/placed.safetensors"), flux()).unwrap();
    std::fs::write(
        app.live().join("styles/garbage.safetensors"),
        b"not a header",
    )
    .unwrap();
    let found = listed_within(&app, "?base_model=flux", 1, Duration::from_secs(15));
    assert_eq!(found.len(), 1, "the pass read the placed file's header");
    assert_eq!(found[0]["filename"], "placed.safetensors");
    // A header nobody can read is listed, with no facts rather than wrong ones.
    let all = listed_within(&app, "?sort=name", 2, Duration::from_secs(15));
    let garbage = all
        .iter()
        .find(|i| i["filename"] == "garbage.safetensors")
        .unwrap();
    assert!(
        garbage.get("base_model").is_none() && garbage.get("kind").is_none(),
        "{garbage}"
    );
}

#[test]
fn a_damaged_index_is_rebuilt_at_start_and_the_metadata_survives() {
    // What a server left: a file, its metadata file, and an index that is now garbage.
    let dir = tempfile::tempdir().unwrap();
    let data = camino::Utf8Path::from_path(dir.path()).unwrap().to_owned();
    let state = data.join(".lora-server");
    std::fs::create_dir_all(data.join("models/loras/styles")).unwrap();
    std::fs::create_dir_all(state.join("meta/live/styles")).unwrap();
    std::fs::write(data.join("models/loras/styles/kept.safetensors"), st(3)).unwrap();
    std::fs::write(
        state.join("meta/live/styles/kept.safetensors.json"),
        r#"{"tags": ["keep"]}"#,
    )
    .unwrap();
    std::fs::write(state.join("catalog.sqlite"), b"garbage, not SQLite").unwrap();
    let app = spawn_app_at(data.clone());
    let found = listed_within(&app, "?tag=keep", 1, Duration::from_secs(15));
    assert_eq!(
        found.len(),
        1,
        "rebuilt from the files and the metadata files"
    );
    assert_eq!(found[0]["meta"]["tags"], json!(["keep"]));
    assert!(state.join("catalog.sqlite.damaged").exists());
}

#[test]
fn the_same_bytes_are_stored_reused_or_refused_as_the_upload_asks() {
    let app = spawn_app();
    let bytes = st(7);
    let up = |name: &str, choice: Option<&str>| {
        let mut parts = vec![file(name, &bytes), Part::Text("entity_type", "styles")];
        if let Some(choice) = choice {
            parts.push(Part::Text("if_duplicate", choice));
        }
        app.upload(&parts)
    };
    let first = up("a.safetensors", None);
    assert_eq!(first.status, 200);
    assert!(
        first.json().get("duplicate_of").is_none(),
        "nothing like it yet"
    );
    // Stored again, as before, but the answer says what it duplicates.
    let again = up("b.safetensors", Some("store"));
    assert_eq!(again.json()["partial_path"], "styles/b.safetensors");
    assert_eq!(
        again.json()["duplicate_of"],
        json!(["styles/a.safetensors"])
    );
    let live = app.live_files().len();
    // Reuse: the live file is the answer, nothing is stored.
    let reused = up("c.safetensors", Some("reuse"));
    assert_eq!(
        reused.status,
        200,
        "{}",
        String::from_utf8_lossy(&reused.body)
    );
    assert_eq!(reused.json()["partial_path"], "styles/a.safetensors");
    assert_eq!(reused.json()["sha256"], first.json()["sha256"]);
    // Refuse: 409 naming it, nothing stored.
    let refused = up("d.safetensors", Some("refuse"));
    assert_eq!(refused.status, 409);
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("styles/a.safetensors")
    );
    assert_eq!(app.live_files().len(), live, "neither stored anything");
    assert!(
        app.staging_after_settling().is_empty(),
        "nor left anything in staging"
    );
    let bad = up("e.safetensors", Some("replace"));
    assert_eq!(bad.status, 422);
    assert_eq!(
        bad.json()["detail"][0]["loc"],
        json!(["body", "if_duplicate"])
    );
    // tus takes the same choice in its metadata.
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let headers = format!(
        "{}Tus-Resumable: 1.0.0\r\nUpload-Metadata: filename {},entity_type {},if_duplicate {}\r\nUpload-Length: {}\r\nContent-Type: application/offset+octet-stream\r\n",
        bearer(&app.admin),
        b64("f.safetensors"),
        b64("styles"),
        b64("reuse"),
        bytes.len()
    );
    let r = app.request("POST", "/api/v1/admin/lora/uploads", &headers, &bytes);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Lora-Partial-Path"), Some("styles/a.safetensors"));
    assert_eq!(app.live_files().len(), live);
}
