//! lora-http as a library: its routes mounted inside another actix-web application.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use actix_web::{App, HttpResponse, test, web};
use lora_auth::{AuthConfig, HmacSecret, Role, Verifier};
use lora_http::AppState;
use lora_store::Store;

fn state(dir: &tempfile::TempDir) -> AppState {
    let store =
        Store::open(camino::Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap()).unwrap();
    let verifier = Verifier::new(AuthConfig::hs256(HmacSecret::new(
        b"mount-test-secret".to_vec(),
    )))
    .unwrap();
    AppState::new(Arc::new(store), Arc::new(verifier))
}

#[actix_web::test]
async fn routes_mount_under_a_scope_next_to_the_host_services_own() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let admin = state.verifier().mint(Role::Admin, "host", 60).unwrap();
    let app = test::init_service(
        App::new()
            .route(
                "/ping",
                web::get().to(|| async { HttpResponse::Ok().body("pong") }),
            )
            .service(web::scope("/lora").configure(|cfg| lora_http::configure(cfg, state.clone()))),
    )
    .await;

    let health = test::TestRequest::get()
        .uri("/lora/api/v1/evaluation/health")
        .to_request();
    let body: serde_json::Value = test::call_and_read_body_json(&app, health).await;
    assert_eq!(body["status"], "ok");

    let list = test::TestRequest::get()
        .uri("/lora/api/v1/admin/lora")
        .insert_header(("Authorization", format!("Bearer {admin}")))
        .to_request();
    let body: serde_json::Value = test::call_and_read_body_json(&app, list).await;
    assert_eq!(body["total"], 0);

    let unauthenticated = test::TestRequest::get()
        .uri("/lora/api/v1/admin/lora")
        .to_request();
    let response = test::call_service(&app, unauthenticated).await;
    assert_eq!(response.status(), 401);

    let ping = test::TestRequest::get().uri("/ping").to_request();
    assert_eq!(test::call_and_read_body(&app, ping).await, "pong");
}

#[actix_web::test]
async fn the_full_app_answers_unknown_paths_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(lora_http::app(state(&dir))).await;
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/nowhere").to_request()).await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body, serde_json::json!({"detail": "Not Found"}));
}

#[actix_web::test]
async fn a_mounting_service_starts_bin_retention_itself() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir).with_bin_retention(Some(std::time::Duration::ZERO));
    let store = state.store();
    // A binned file, older than a zero retention as soon as it is there.
    let mut staged = store.stage().unwrap();
    staged.write(b"old").unwrap();
    let name = lora_core::SafeFileName::from_client("old.pt").unwrap();
    let published = store
        .publish(
            staged.finish().unwrap(),
            lora_core::EntityType::Styles,
            &name,
            lora_store::OnClash::Version,
        )
        .unwrap();
    store.delete(&published.partial_path).unwrap();
    assert_eq!(store.list_bin(None, 0, 10).unwrap().total, 1);

    let task = lora_http::spawn_retention(&state).expect("a retention period is set");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.list_bin(None, 0, 10).unwrap().total > 0 {
        assert!(std::time::Instant::now() < deadline, "never purged");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    task.abort();
    assert!(lora_http::spawn_retention(&self::state(&tempfile::tempdir().unwrap())).is_none());
}

/// A tus creation of a 10-byte `a.safetensors` at `uri`.
fn creation(uri: &str, token: &str) -> actix_http::Request {
    test::TestRequest::post()
        .uri(uri)
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Tus-Resumable", "1.0.0"))
        .insert_header(("Upload-Length", "10"))
        // filename a.safetensors
        .insert_header(("Upload-Metadata", "filename YS5zYWZldGVuc29ycw=="))
        .to_request()
}

/// A tus upload's `Location` follows the scope the routes are mounted under, and the
/// upload answers there.
#[actix_web::test]
async fn tus_locations_follow_the_mount() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let admin = state.verifier().mint(Role::Admin, "host", 60).unwrap();
    let app = test::init_service(
        App::new()
            .service(web::scope("/lora").configure(|cfg| lora_http::configure(cfg, state.clone()))),
    )
    .await;
    let created =
        test::call_service(&app, creation("/lora/api/v1/admin/lora/uploads", &admin)).await;
    assert_eq!(created.status(), 201);
    let location = created
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with("/lora/api/v1/admin/lora/uploads/"),
        "{location}"
    );
    let head = test::call_service(
        &app,
        test::TestRequest::default()
            .method(actix_web::http::Method::HEAD)
            .uri(&location)
            .insert_header(("Authorization", format!("Bearer {admin}")))
            .insert_header(("Tus-Resumable", "1.0.0"))
            .to_request(),
    )
    .await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers().get("upload-offset").unwrap(), "0");
}

/// A mounting service that calls `spawn_background` gets abandoned resumable uploads
/// swept, as `run` does.
#[actix_web::test]
async fn a_mounting_service_sweeps_abandoned_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(lora_core::ManualClock::now_utc());
    let state = state(&dir)
        .with_upload_expiry(std::time::Duration::from_secs(5))
        .with_clock(Arc::clone(&clock) as Arc<dyn lora_core::Clock>);
    let admin = state.verifier().mint(Role::Admin, "host", 60).unwrap();
    let app = test::init_service(
        App::new()
            .service(web::scope("/lora").configure(|cfg| lora_http::configure(cfg, state.clone()))),
    )
    .await;
    let created = test::call_service(&app, creation("/lora/api/v1/lora/uploads", &admin)).await;
    assert_eq!(created.status(), 201);
    let uploads = dir.path().join(".lora-server/uploads");
    assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 2);
    clock.advance(std::time::Duration::from_secs(6));
    let background = lora_http::spawn_background(&state);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_dir(&uploads).unwrap().count() > 0 {
        assert!(std::time::Instant::now() < deadline, "never swept");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    background.abort();
}
