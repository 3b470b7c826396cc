//! `GET /metrics`: Prometheus text, label values that are never names or tokens, and the
//! optional token.

use crate::helpers::*;

fn scrape(app: &TestApp, headers: &str) -> Resp {
    app.request("GET", "/metrics", headers, b"")
}

#[test]
fn metrics_count_requests_refusals_files_and_evaluations_without_names() {
    let app = spawn_app();
    app.upload(&[
        file("secret-client-name.safetensors", &st(1)),
        Part::Text("entity_type", "styles"),
    ]);
    let refused = app.upload(&[
        file("secret-client-name.safetensors", &st(2)),
        Part::Text("entity_type", "styles"),
        Part::Text("use_safe_filename", "false"),
    ]);
    assert_eq!(refused.status, 409);
    app.request("GET", "/api/v1/admin/lora", "", b""); // 401
    app.json_as(
        "POST",
        "/api/v1/evaluation/",
        &app.user,
        r#"{"partial_path": "styles/secret-client-name.safetensors"}"#,
    );
    let r = scrape(&app, "");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(r.body.clone()).unwrap();
    for line in [
        r#"lora_http_request_duration_seconds_count{route="/api/v1/lora/upload",method="POST",status="200"} 1"#,
        r#"lora_refusals_total{reason="name_taken"} 1"#,
        r#"lora_auth_failures_total{status="401"} 1"#,
        r#"lora_files{entity_type="styles"} 1"#,
        r#"lora_evaluation_verdicts_total{verdict="pass"} 1"#,
        "lora_evaluation_duration_seconds_count 1",
        r#"lora_build_info{version="0.1.0"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
    assert!(text.contains(r#"lora_upload_phase_duration_seconds_count{phase="receive"}"#));
    assert!(
        text.contains(r#"le="327.68""#),
        "buckets reach past 300 s: {text}"
    );
    assert!(
        !text.contains("secret-client-name"),
        "a file name in a label"
    );
    assert!(
        !text.contains(&app.admin) && !text.contains(&app.user),
        "a token in a label"
    );
}

#[test]
fn a_metrics_token_guards_the_route() {
    let app = spawn_app_with(|s| s.with_metrics_token(Some("scrape-me".into())));
    assert_eq!(scrape(&app, "").status, 401);
    assert_eq!(scrape(&app, "Authorization: Bearer nope\r\n").status, 401);
    assert_eq!(
        scrape(&app, "Authorization: Bearer scrape-me\r\n").status,
        200
    );
}

/// Every metric the example Grafana dashboard (docs/grafana-dashboard.json) queries is
/// one the service exports.
#[test]
fn the_dashboards_metrics_exist() {
    let app = spawn_app();
    // Something for every family (an empty one prints nothing).
    app.upload(&[file("a.safetensors", &st(1))]);
    app.upload(&[
        file("a.safetensors", &st(1)),
        Part::Text("use_safe_filename", "false"),
    ]);
    app.request("GET", "/api/v1/admin/lora", "", b"");
    app.json_as(
        "POST",
        "/api/v1/evaluation/",
        &app.user,
        r#"{"partial_path": "no_type_provided/a.safetensors"}"#,
    );
    let text = String::from_utf8(scrape(&app, "").body).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/grafana-dashboard.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(name) = word.strip_prefix("lora_") {
                    let family = format!(
                        "# TYPE lora_{}",
                        name.trim_end_matches("_bucket").trim_end_matches("_count")
                    );
                    let base = family.trim_end_matches("_total");
                    assert!(text.contains(base), "{word} (in {expr}) is not exported");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 14, "{checked}");
}

/// A data directory that is gone is reported as unavailable, never as an empty store:
/// no per-entity file series, NaN for the bin and free room, and a gauge to alert on.
#[test]
fn a_missing_data_directory_is_unavailable_not_zero() {
    let app = spawn_app();
    app.upload(&[
        file("a.safetensors", &st(1)),
        Part::Text("entity_type", "styles"),
    ]);
    let before = String::from_utf8(scrape(&app, "").body).unwrap();
    assert!(before.contains("lora_storage_available 1"), "{before}");
    assert!(
        before.contains(r#"lora_files{entity_type="styles"} 1"#),
        "{before}"
    );
    std::fs::remove_dir_all(&app.data).unwrap();
    let r = scrape(&app, "");
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.contains("lora_storage_available 0"), "{text}");
    assert!(!text.contains("lora_files{"), "{text}");
    for line in ["lora_bin_files NaN", "lora_data_free_bytes NaN"] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
}
