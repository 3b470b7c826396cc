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
          "checks": [
            "safetensors_header",
            "pickle_globals_allowlist",
            "format_matches_extension",
            "base_model",
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
        "status": "ok",
        "storage": {
          "free_bytes": "[free_bytes]",
          "writable": true
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
