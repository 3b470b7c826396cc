use insta::assert_json_snapshot;
use serde_json::json;

use crate::helpers::*;

#[test]
fn unknown_routes_are_json_404s() {
    let app = spawn_app();
    for path in [
        "/",
        "/nope",
        "/api/v1/admin/lora/extra",
        "/api/v2/lora/upload",
    ] {
        let r = app.request("GET", path, "", b"");
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json(), json!({"detail": "Not Found"}));
    }
}

#[test]
fn wrong_methods_are_json_405s() {
    let app = spawn_app();
    for (method, path) in [
        ("GET", "/api/v1/lora/upload"),
        ("PUT", "/api/v1/admin/lora"),
        ("POST", "/api/v1/admin/lora"),
        ("DELETE", "/api/v1/admin/lora/upload"),
        ("POST", "/api/v1/evaluation/health"),
    ] {
        let r = app.request(method, path, &bearer(&app.admin), b"");
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.json(), json!({"detail": "Method Not Allowed"}));
    }
    let r = app.request("PUT", "/api/v1/admin/lora", "", b"");
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "Method Not Allowed"
      },
      "status": 405
    }
    "#);
}

#[test]
fn malformed_http_never_gets_an_html_page() {
    let app = spawn_app();
    let mut stream = app.connect();
    std::io::Write::write_all(&mut stream, b"GARBAGE\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut text);
    assert!(!text.to_lowercase().contains("<html"), "{text}");
    // And the server still serves.
    assert_eq!(
        app.request("GET", "/api/v1/evaluation/health", "", b"")
            .status,
        200
    );
}
