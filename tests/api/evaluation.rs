use insta::assert_json_snapshot;
use lora_http::InspectCheck;
use lora_inspect::fixtures::os_system_pickle;
use lora_inspect::{Admission, BaseModel};
use serde_json::json;

use crate::helpers::*;

fn evaluate(app: &TestApp, token: &str, body: &str) -> Resp {
    app.json_as("POST", "/api/v1/evaluation/", token, body)
}

#[test]
fn a_full_report_for_a_stored_lora() {
    let app = spawn_app();
    app.upload(&[
        file("eval.safetensors", &st(3)),
        Part::Text("entity_type", "styles"),
    ]);
    let r = evaluate(
        &app,
        &app.user,
        r#"{"partial_path": "styles/eval.safetensors", "tensor_hash": true}"#,
    );
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "alpha": null,
        "alpha_source": null,
        "base_model": "sd1",
        "base_model_candidates": [],
        "base_model_evidence": [
          {
            "signal": "keys: UNet blocks",
            "source": "keys",
            "supports": [
              "sd1",
              "sd2",
              "sdxl",
              "kolors"
            ]
          },
          {
            "signal": "keys: attention in the outermost UNet level (SD1/SD2; SDXL has none there)",
            "source": "keys",
            "supports": [
              "sd1",
              "sd2"
            ]
          },
          {
            "signal": "shapes: cross-attention context width 768",
            "source": "shapes",
            "supports": [
              "sd1"
            ]
          }
        ],
        "base_model_source": "keys",
        "base_model_variant": null,
        "block_size": null,
        "dtypes": {
          "F16": 2
        },
        "file_size": 4688,
        "findings": [],
        "format": "safetensors",
        "full_rank_modules": 0,
        "hashes": {
          "autov2": "47a1d9ac47",
          "sha256": "47a1d9ac478d99813a91eec97296d1e9e55dd192ece606073570d11498618106",
          "tensor_sha256": "a2eaca6743aefb4a1e2e767b68bd942af99f8bf5efd4c9982af0a0e73981dee1"
        },
        "kind": "lora",
        "metadata": {
          "ss_network_dim": "2"
        },
        "module_count": 1,
        "modules": [
          {
            "alpha": 2.0,
            "module": "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k",
            "network_type": "lora",
            "rank": 2,
            "scale": 1.0,
            "strength": 0.574255
          }
        ],
        "network_type": "lora",
        "network_types": {
          "lora": 1
        },
        "network_variants": [],
        "parameter_count": 2176,
        "partial_path": "styles/eval.safetensors",
        "pickle": null,
        "pickled_tensors": null,
        "rank": 2,
        "sha256": "47a1d9ac478d99813a91eec97296d1e9e55dd192ece606073570d11498618106",
        "tensor_count": 2,
        "text_encoder_modules": 0,
        "verdict": "pass",
        "weights": {
          "bad_tensors": [],
          "inf_count": 0,
          "max_abs": 0.04998779296875,
          "nan_count": 0,
          "scanned_tensors": 2,
          "skipped_tensors": 0
        }
      },
      "status": 200
    }
    "#);
}

#[test]
fn batches_keep_request_order() {
    let app = spawn_app();
    app.upload(&[
        file("a.safetensors", &st(1)),
        Part::Text("entity_type", "styles"),
    ]);
    app.upload(&[file("b.pt", &pt()), Part::Text("entity_type", "styles")]);
    let r = evaluate(
        &app,
        &app.admin,
        r#"{"partial_paths": ["styles/b.pt", "styles/a.safetensors"]}"#,
    );
    assert_eq!(r.status, 200);
    let reports = r.json()["reports"].as_array().unwrap().clone();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["partial_path"], "styles/b.pt");
    assert_eq!(reports[0]["format"], "pickle");
    assert!(
        reports[0]["pickle"]["globals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["allowed"] == true)
    );
    assert_eq!(reports[1]["format"], "safetensors");
}

