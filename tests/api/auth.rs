use insta::assert_json_snapshot;
use serde_json::json;

use crate::helpers::*;

const PROTECTED: [(&str, &str); 4] = [
    ("POST", "/api/v1/lora/upload"),
    ("POST", "/api/v1/admin/lora/upload"),
    ("GET", "/api/v1/admin/lora"),
    ("DELETE", "/api/v1/admin/lora"),
];

#[test]
fn every_protected_route_needs_a_token() {
    let app = spawn_app();
    for (method, path) in PROTECTED {
        let r = app.request(method, path, "", b"");
        assert_eq!(r.status, 401, "{method} {path}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer"),
            "{method} {path}"
        );
        assert_eq!(r.json(), json!({"detail": "Not authenticated"}));
    }
}

#[test]
fn bad_tokens_are_401_with_a_bearer_challenge() {
    let app = spawn_app();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "x", "exp": now() + 60, "role": "admin"}),
        &jsonwebtoken::EncodingKey::from_secret(b"not the secret"),
    )
    .unwrap();
    let none_alg = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIiwiZXhwIjo0MTAyNDQ0ODAwfQ.";
    let cases = [
        ("garbage", "Authorization: Bearer not-a-jwt\r\n".to_owned()),
        (
            "basic scheme",
            "Authorization: Basic dXNlcjpwYXNz\r\n".to_owned(),
        ),
        ("empty bearer", "Authorization: Bearer \r\n".to_owned()),
        ("forged", bearer(&forged)),
        ("alg none", bearer(none_alg)),
        (
            "expired",
            bearer(&token_with(
                json!({"sub": "x", "exp": now() - 3600, "role": "admin"}),
            )),
        ),
        (
            "no sub",
            bearer(&token_with(json!({"exp": now() + 60, "role": "admin"}))),
        ),
        (
            "no exp",
            bearer(&token_with(json!({"sub": "x", "role": "admin"}))),
        ),
    ];
    for (what, header) in cases {
        for (method, path) in PROTECTED {
            let r = app.request(method, path, &header, b"");
            assert_eq!(r.status, 401, "{what}: {method} {path}");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
            assert!(r.json()["detail"].is_string(), "{what}");
        }
    }
}

#[test]
fn expired_token_snapshot() {
    let app = spawn_app();
    let header = bearer(&token_with(
        json!({"sub": "x", "exp": now() - 3600, "role": "admin"}),
    ));
    let r = app.request("GET", "/api/v1/admin/lora", &header, b"");
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "Token has expired"
      },
      "status": 401
    }
    "#);
}

#[test]
fn user_tokens_are_forbidden_on_admin_routes() {
    let app = spawn_app();
    for (method, path) in &PROTECTED[1..] {
        let r = app.request(method, path, &bearer(&app.user), b"");
        assert_eq!(r.status, 403, "{method} {path}");
        assert_eq!(r.json(), json!({"detail": "Admin privileges required"}));
    }
    // Any role but "admin" is a user.
    let odd = token_with(json!({"sub": "x", "exp": now() + 60, "role": "Admin"}));
    assert_eq!(
        app.request("GET", "/api/v1/admin/lora", &bearer(&odd), b"")
            .status,
        403
    );
}

#[test]
fn admins_may_use_the_user_route() {
    let app = spawn_app();
    let r = app.upload_as("/api/v1/lora/upload", &app.admin, &[file("a.pt", &pt())]);
    assert_eq!(r.status, 200);
}

#[test]
fn auth_is_decided_before_the_body_is_read() {
    let app = spawn_app();
    // A request announcing a huge body, of which nothing is sent: the answer still comes.
    let mut stream = app.connect();
    let head = format!(
        "POST /api/v1/admin/lora/upload HTTP/1.1\r\nHost: x\r\n{}Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000000\r\n\r\n",
        bearer(&app.user)
    );
    std::io::Write::write_all(&mut stream, head.as_bytes()).unwrap();
    let r = read_response(&mut std::io::BufReader::new(stream));
    assert_eq!(r.status, 403);
}
