//! actix-web wiring of the LoRA file service.
//!
//! * [`configure`] registers every route on a `ServiceConfig`, so another actix-web
//!   service can mount them under its own scope;
//! * [`app`] is the complete application (routes, JSON 404/405, JSON bodies for framework
//!   errors), used by [`run`] and by tests;
//! * [`run`] serves it on a listener, with an `Expect: 100-continue` gate that refuses
//!   unauthenticated or oversized uploads before the client sends the body, and starts
//!   its background tasks (bin retention, the sweep of abandoned resumable uploads); a
//!   service that mounts [`configure`] itself calls [`spawn_background`] once.
//!
//! Every way a file arrives — a multipart form, a resumable (tus) upload, an install the
//! server fetches from a URL ([`InstallConfig`]: the sources, addresses and tokens it may
//! use) — goes through one ingest path: the same content check, naming rule, publish and
//! audit line.
//!
//! Permissions are extractors ([`AdminClaims`], [`UserClaims`]) decided from the headers
//! before any body is read. JSON bodies are typed request structs read by one extractor,
//! [`ApiJson`], and those same types make the OpenAPI document ([`ApiDoc`]). Every error of
//! every layer becomes a status and a FastAPI-shaped body in exactly one place,
//! [`ApiError`]'s `ResponseError` implementation (422 issue kinds: [`IssueKind`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use lora_auth::{AuthConfig, HmacSecret, Verifier};
//! use lora_http::{AppState, ServerOptions};
//! use lora_store::Store;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(Store::open("./data")?);
//! let verifier = Arc::new(Verifier::new(AuthConfig::hs256(HmacSecret::new(b"secret".to_vec())))?);
//! let state = AppState::new(store, verifier).with_max_upload_bytes(100 << 20);
//! let listener = std::net::TcpListener::bind("127.0.0.1:8000")?;
//! lora_http::run(listener, state, ServerOptions::default())?.await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod catalogue;
mod console;
mod error;
mod events;
mod extract;
mod ingest;
mod install;
mod observe;
mod openapi;
mod routes;
mod server;
mod state;
mod task;
mod tus;

pub use console::CONSOLE_CSP;
pub use error::{
    ApiError, Code, Detail, HttpError, HttpValidationError, IssueKind, LocItem, ValidationIssue,
};
pub use events::DEFAULT_HEARTBEAT as DEFAULT_EVENT_HEARTBEAT;
pub use extract::auth::{AdminClaims, UserClaims};
pub use extract::json::{ApiJson, MAX_JSON_BODY};
pub use ingest::idle::DEFAULT_BODY_IDLE_TIMEOUT;
pub use ingest::load::DEFAULT_MAX_CONCURRENT_UPLOADS;
pub use install::{
    DEFAULT_INSTALL_CONCURRENCY, Endpoints, FINISHED_JOBS_KEPT, HashSource, InstallConfig,
    InstallError, InstallJob, InstallRequest, InstallStatus, Installs, PrivateAccess, Tokens,
};
pub use lora_inspect::{AcceptAll, ContentCheck, ContentRejection, InspectCheck};
pub use observe::metrics::Metrics;
pub use observe::request_log::{REQUEST_ID, RequestId};
pub use openapi::ApiDoc;
pub use routes::bin::{
    BinItem, BinListResponse, BinPurgeBeforeRequest, BinPurgeRequest, BinPurgeResponse,
    BinRestoreRequest, BinRestoreResponse,
};
pub use routes::ensure::{EnsureRequest, EnsureResponse, EnsuredFile, PrefetchResponse};
pub use routes::evaluation::{EvaluationBatch, EvaluationRequest};
pub use routes::files::{LoRADeleteRequest, LoRADeleteResponse, LoRAFileItem, LoRAListResponse};
pub use routes::health::{
    HealthResponse, HealthStatus, InstallsStatus, ReplicaStatus, StorageStatus, UploadsStatus,
};
pub use routes::install::InstallListResponse;
pub use routes::upload::{
    AdminLoRAUploadResponse, BodyAdminUploadLora, BodyUploadLora, LoRAUploadResponse,
};
pub use server::{
    ADMIN_UPLOAD_PATH, Background, ServerOptions, USER_UPLOAD_PATH, app, configure,
    resume_installs, run, spawn_background, spawn_retention, spawn_upload_sweep,
};
pub use state::{
    AppState, DEFAULT_LEASE, DEFAULT_MAX_UPLOAD_BYTES, MAX_LEASE_SECS, MULTIPART_ALLOWANCE,
};
pub use tus::{DEFAULT_UPLOAD_EXPIRY, MAX_UNFINISHED_PER_SUBJECT, TUS_VERSION, TusError};
