//! Route wiring, and a runner with an `Expect: 100-continue` gate.

use std::net::TcpListener;
use std::time::Duration;

use actix_http::{HttpService, Request, Response};
use actix_server::Server;
use actix_service::{fn_service, map_config};
use actix_web::body::BoxBody;
use actix_web::dev::AppConfig;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpResponse, ResponseError, web};
use lora_auth::Role;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{bin, evaluation, fallback, files, health, tus, upload};
use crate::{ApiDoc, ApiError, AppState};

/// The path of the user upload route.
pub const USER_UPLOAD_PATH: &str = "/api/v1/lora/upload";
/// The path of the admin upload route.
pub const ADMIN_UPLOAD_PATH: &str = "/api/v1/admin/lora/upload";

/// Registers every route of the service on `cfg`, with `state` as shared data.
///
/// Mount it into another actix-web application, under any scope (URLs the service hands
/// out, such as a tus upload's `Location`, follow the scope). `configure` runs once per
/// worker, so it starts nothing in the background: a service that mounts it starts the
/// background tasks once, with [`spawn_background`] (the bin retention, when set, and the
/// sweep of abandoned resumable uploads; [`run`] does this itself).
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

/// Server settings beyond the routes: chosen here, not left at actix's defaults.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Worker threads (defaults to the number of CPUs).
    pub workers: usize,
    /// How long in-flight requests may run after a stop signal.
    pub shutdown_grace: Duration,
    /// How long a client may take to send a request's headers (slowloris): past it the
    /// connection gets 408 and is closed. Default 10 s.
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection stays open. Default 15 s.
    pub keep_alive: Duration,
    /// Connections each worker serves at once; further ones wait in the listen backlog.
    /// Default 8192: a stalled upload costs a socket and a few KiB, no thread, so this
    /// is bounded by file descriptors (raise `LimitNOFILE` to match, see the guide).
    pub max_connections_per_worker: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            shutdown_grace: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(15),
            max_connections_per_worker: 8192,
        }
    }
}

/// Serves [`app`] on `listener` until SIGTERM or SIGINT (Ctrl-C) stops it gracefully, or
/// the returned [`Server`]'s handle stops it.
///
/// Both signals let requests in flight (an upload, say) finish for
/// [`ServerOptions::shutdown_grace`]; a second SIGINT, or SIGQUIT, stops at once.
/// (actix-server's own handling forces the stop on SIGINT, which cut uploads.)
///
/// Unlike `actix_web::HttpServer`, this answers `Expect: 100-continue` itself: an upload
/// without a valid token, with a token of the wrong role, or announcing a body over the
/// limit gets its 401/403/413 *instead of* `100 Continue`, so a client such as curl never
/// sends the file.
///
/// # Errors
///
/// When the listener cannot be registered.
pub fn run(
    listener: TcpListener,
    state: AppState,
    options: ServerOptions,
) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    // Run until the server's runtime stops.
    drop(spawn_background(&state));
    let server = Server::build()
        .workers(options.workers)
        .shutdown_timeout(options.shutdown_grace.as_secs())
        .max_concurrent_connections(options.max_connections_per_worker)
        .disable_signals()
        .listen("lora-http", listener, move || {
            let gate_state = state.clone();
            let app = app(state.clone());
            HttpService::build()
                .local_addr(addr)
                .client_request_timeout(options.header_timeout)
                .keep_alive(options.keep_alive)
                .expect(fn_service(move |req: Request| {
                    let verdict = expect_gate(&gate_state, &req);
                    async move { verdict.map(|()| req) }
                }))
                .finish(map_config(app, |_| AppConfig::default()))
                .tcp()
        })?
        .run();
    stop_on_signals(server.handle());
    Ok(server)
}

/// SIGTERM and a first SIGINT stop `server` gracefully; a second SIGINT or a SIGQUIT force
/// it. A signal that cannot be listened for is logged and left to its default action.
///
/// Forcing stops the actix system (every worker's event loop, so every request in flight
/// is dropped and its staging file removed): the server's own stop command could not do
/// it, as it waits for a graceful stop already under way to finish.
fn stop_on_signals(server: actix_web::dev::ServerHandle) {
    let force = || {
        if let Some(system) = actix_web::rt::System::try_current() {
            system.stop();
        }
    };
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
        Ok(stream) => Some(stream),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for {name}");
            None
        }
    };
    if let Some(mut term) = listen(SignalKind::terminate(), "SIGTERM") {
        let server = server.clone();
        actix_web::rt::spawn(async move {
            if term.recv().await.is_some() {
                tracing::info!("SIGTERM: stopping gracefully");
                // The command is sent now; the returned future only waits for the end.
                drop(server.stop(true));
            }
        });
    }
    if let Some(mut int) = listen(SignalKind::interrupt(), "SIGINT") {
        let server = server.clone();
        actix_web::rt::spawn(async move {
            if int.recv().await.is_some() {
                tracing::info!("SIGINT: stopping gracefully (press Ctrl-C again to stop at once)");
                drop(server.stop(true));
            }
            if int.recv().await.is_some() {
                tracing::warn!("second SIGINT: stopping at once");
                force();
            }
        });
    }
    if let Some(mut quit) = listen(SignalKind::quit(), "SIGQUIT") {
        actix_web::rt::spawn(async move {
            if quit.recv().await.is_some() {
                tracing::warn!("SIGQUIT: stopping at once");
                force();
            }
        });
    }
}

