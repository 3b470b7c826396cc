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