#[test]
fn evaluation_reuses_the_upload_hash_and_teaches_it_for_placed_files() {
    let app = spawn_app();
    let up = app.upload(&[
        file("a.safetensors", &st(1)),
        Part::Text("entity_type", "styles"),
    ]);
    let r = evaluate(
        &app,
        &app.user,
        r#"{"partial_path": "styles/a.safetensors"}"#,
    );
    assert_eq!(r.json()["sha256"], up.json()["sha256"]);
    // The upload computed the tensor hash too: given without being asked for.
    assert_eq!(
        r.json()["hashes"]["tensor_sha256"],
        up.json()["tensor_sha256"]
    );

    // Placed by hand: unknown to the listing until an evaluation hashes it.
    std::fs::write(app.live().join("styles/placed.safetensors"), st(2)).unwrap();
    let listed = |app: &TestApp| {
        app.list("?entity_type=styles").json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["filename"] == "placed.safetensors")
            .unwrap()["sha256"]
            .clone()
    };
    assert_eq!(listed(&app), serde_json::Value::Null);
    let r = evaluate(
        &app,
        &app.user,
        r#"{"partial_path": "styles/placed.safetensors", "tensor_hash": true}"#,
    );
    let sha = r.json()["sha256"].clone();
    assert_eq!(sha.as_str().map(str::len), Some(64));
    assert_eq!(
        r.json()["hashes"]["tensor_sha256"].as_str().map(str::len),
        Some(64)
    );
    assert_eq!(listed(&app), sha);
}

#[test]
fn evaluating_while_the_file_is_deleted_and_uploaded_again_never_fails_the_server() {
    let app = std::sync::Arc::new(spawn_app());
    let contents = [st(1), st(2)];
    // Each content's sha256, as the service computes it.
    let known: Vec<serde_json::Value> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| {
            app.upload(&[file(&format!("probe{i}.safetensors"), c)])
                .json()["sha256"]
                .clone()
        })
        .collect();
    app.upload(&[
        file("r.safetensors", &contents[0]),
        Part::Text("entity_type", "styles"),
    ]);
    let churn = {
        let app = std::sync::Arc::clone(&app);
        let contents = contents.clone();
        std::thread::spawn(move || {
            for i in 1..=40 {
                app.delete(r#"{"partial_path": "styles/r.safetensors"}"#);
                app.upload(&[
                    file("r.safetensors", &contents[i % 2]),
                    Part::Text("entity_type", "styles"),
                ]);
            }
        })
    };
    for _ in 0..40 {
        let r = evaluate(
            &app,
            &app.user,
            r#"{"partial_path": "styles/r.safetensors"}"#,
        );
        match r.status {
            // Gone at that moment: a plain 404, never a 500.
            404 => {}
            200 => assert!(
                known.contains(&r.json()["sha256"]),
                "{}",
                r.json()["sha256"]
            ),
            other => panic!("status {other}: {:?}", r.json()),
        }
    }
    churn.join().unwrap();
}

#[test]
fn hand_placed_broken_files_get_a_failing_report() {
    let app = spawn_app();
    let mut nan = st(1);
    // Overwrite the first f16 of the data section with NaN.
    let n = u64::from_le_bytes(nan[..8].try_into().unwrap()) as usize;
    nan[8 + n..8 + n + 2].copy_from_slice(&[0x00, 0x7e]);
    std::fs::write(app.live().join("styles/nan.safetensors"), &nan).unwrap();
    let evil = os_system_pickle("id");
    std::fs::write(app.live().join("styles/evil.pt"), &evil).unwrap();

    let r = evaluate(
        &app,
        &app.user,
        r#"{"partial_path": "styles/nan.safetensors"}"#,
    );
    assert_eq!(r.json()["verdict"], "fail");
    assert_eq!(r.json()["weights"]["nan_count"], 1);
    assert_eq!(r.json()["findings"][0]["code"], "nan_weights");
    assert_eq!(r.json()["findings"][0]["severity"], "error");

    let r = evaluate(&app, &app.user, r#"{"partial_path": "styles/evil.pt"}"#);
    assert_eq!(r.json()["verdict"], "fail");
    let findings = r.json()["findings"].clone();
    assert!(
        findings
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "unsafe_pickle_global"),
        "{findings}"
    );
}

