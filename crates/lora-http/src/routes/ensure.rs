//! `POST /api/v1/lora/ensure`: the files a pipeline is about to load, on this node's disk.
//!
//! A pipeline calls it before it opens a LoRA: the answer names the absolute path to open
//! and the file's SHA-256. On one machine the files are simply here; in fleet mode a file
//! this node does not hold is downloaded first (verified against the object's SHA-256 and
//! the content rules, then renamed into place), and the answer says so (`fetched`).

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use lora_core::{PartialPath, Sha256};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::blocking;
use super::paths::Asked;
use crate::error::{HttpError, HttpValidationError, IssueKind, ValidationIssue};
use crate::extract::json::ApiJson;
use crate::state::MAX_LEASE_SECS;
use crate::{AdminClaims, ApiError, AppState, UserClaims};

/// The ensure request: one `partial_path`, or a list in `partial_paths`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EnsureRequest {
    /// A stored file, relative to the LoRA folder.
    #[serde(default)]
    #[schema(example = "identities/x.safetensors")]
    pub partial_path: Option<PartialPath>,
    /// 1 to 100 stored files; wins over `partial_path`.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 100)]
    pub partial_paths: Option<Vec<PartialPath>>,
    /// Seconds the files stay on this node's disk whatever else needs the room (0 to
    /// 86400; 0 takes no lease). Default `LORA_REPLICA_LEASE_SECS` (30).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 86400)]
    pub lease_secs: Option<u64>,
}

/// One file on this node's disk.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnsuredFile {
    /// The file, relative to the LoRA folder.
    pub partial_path: String,
    /// The absolute path the pipeline opens.
    pub local_path: String,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: Sha256,
    /// Size in bytes.
    pub file_size: u64,
    /// Whether this call brought it onto this node's disk.
    pub fetched: bool,
    /// How long that took, in seconds (0 when it was here already).
    pub fetch_seconds: f64,
    /// When the lease ends (RFC 3339, UTC); `null` with `lease_secs: 0`.
    pub lease_expires_at: Option<String>,
}

/// The answer: every file asked for, in request order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnsureResponse {
    /// One entry per path asked for.
    pub files: Vec<EnsuredFile>,
}

/// Put files on this node's disk, for a pipeline to open.
///
/// Answers once every file's bytes are on this node's disk, with the absolute path to open
/// and the SHA-256. On one machine (no bucket) the files are here already (`fetched:
/// false`); in fleet mode a file this node does not hold is downloaded first, verified and
/// renamed into place, so a pipeline makes the same call in both modes. A lease keeps the
/// files on disk for its length (a node without a disk budget never evicts).
#[utoipa::path(
    post,
    path = "/api/v1/lora/ensure",
    tag = "lora",
    operation_id = "ensure_lora",
    request_body(content = EnsureRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Every file is on this node's disk", body = EnsureResponse),
        (status = 400, description = "A path is not inside the LoRA folder, or a downloaded file fails the content rules", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 404, description = "No such file", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout (LORA_UPLOAD_IDLE_TIMEOUT_SECS)", body = HttpError),
        (status = 413, description = "Body larger than 64 KiB", body = HttpError),
        (status = 422, description = "The body does not match the schema (lease_secs over 86400)", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is unavailable, or (fleet mode) the file is not here and the shared storage cannot be reached", body = HttpError),
        (status = 507, description = "The data directory is full", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn ensure(
    _claims: UserClaims,
    ApiJson(request): ApiJson<EnsureRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let lease = match request.lease_secs {
        None => state.limits.lease,
        Some(secs) if secs <= MAX_LEASE_SECS => Duration::from_secs(secs),
        Some(_) => return Err(lease_too_long()),
    };
    let paths = Asked::from_body(request.partial_path, request.partial_paths)?.into_paths();
    let repository = Arc::clone(&state.repository);
    let ensured = blocking(move || {
        paths
            .iter()
            .map(|path| Ok(repository.ensure(path, lease)?))
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    let expires = (!lease.is_zero())
        .then(|| {
            let lease = time::Duration::try_from(lease).ok()?;
            Some(lora_core::timestamp::format(
                state.ingest.clock.now().saturating_add(lease),
            ))
        })
        .flatten();
    for fetched in ensured.iter().filter(|e| e.fetched) {
        state.metrics.fetch_seconds.observe(fetched.fetch_seconds);
    }
    let files = ensured
        .into_iter()
        .map(|e| EnsuredFile {
            partial_path: e.partial_path.to_string(),
            local_path: e.path.to_string(),
            sha256: e.sha256,
            file_size: e.len,
            fetched: e.fetched,
            fetch_seconds: e.fetch_seconds,
            lease_expires_at: expires.clone(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(EnsureResponse { files }))
}

/// The prefetch answer: what was queued.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrefetchResponse {
    /// The files being brought onto this node's disk, in request order.
    pub queued: Vec<String>,
}

/// Warm this node before a batch of jobs (Admin).
///
/// Takes the ensure request's body and answers 202 at once; the files are then brought
/// onto this node's disk in the background, one after the other, as `POST
/// /api/v1/lora/ensure` would (a file not found, or the bucket away, is logged and
/// skipped). A later ensure of the same files finds them here, or waits for the download
/// under way.
///
/// **Security:** requires an admin token.
#[utoipa::path(
    post,
    path = "/api/v1/admin/lora/prefetch",
    tag = "admin",
    operation_id = "prefetch_lora",
    request_body(content = EnsureRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Queued", body = PrefetchResponse),
        (status = 400, description = "A path is not inside the LoRA folder, or the body could not be read", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout (LORA_UPLOAD_IDLE_TIMEOUT_SECS)", body = HttpError),
        (status = 413, description = "Body larger than 64 KiB", body = HttpError),
        (status = 422, description = "The body does not match the schema (lease_secs over 86400)", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn prefetch(
    _claims: AdminClaims,
    ApiJson(request): ApiJson<EnsureRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if request.lease_secs.is_some_and(|secs| secs > MAX_LEASE_SECS) {
        return Err(lease_too_long());
    }
    let lease = request
        .lease_secs
        .map_or(state.limits.lease, std::time::Duration::from_secs);
    let paths = Asked::from_body(request.partial_path, request.partial_paths)?.into_paths();
    let queued = paths.iter().map(ToString::to_string).collect();
    let repository = Arc::clone(&state.repository);
    actix_web::rt::spawn(async move {
        for path in paths {
            let repository = Arc::clone(&repository);
            let shown = path.to_string();
            match blocking(move || Ok(repository.ensure(&path, lease)?)).await {
                Ok(e) if e.fetched => {
                    tracing::info!(path = shown, seconds = e.fetch_seconds, "prefetched");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(path = shown, error = %e, "prefetch skipped a file"),
            }
        }
    });
    Ok(HttpResponse::Accepted().json(PrefetchResponse { queued }))
}

fn lease_too_long() -> ApiError {
    ApiError::invalid(ValidationIssue::with_message(
        &["body", "lease_secs"],
        IssueKind::LessThanEqual,
        format!("Input should be less than or equal to {MAX_LEASE_SECS}"),
    ))
}