/// Starts the bin retention task on the current actix/tokio runtime when `state` has a
/// retention period ([`AppState::with_bin_retention`]); `None` otherwise. Call it once per
/// process: it purges entries older than the period now, then every tenth of it (between
/// a second and an hour). Dropping the handle does not stop the task; aborting it does.
pub fn spawn_retention(state: &AppState) -> Option<actix_web::rt::task::JoinHandle<()>> {
    let retention = state.bin_retention?;
    Some(actix_web::rt::spawn(retention_task(
        std::sync::Arc::clone(&state.repository),
        retention,
    )))
}

/// Removes expired resumable (tus) uploads now, then every minute (or every tenth of the
/// expiry, if shorter), on the blocking pool. [`run`] starts it; a service that mounts
/// [`configure`] calls it once.
pub fn spawn_upload_sweep(state: &AppState) -> actix_web::rt::task::JoinHandle<()> {
    let repository = std::sync::Arc::clone(&state.repository);
    let clock = std::sync::Arc::clone(&state.ingest.clock);
    let every =
        (state.limits.upload_expiry / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    actix_web::rt::spawn(async move {
        loop {
            let repository = std::sync::Arc::clone(&repository);
            let now = clock.now();
            if let Ok(swept) = web::block(move || repository.store().resumable().sweep(now)).await
                && swept > 0
            {
                tracing::info!(swept, "removed expired resumable uploads");
            }
            actix_web::rt::time::sleep(every).await;
        }
    })
}

/// The background tasks a served [`AppState`] needs: the bin retention (when set) and the
/// sweep of expired resumable uploads. [`run`] starts them; a service that mounts
/// [`configure`] calls [`spawn_background`] once, on its runtime.
#[derive(Debug)]
pub struct Background {
    /// The retention task, when the state has a retention period.
    pub retention: Option<actix_web::rt::task::JoinHandle<()>>,
    /// The sweep of expired resumable uploads.
    pub upload_sweep: actix_web::rt::task::JoinHandle<()>,
}

impl Background {
    /// Stops both tasks.
    pub fn abort(&self) {
        if let Some(retention) = &self.retention {
            retention.abort();
        }
        self.upload_sweep.abort();
    }
}

/// Starts every background task `state` needs ([`spawn_retention`] and
/// [`spawn_upload_sweep`]) on the current actix/tokio runtime. Call it once per process;
/// dropping the handles does not stop the tasks, [`Background::abort`] does.
pub fn spawn_background(state: &AppState) -> Background {
    Background {
        retention: spawn_retention(state),
        upload_sweep: spawn_upload_sweep(state),
    }
}

/// Purges bin entries older than `retention` now, then every `retention / 10` (between a
/// second and an hour), on the blocking pool.
async fn retention_task(store: std::sync::Arc<dyn lora_store::Repository>, retention: Duration) {
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        let store = std::sync::Arc::clone(&store);
        match web::block(move || store.apply_retention(retention)).await {
            Ok(Ok(p)) if p.files > 0 => {
                crate::observe::audit::purged(
                    &crate::observe::audit::Actor::server(),
                    crate::observe::audit::Action::Retention,
                    p.files,
                    p.bytes,
                    None,
                );
                tracing::info!(
                    files = p.files,
                    bytes = p.bytes,
                    "bin retention purged old entries"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "bin retention failed; will try again"),
            Err(e) => tracing::warn!(error = %e, "bin retention task could not run"),
        }
        actix_web::rt::time::sleep(every).await;
    }
}

/// Decides whether a request that sent `Expect: 100-continue` may send its body.
fn expect_gate(state: &AppState, req: &Request) -> Result<(), Response<BoxBody>> {
    let head = req.head();
    let role = match (head.method == Method::POST, head.uri.path()) {
        (true, USER_UPLOAD_PATH) => Role::User,
        (true, ADMIN_UPLOAD_PATH) => Role::Admin,
        _ => return Ok(()),
    };
    let refusal = crate::extract::auth::authorize(state, &head.headers, role)
        .and_then(|_| upload::check_declared_length(state, &head.headers))
        .and_then(|()| {
            if state.ingest.load().is_full() {
                state.ingest.load().refused_one();
                Err(ApiError::Busy {
                    cap: state.ingest.load().cap(),
                })
            } else {
                Ok(())
            }
        });
    refusal.map(|_| ()).map_err(|e: ApiError| {
        let response: Response<BoxBody> = e.error_response().into();
        debug_assert_ne!(response.status(), StatusCode::CONTINUE);
        response
    })
}
