//! `/api/v1/admin/lora/install[/{id}]`: installs from a URL, as jobs an admin starts,
//! follows and cancels.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{HttpError, HttpValidationError};
use crate::extract::json::ApiJson;
use crate::install::{InstallError, InstallJob, InstallRequest, Installs};
use crate::{AdminClaims, ApiError, AppState};

/// `InstallListResponse`: every install job this node keeps, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstallListResponse {
    /// The jobs.
    pub items: Vec<InstallJob>,
    /// How many.
    pub total: usize,
}

fn installs(state: &AppState) -> Result<&Arc<Installs>, ApiError> {
    state
        .installs()
        .ok_or(ApiError::Install(InstallError::Unavailable))
}

/// Install a LoRA from a URL (Admin).
///
/// The server fetches the file itself — an `https://` link, a Hugging Face file
/// (`hf://{owner}/{repo}[@{revision}]/{path}`), or a Civitai model version
/// (`https://civitai.com/api/download/models/{versionId}`) — resumably (a cut connection
/// or a restart goes on with `Range`), verifies it against the request's `sha256` or the
/// publisher's, then stores it like an upload (content check, naming rule, publish).
/// Answers at once with the queued job; follow it at `Location`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/lora/install",
    tag = "admin",
    operation_id = "install_lora",
    request_body(content = InstallRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "The job, queued", body = InstallJob,
            headers(("Location" = String, description = "The job's URL"))),
        (status = 400, description = "The source, entity type or file name is refused (scheme, host, private address, extension)", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout", body = HttpError),
        (status = 413, description = "Body larger than 64 KiB", body = HttpError),
        (status = 422, description = "The body does not match the schema", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "Installs cannot be kept on this node", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn create(
    claims: AdminClaims,
    req: HttpRequest,
    ApiJson(request): ApiJson<InstallRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let installs = installs(&state)?;
    let job = crate::install::start(
        installs,
        &state.ingest,
        state.limits.max_upload_bytes,
        request,
        claims.claims().sub().to_owned(),
    )
    .await?;
    let location = format!("{}/{}", req.path().trim_end_matches('/'), job.id);
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, location))
        .json(job))
}

/// List install jobs (Admin).
///
/// Every job this node keeps, oldest first: those running or queued, and those that
/// ended in the last 7 days.
#[utoipa::path(
    get,
    path = "/api/v1/admin/lora/install",
    tag = "admin",
    operation_id = "list_lora_installs",
    responses(
        (status = 200, description = "The jobs", body = InstallListResponse),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 503, description = "Installs cannot be kept on this node", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn list(
    _claims: AdminClaims,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let items = installs(&state)?.list();
    Ok(HttpResponse::Ok().json(InstallListResponse {
        total: items.len(),
        items,
    }))
}

/// Show an install job (Admin).
///
/// Its status, bytes done and total, rate, the error if it failed, and once done the
/// upload answer (`result`: `partial_path`, `sha256`, …).
#[utoipa::path(
    get,
    path = "/api/v1/admin/lora/install/{id}",
    tag = "admin",
    operation_id = "get_lora_install",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = InstallJob),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 404, description = "No such job", body = HttpError),
        (status = 503, description = "Installs cannot be kept on this node", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn get(
    _claims: AdminClaims,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(installs(&state)?.get(&id)?))
}

/// Cancel an install job (Admin).
///
/// A queued or downloading job stops and its partial bytes are removed; answers the job,
/// `cancelled`. A job being checked or stored, or one that ended, is a 409.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/lora/install/{id}",
    tag = "admin",
    operation_id = "cancel_lora_install",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job, cancelled", body = InstallJob),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 404, description = "No such job", body = HttpError),
        (status = 409, description = "The job is being stored or has ended", body = HttpError),
        (status = 503, description = "Installs cannot be kept on this node", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn cancel(
    _claims: AdminClaims,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let installs = Arc::clone(installs(&state)?);
    let id = id.into_inner();
    let job = crate::task::blocking(move || Ok(installs.cancel(&id)?)).await?;
    Ok(HttpResponse::Ok().json(job))
}