#[test]
fn evaluation_errors() {
    let app = spawn_app();
    let r = evaluate(
        &app,
        &app.user,
        r#"{"partial_path": "styles/missing.safetensors"}"#,
    );
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "LoRA file not found: styles/missing.safetensors"
      },
      "status": 404
    }
    "#);
    assert_eq!(
        evaluate(&app, &app.user, r#"{"partial_path": "../../etc/passwd"}"#).status,
        400
    );
    assert_eq!(
        evaluate(
            &app,
            &app.user,
            r#"{"partial_paths": ["styles/x.pt", "/abs"]}"#
        )
        .status,
        400
    );
    for (body, kind) in [
        ("{}", "missing"),
        ("nope", "json_invalid"),
        (r#"{"partial_path": 1}"#, "string_type"),
        (r#"{"partial_paths": "styles/x.pt"}"#, "list_type"),
        (r#"{"partial_paths": []}"#, "too_short"),
        (r#"{"partial_paths": [1]}"#, "string_type"),
        (
            r#"{"partial_path": "styles/x.pt", "tensor_hash": "yes"}"#,
            "bool_type",
        ),
    ] {
        let r = evaluate(&app, &app.user, body);
        assert_eq!(r.status, 422, "{body}");
        assert_eq!(r.json()["detail"][0]["type"], kind, "{body}");
    }
    let many = json!({ "partial_paths": vec!["styles/x.pt"; 101] }).to_string();
    assert_eq!(evaluate(&app, &app.user, &many).status, 422);
    let r = app.request("POST", "/api/v1/evaluation/", "", b"{}");
    assert_eq!(r.status, 401);
    // Without the trailing slash too.
    let headers = format!("{}Content-Type: application/json\r\n", bearer(&app.user));
    assert_eq!(
        app.request("POST", "/api/v1/evaluation", &headers, b"{}")
            .status,
        422
    );
}

#[test]
fn uploads_are_refused_when_content_and_extension_disagree_or_are_unsafe() {
    let app = spawn_app();
    let evil = os_system_pickle("id");
    let r = app.upload(&[file("evil.pt", &evil)]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "Invalid file content: unsafe pickle: it imports os.system"
      },
      "status": 400
    }
    "#);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("st-named.pt", st(1)),
        ("pickle-named.safetensors", pt()),
        ("garbage.safetensors", bytes(1000)),
        ("garbage.ckpt", bytes(1000)),
    ];
    for (name, content) in cases {
        let r = app.upload(&[file(name, &content)]);
        assert_eq!(r.status, 400, "{name}");
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap()
                .starts_with("Invalid file content"),
            "{name}"
        );
    }
    assert!(app.live_files().is_empty());
    assert!(app.staging_after_settling().is_empty());
}

#[test]
fn the_base_model_gate_refuses_other_families() {
    let app = spawn_app_with(|s| {
        s.with_content_check(std::sync::Arc::new(InspectCheck::admitting(Admission {
            base_models: Some(vec![BaseModel::Sdxl, BaseModel::Flux]),
            non_lora: false,
            ..Admission::default()
        })))
    });
    let r = app.upload(&[file("sd1.safetensors", &st(1))]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "Base model 'sd1' is not accepted on this server (accepted: sdxl, flux)"
      },
      "status": 400
    }
    "#);
    let health = app.request("GET", "/api/v1/evaluation/health", "", b"");
    assert_eq!(
        health.json()["evaluator"]["accept_base_models"],
        json!(["sdxl", "flux"])
    );
    assert!(app.live_files().is_empty());
}

