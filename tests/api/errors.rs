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
    assert_eq!(r.header("allow"), Some("GET, DELETE"));
    assert_eq!(
        app.request("GET", "/api/v1/lora/upload", "", b"")
            .header("allow"),
        Some("POST")
    );
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
    assert!(text.starts_with("HTTP/1.1 400 "), "{text:?}");
    assert!(!text.to_lowercase().contains("<html"), "{text}");
    // JSON, as every other error: the HTTP layer's own refusal included.
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("content-type: application/json"), "{head}");
    let detail: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(
        detail["detail"]
            .as_str()
            .unwrap()
            .starts_with("Bad Request"),
        "{body}"
    );
    // And the server still serves.
    assert_eq!(
        app.request("GET", "/api/v1/evaluation/health", "", b"")
            .status,
        200
    );
}

#[test]
fn the_openapi_document_is_the_contract() {
    let app = spawn_app();
    let r = app.request("GET", "/openapi.json", "", b"");
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["info"]["title"], "Custom API - Admin");
    assert_eq!(doc["info"]["version"], "1.0.0");
    for name in [
        "Body_upload_lora",
        "Body_admin_upload_lora",
        "LoRAUploadResponse",
        "AdminLoRAUploadResponse",
        "LoRADeleteRequest",
        "LoRADeleteResponse",
        "HTTPValidationError",
        "ValidationError",
    ] {
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "schema {name} missing"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"],
        "bearer"
    );
    assert!(
        doc["paths"]["/api/v1/evaluation/health"]["get"]["security"].is_null(),
        "health needs no token"
    );
    assert_eq!(
        doc["paths"]["/api/v1/lora/upload"]["post"]["security"][0]["HTTPBearer"],
        json!([])
    );
    insta::assert_json_snapshot!("openapi", doc);
}

#[test]
fn the_docs_are_served_without_internet() {
    let app = spawn_app();
    let r = app.request("GET", "/docs/", "", b"");
    assert_eq!(r.status, 200);
    let page = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page must not load remote assets"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let r = app.request("GET", &format!("/docs/{asset}"), "", b"");
        assert_eq!(r.status, 200, "{asset}");
        assert!(r.body.len() > 100, "{asset}");
    }
    assert_eq!(app.request("GET", "/docs", "", b"").status, 308);
}

/// Every `entity_type` the document advertises for an upload body is accepted by that
/// route: the document and the parser cannot drift apart.
#[test]
fn every_advertised_entity_type_is_accepted() {
    let app = spawn_app();
    let doc = app.request("GET", "/openapi.json", "", b"").json();
    let schemas = &doc["components"]["schemas"];
    let deref = |schema: &serde_json::Value| -> serde_json::Value {
        match schema["$ref"].as_str() {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
            None => schema.clone(),
        }
    };
    for (path, token) in [
        ("/api/v1/lora/upload", &app.user),
        ("/api/v1/admin/lora/upload", &app.admin),
    ] {
        let body =
            &doc["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"];
        let form = deref(body);
        let entity = deref(&form["properties"]["entity_type"]);
        let values = entity["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: entity_type has no enum: {entity}"));
        assert!(values.len() >= 5, "{path}: {values:?}");
        for value in values {
            let value = value.as_str().unwrap();
            let r = app.upload_as(
                path,
                token,
                &[
                    Part::Text("entity_type", value),
                    file("a.safetensors", &st(1)),
                ],
            );
            assert_eq!(
                r.status,
                200,
                "{path} entity_type={value:?}: {:?}",
                r.json()
            );
            assert_eq!(
                r.json()["partial_path"].as_str().unwrap().split('/').next(),
                Some(value),
                "{path} entity_type={value:?}"
            );
        }
    }
}

/// A client that sends its headers slowly (slowloris) is answered 408 and cut off once the
/// header timeout passes; it holds nothing after that.
#[test]
fn slow_headers_are_cut_off() {
    let app = spawn_app_serving(
        |state| state,
        |options| lora_http::ServerOptions {
            // actix-http measures it against a clock it updates every 500 ms: shorter
            // timeouts can fire at once.
            header_timeout: std::time::Duration::from_millis(1500),
            ..options
        },
    );
    let mut stream = app.connect();
    std::io::Write::write_all(
        &mut stream,
        b"GET /api/v1/evaluation/health HTTP/1.1\r\nHost: x\r\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut text);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    let detail: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(
        detail["detail"]
            .as_str()
            .unwrap()
            .starts_with("Request Timeout"),
        "{body}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let r = app.request("GET", "/api/v1/evaluation/health", "", b"");
    assert_eq!(
        r.status,
        200,
        "{:?} {:?}",
        r.headers,
        String::from_utf8_lossy(&r.body)
    );
}

#[test]
fn every_answer_carries_a_request_id_the_clients_when_sane() {
    let app = spawn_app();
    let given = app.request(
        "GET",
        "/api/v1/evaluation/health",
        "X-Request-Id: trace-7\r\n",
        b"",
    );
    assert_eq!(given.header("x-request-id"), Some("trace-7"));
    let made = app.request("GET", "/nowhere", "", b"");
    let id = made.header("x-request-id").unwrap();
    assert_eq!(id.len(), 16, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let odd = app.request(
        "GET",
        "/api/v1/evaluation/health",
        "X-Request-Id: a b\r\n",
        b"",
    );
    assert_ne!(odd.header("x-request-id"), Some("a b"));
}
