//! Every route of the service, mountable (`configure`), and the whole application (`app`).

use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{
    bin, ensure, evaluation, events, fallback, files, health, install, meta, tus, upload,
};
use crate::{ApiDoc, AppState};

/// The path of the user upload route.
pub const USER_UPLOAD_PATH: &str = "/api/v1/lora/upload";
/// The path of the admin upload route.
pub const ADMIN_UPLOAD_PATH: &str = "/api/v1/admin/lora/upload";

/// Registers every route of the service on `cfg`, with `state` as shared data.
///
/// Mount it into another actix-web application, under any scope (URLs the service hands
/// out, such as a tus upload's `Location`, follow the scope). `configure` runs once per
/// worker, so it starts nothing in the background: a service that mounts it starts the
/// background tasks once, with [`crate::spawn_background`] (the bin retention, when set, and the
/// sweep of abandoned resumable uploads; [`crate::run`] does this itself).
///
/// ```no_run
/// # async fn demo(state: lora_http::AppState) -> std::io::Result<()> {
/// use actix_web::{App, HttpServer, web};
/// let _background = lora_http::spawn_background(&state);
/// HttpServer::new(move || {
///     let state = state.clone();
///     App::new().service(web::scope("/lora").configure(|cfg| lora_http::configure(cfg, state)))
/// })
/// .bind("127.0.0.1:8080")?
/// .run()
/// .await
/// # }
/// ```
pub fn configure(cfg: &mut web::ServiceConfig, state: AppState) {
    cfg.app_data(web::Data::new(state))
        .service(
            web::resource("/api/v1/lora/upload")
                .route(web::post().to(upload::user_upload))
                .default_service(fallback::method_not_allowed("POST")),
        )
        .service(
            web::resource("/api/v1/admin/lora/upload")
                .route(web::post().to(upload::admin_upload))
                .default_service(fallback::method_not_allowed("POST")),
        )
        .service(
            web::resource("/api/v1/admin/lora")
                .route(web::get().to(files::list))
                .route(web::delete().to(files::delete))
                .default_service(fallback::method_not_allowed("GET, DELETE")),
        )
        .service(
            web::resource("/api/v1/events")
                .route(web::get().to(events::stream))
                .default_service(fallback::method_not_allowed("GET")),
        )
        .service(
            web::resource("/api/v1/admin/lora/install")
                .route(web::post().to(install::create))
                .route(web::get().to(install::list))
                .default_service(fallback::method_not_allowed("GET, POST")),
        )
        .service(
            web::resource("/api/v1/admin/lora/install/{id}")
                .route(web::get().to(install::get))
                .route(web::delete().to(install::cancel))
                .default_service(fallback::method_not_allowed("GET, DELETE")),
        )
        .service(
            web::resource("/api/v1/admin/lora/meta")
                .route(web::patch().to(meta::patch))
                .default_service(fallback::method_not_allowed("PATCH")),
        )
        .service(
            web::resource("/api/v1/admin/bin")
                .route(web::get().to(bin::list))
                .route(web::delete().to(bin::purge))
                .default_service(fallback::method_not_allowed("GET, DELETE")),
        )
        .service(
            web::resource("/api/v1/admin/bin/restore")
                .route(web::post().to(bin::restore))
                .default_service(fallback::method_not_allowed("POST")),
        )
        .service(
            web::resource("/api/v1/admin/bin/purge")
                .route(web::post().to(bin::purge_before))
                .default_service(fallback::method_not_allowed("POST")),
        )
        .service(
            web::resource(["/api/v1/evaluation/", "/api/v1/evaluation"])
                .route(web::post().to(evaluation::evaluate))
                .default_service(fallback::method_not_allowed("POST")),
        )
        .service(
            web::resource("/api/v1/lora/ensure")
                .route(web::post().to(ensure::ensure))
                .default_service(fallback::method_not_allowed("POST")),
        )
        .service(
            web::resource("/api/v1/admin/lora/prefetch")
                .route(web::post().to(ensure::prefetch))
                .default_service(fallback::method_not_allowed("POST")),
        )
        .service(
            web::resource("/api/v1/evaluation/health")
                .route(web::get().to(health::health))
                .default_service(fallback::method_not_allowed("GET")),
        )
        .service(
            web::resource("/metrics")
                .route(web::get().to(crate::routes::metrics::metrics))
                .default_service(fallback::method_not_allowed("GET")),
        )
        .service(
            web::resource("/api/v1/lora/uploads")
                .route(web::method(actix_web::http::Method::OPTIONS).to(tus::options))
                .route(web::post().to(tus::create))
                .default_service(fallback::method_not_allowed("OPTIONS, POST")),
        )
        .service(
            web::resource("/api/v1/lora/uploads/{id}")
                .route(web::head().to(tus::head))
                .route(web::patch().to(tus::patch))
                .route(web::delete().to(tus::delete))
                .route(web::get().to(tus::get))
                .default_service(fallback::method_not_allowed("HEAD, PATCH, DELETE, GET")),
        )
        .service(
            web::resource("/api/v1/admin/lora/uploads")
                .route(web::method(actix_web::http::Method::OPTIONS).to(tus::admin_options))
                .route(web::post().to(tus::admin_create))
                .default_service(fallback::method_not_allowed("OPTIONS, POST")),
        )
        .service(
            web::resource("/api/v1/admin/lora/uploads/{id}")
                .route(web::head().to(tus::admin_head))
                .route(web::patch().to(tus::admin_patch))
                .route(web::delete().to(tus::admin_delete))
                .route(web::get().to(tus::admin_get))
                .default_service(fallback::method_not_allowed("HEAD, PATCH, DELETE, GET")),
        );
}

/// The whole application: [`configure`]d routes, `GET /openapi.json` and the interactive
/// docs at `/docs/`, the web console at `/console/`, a JSON 404 for unknown paths, JSON bodies for every framework error,
/// and request logging. (A service that mounts [`configure`] under its own scope serves
/// [`crate::ApiDoc`] itself, if it wants to.)
pub fn app(
    state: AppState,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(|cfg| configure(cfg, state))
        // The web console (static files, compiled in); not part of the OpenAPI document.
        .configure(crate::console::configure)
        .service(
            // Swagger UI's assets are compiled in (vendored): /docs works offline.
            SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()),
        )
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header((actix_web::http::header::LOCATION, "/docs/"))
                    .finish()
            }),
        )
        .default_service(web::to(fallback::not_found))
        .wrap(ErrorHandlers::new().default_handler(fallback::json_errors))
        .wrap(actix_web::middleware::from_fn(
            crate::observe::request_log::middleware,
        ))
}
