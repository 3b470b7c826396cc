//! Serving the app on a listener: actix-http's service built by hand, so `Expect:
//! 100-continue` is answered by the same rules as the upload routes.

use std::net::TcpListener;
use std::time::Duration;

use actix_http::{HttpService, Request, Response};
use actix_server::Server;
use actix_service::{ServiceFactoryExt, fn_service, map_config};
use actix_web::ResponseError;
use actix_web::body::BoxBody;
use actix_web::dev::AppConfig;
use actix_web::http::{Method, StatusCode};
use lora_auth::Role;

use super::routes::{ADMIN_UPLOAD_PATH, USER_UPLOAD_PATH, app};
use super::{background, signals, wire};
use crate::routes::upload;
use crate::{ApiError, AppState};

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

/// Serves [`crate::app`] on `listener` until SIGTERM or SIGINT (Ctrl-C) stops it gracefully, or
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
    drop(background::spawn_background(&state));
    let server = Server::build()
        .workers(options.workers)
        .shutdown_timeout(options.shutdown_grace.as_secs())
        .max_concurrent_connections(options.max_connections_per_worker)
        .disable_signals()
        .listen("lora-http", listener, move || {
            let gate_state = state.clone();
            let app = app(state.clone());
            let service = HttpService::build()
                .local_addr(addr)
                .client_request_timeout(options.header_timeout)
                .keep_alive(options.keep_alive)
                .expect(fn_service(move |req: Request| {
                    let verdict = expect_gate(&gate_state, &req);
                    async move { verdict.map(|()| req) }
                }))
                .finish(map_config(app, |_| AppConfig::default()));
            // As `.tcp()` does, with the connection wrapped so the HTTP layer's own 408 and
            // 400 carry JSON bodies.
            fn_service(|io: actix_web::rt::net::TcpStream| async move {
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, actix_http::error::DispatchError>((
                    wire::JsonRefusals::new(io),
                    actix_http::Protocol::Http1,
                    peer,
                ))
            })
            .and_then(service)
        })?
        .run();
    signals::stop_on_signals(server.handle());
    Ok(server)
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
