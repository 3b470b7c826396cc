use insta::assert_json_snapshot;

use crate::helpers::*;

#[test]
fn health_needs_no_token_and_reveals_no_paths() {
    let app = spawn_app();
    let r = app.request("GET", "/api/v1/evaluation/health", "", b"");
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(!text.contains(app.data.as_str()), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert!(r.json()["storage"]["free_bytes"].as_u64().unwrap() > 0);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "evaluator": {
          "accept_base_models": null,
          "accept_non_lora": false,
          "accept_unhealthy_weights": false,
          "checks": [
            "safetensors_header",
            "pickle_globals_allowlist",
            "format_matches_extension",
            "base_model",
            "file_kind",
            "network_type",
            "weights_nan_inf",
            "module_strength"
          ],
          "content_validation": true,
          "formats": [
            "safetensors",
            "pytorch_zip",
            "pickle"
          ]
        },
        "installs": {
          "bytes_fetched": 0,
          "cancelled": 0,
          "checking": 0,
          "concurrency": 2,
          "done": 0,
          "downloading": 0,
          "failed": 0,
          "queued": 0
        },
        "status": "ok",
        "storage": {
          "backend": "local",
          "durability_errors": 0,
          "free_bytes": "[free_bytes]",
          "writable": true
        },
        "uploads": {
          "idle_drops": 0,
          "in_flight": 0,
          "max_concurrent": 64,
          "refused": 0
        },
        "version": "0.1.0"
      },
      "status": 200
    }
    "#);
}

#[test]
fn health_is_degraded_when_the_disk_cannot_take_one_more_upload() {
    // A limit larger than any disk: "nearly full" by definition, yet still 200.
    let app = spawn_app_with_limit(u64::MAX / 2);
    let r = app.request("GET", "/api/v1/evaluation/health", "", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "degraded");
}

#[test]
fn a_change_that_took_effect_is_answered_as_done_and_a_failed_fsync_shows_in_health() {
    let app = spawn_app();
    app.store.fail_dir_syncs(true);
    let r = app.upload(&[file("a.safetensors", &st(3))]);
    assert_eq!(r.status, 200, "the file is live: {:?}", r.json());
    assert_eq!(app.live_files(), ["no_type_provided/a.safetensors"]);
    let r = app.delete(r#"{"partial_path": "no_type_provided/a.safetensors"}"#);
    assert_eq!(r.status, 200, "{:?}", r.json());
    let health = app
        .request("GET", "/api/v1/evaluation/health", "", b"")
        .json();
    assert_eq!(health["status"], "degraded");
    assert!(health["storage"]["durability_errors"].as_u64().unwrap() >= 3);
    // The bin journal was written although the fsyncs failed: the origin is known.
    let bin = app.request("GET", "/api/v1/admin/bin", &bearer(&app.admin), b"");
    assert_eq!(
        bin.json()["items"][0]["partial_path"],
        "no_type_provided/a.safetensors"
    );
}