/// A full SDXL single-file checkpoint, cut down to the keys that tell it (ComfyUI's
/// `model_detection.py`: `input_blocks.0.0.weight`, context width 2048, `label_emb`).
fn sdxl_checkpoint() -> Vec<u8> {
    let tensors: Vec<(&str, Vec<u64>)> = vec![
        (
            "model.diffusion_model.input_blocks.0.0.weight",
            vec![320, 4, 3, 3],
        ),
        ("model.diffusion_model.input_blocks.0.0.bias", vec![320]),
        (
            "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight",
            vec![640, 2048],
        ),
        ("model.diffusion_model.time_embed.0.weight", vec![1280, 320]),
        (
            "model.diffusion_model.middle_block.0.in_layers.0.weight",
            vec![1280],
        ),
        ("model.diffusion_model.out.2.weight", vec![4, 320, 3, 3]),
        (
            "first_stage_model.decoder.conv_in.weight",
            vec![512, 4, 3, 3],
        ),
    ];
    let data: Vec<(String, Vec<u64>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, s)| {
            let bytes = vec![0u8; s.iter().product::<u64>() as usize * 2];
            (n.to_owned(), s, bytes)
        })
        .collect();
    let refs: Vec<(&str, &str, &[u64], &[u8])> = data
        .iter()
        .map(|(n, s, b)| (n.as_str(), "F16", s.as_slice(), b.as_slice()))
        .collect();
    lora_inspect::safetensors::build(&refs, &[])
}

/// kohya's SDXL textual-inversion file (`sdxl_train_textual_inversion.py`).
fn sdxl_embedding() -> Vec<u8> {
    let (l, g) = (vec![0u8; 2 * 768 * 2], vec![0u8; 2 * 1280 * 2]);
    lora_inspect::safetensors::build(
        &[
            ("clip_g", "F16", &[2, 1280], &g),
            ("clip_l", "F16", &[2, 768], &l),
        ],
        &[],
    )
}

#[test]
fn other_kinds_than_loras_are_refused_unless_the_server_accepts_them() {
    let app = spawn_app_with(|s| s.with_max_upload_bytes(32 << 20));
    let r = app.upload(&[file("ckpt.safetensors", &sdxl_checkpoint())]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "Invalid file content: a full SDXL checkpoint, not a LoRA"
      },
      "status": 400
    }
    "#);
    // The base-model gate never admits one either: an SDXL embedding is no SDXL LoRA.
    let gated = spawn_app_with(|s| {
        s.with_content_check(std::sync::Arc::new(InspectCheck::admitting(Admission {
            base_models: Some(vec![BaseModel::Sdxl]),
            non_lora: false,
            ..Admission::default()
        })))
    });
    let r = gated.upload(&[file("emb.safetensors", &sdxl_embedding())]);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["detail"],
        "Invalid file content: an SDXL textual-inversion embedding, not a LoRA"
    );
    assert!(app.live_files().is_empty() && gated.live_files().is_empty());
    assert!(app.staging_after_settling().is_empty());

    // LORA_ACCEPT_NON_LORA=true: stored, and its evaluation still says what it is.
    let open = spawn_app_with(|s| {
        s.with_max_upload_bytes(32 << 20)
            .with_content_check(std::sync::Arc::new(InspectCheck::admitting(Admission {
                base_models: None,
                non_lora: true,
                ..Admission::default()
            })))
    });
    let r = open.upload(&[
        file("ckpt.safetensors", &sdxl_checkpoint()),
        Part::Text("entity_type", "styles"),
    ]);
    assert_eq!(r.status, 200, "{:?}", r.json());
    let report = evaluate(
        &open,
        &open.user,
        r#"{"partial_path": "styles/ckpt.safetensors"}"#,
    )
    .json();
    assert_eq!(
        (&report["kind"], &report["base_model"], &report["verdict"]),
        (&json!("checkpoint"), &json!("sdxl"), &json!("fail"))
    );
    assert_eq!(report["findings"][0]["code"], "not_a_lora");
}
