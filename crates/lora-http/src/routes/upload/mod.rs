//! `POST /api/v1/lora/upload` and `POST /api/v1/admin/lora/upload`.

mod form;

pub use form::{BodyAdminUploadLora, BodyUploadLora};

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use lora_core::{EntityType, SafeFileName, Sha256, UploadRoute};
use lora_store::{OnClash, Published, StagedFile};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::blocking;
use crate::error::{HttpError, HttpValidationError};
use crate::error::{IssueKind, ValidationIssue};
use crate::sink::Sink;
use crate::state::MULTIPART_ALLOWANCE;
use crate::{AdminClaims, ApiError, AppState, UserClaims, disposition, idle};

/// Longest value accepted in a text field of the form.
const MAX_TEXT_FIELD: usize = 8 * 1024;

/// `LoRAUploadResponse`: the user route's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoRAUploadResponse {
    /// Absolute path of the stored file.
    pub file_path: String,
    /// `{entity_type}/{stored name}`.
    pub partial_path: String,
    /// The client's original filename.
    pub filename: String,
    /// Size in bytes.
    pub file_size: u64,
    /// When the upload was stored (RFC 3339, UTC).
    pub upload_timestamp: String,
    /// Lower-case hex SHA-256 of the stored bytes.
    pub sha256: Sha256,
}

/// `AdminLoRAUploadResponse`: the admin route's answer, which also names the entity type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdminLoRAUploadResponse {
    /// The user route's fields.
    #[serde(flatten)]
    pub base: LoRAUploadResponse,
    /// The entity type folder.
    pub entity_type: EntityType,
}

/// Upload a LoRA model file.
///
/// Upload a LoRA (Low-Rank Adaptation) model file to the compute server. The file is
/// stored in `DATA/models/loras/{entity_type}/` under a safe filename once it is complete,
/// fsynced and checked (safetensors rules; pickle-based files may import only what a
/// weights-only state dict needs). When `use_safe_filename` is true (default), duplicate
/// names are versioned (`filename_v2.safetensors`, …); when false, a duplicate is a 409.
///
/// **Supported file formats:** .safetensors, .ckpt, .pt, .pth, .bin. **Supported entity
/// types:** clothes, identities, product, styles (missing: `no_type_provided`).
#[utoipa::path(
    post,
    path = "/api/v1/lora/upload",
    tag = "lora",
    operation_id = "upload_lora",
    request_body(content = BodyUploadLora, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Stored", body = LoRAUploadResponse),
        (status = 400, description = "Entity type not allowed, bad extension or name, empty file, or content refused", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 409, description = "The name is taken and use_safe_filename is false", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout (LORA_UPLOAD_IDLE_TIMEOUT_SECS)", body = HttpError),
        (status = 413, description = "File larger than the configured limit", body = HttpError),
        (status = 422, description = "The form does not match the schema", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is read-only or unavailable", body = HttpError),
        (status = 507, description = "The data directory is full", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn user_upload(
    claims: UserClaims,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let result = receive(UploadRoute::User, &req, payload, &state).await;
    audit_upload(claims.claims(), &result);
    let (stored, _) = result?;
    Ok(HttpResponse::Ok().json(stored))
}

/// Upload a LoRA model file (Admin).
///
/// The admin version of `POST /api/v1/lora/upload`: the same rules, `faces` is also an
/// allowed entity type, and the answer adds `entity_type`.
///
/// **Security:** requires an admin token.
#[utoipa::path(
    post,
    path = "/api/v1/admin/lora/upload",
    tag = "admin",
    operation_id = "admin_upload_lora",
    request_body(content = BodyAdminUploadLora, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Stored", body = AdminLoRAUploadResponse),
        (status = 400, description = "Entity type not allowed, bad extension or name, empty file, or content refused", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 409, description = "The name is taken and use_safe_filename is false", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout (LORA_UPLOAD_IDLE_TIMEOUT_SECS)", body = HttpError),
        (status = 413, description = "File larger than the configured limit", body = HttpError),
        (status = 422, description = "The form does not match the schema", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is read-only or unavailable", body = HttpError),
        (status = 507, description = "The data directory is full", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn admin_upload(
    claims: AdminClaims,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let result = receive(UploadRoute::Admin, &req, payload, &state).await;
    audit_upload(claims.claims(), &result);
    let (base, entity_type) = result?;
    Ok(HttpResponse::Ok().json(AdminLoRAUploadResponse { base, entity_type }))
}

fn audit_upload(
    claims: &lora_auth::Claims,
    result: &Result<(LoRAUploadResponse, EntityType), ApiError>,
) {
    let path = result
        .as_ref()
        .map(|(r, _)| r.partial_path.clone())
        .unwrap_or_default();
    crate::audit::outcome(
        crate::audit::Actor::of(claims),
        "upload",
        &path,
        result,
        |(r, _)| Some(r.sha256),
    );
}

/// Refuses, from the headers alone, a body announced larger than any acceptable upload.
/// Also used by the server's `Expect: 100-continue` handler, so such clients never send it.
pub(crate) fn check_declared_length(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(len) if len > state.max_upload_bytes.saturating_add(MULTIPART_ALLOWANCE) => {
            Err(ApiError::TooLarge {
                limit: state.max_upload_bytes,
            })
        }
        _ => Ok(()),
    }
}

/// What the form held once read to the end.
struct FilePart {
    client_name: String,
    name: Result<(SafeFileName, StagedFile), lora_core::CoreError>,
}

/// Reads the form, applying the contract's rules in order, and publishes the file.
async fn receive(
    route: UploadRoute,
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(LoRAUploadResponse, EntityType), ApiError> {
    check_declared_length(state, req.headers())?;
    // Held until this function returns, fails, or is dropped with its client.
    let _slot = state.uploads.try_take().ok_or(ApiError::Busy {
        cap: state.uploads.cap(),
    })?;
    let received = receive_form(route, req, payload, state).await;
    if let Err(ApiError::BodyIdle { .. }) = &received {
        state.uploads.idle_drop();
    }
    received
}

/// The form and the publish, under a slot.
async fn receive_form(
    route: UploadRoute,
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(LoRAUploadResponse, EntityType), ApiError> {
    let received_at = std::time::Instant::now();
    let limit = state.max_upload_bytes;
    let body_limit = limit.saturating_add(MULTIPART_ALLOWANCE);
    let mut form = Multipart::new(req.headers(), payload);
    let mut entity_raw: Option<String> = None;
    let mut entity_checked = false;
    let mut on_clash = OnClash::Version;
    let mut file: Option<FilePart> = None;
    let mut seen: u64 = 0;

    let idle = state.body_idle_timeout;
    while let Some(field) = idle::next(&mut form, idle).await? {
        let mut field = field.map_err(multipart_error)?;
        let disposition = field
            .headers()
            .get(CONTENT_DISPOSITION)
            .map(|v| disposition::parse(v.as_bytes()))
            .unwrap_or_default();
        match disposition.name.as_deref() {
            Some("file") if file.is_none() => {
                let Some(client_name) = disposition.filename else {
                    return Err(ApiError::invalid(ValidationIssue::with_message(
                        &["body", "file"],
                        IssueKind::ValueError,
                        "Expected UploadFile, received: <class 'str'>",
                    )));
                };
                let name = match SafeFileName::from_client(&client_name) {
                    Ok(name) => name,
                    Err(e) => {
                        // Rule 2 (entity type) comes first; when it is already known to
                        // pass, this is the answer. Otherwise read on to learn it.
                        if entity_checked {
                            return Err(e.into());
                        }
                        drain(&mut field, &mut seen, body_limit, idle).await?;
                        file = Some(FilePart {
                            client_name,
                            name: Err(e),
                        });
                        continue;
                    }
                };
                let staged = stream_file(&mut field, state, &mut seen, limit, body_limit).await?;
                file = Some(FilePart {
                    client_name,
                    name: Ok((name, staged)),
                });
            }
            Some("entity_type") => {
                let value =
                    read_text(&mut field, "entity_type", &mut seen, body_limit, idle).await?;
                EntityType::parse_form(Some(&value), route)?;
                entity_checked = true;
                entity_raw = Some(value);
            }
            Some("use_safe_filename") => {
                let value =
                    read_text(&mut field, "use_safe_filename", &mut seen, body_limit, idle).await?;
                on_clash = if parse_form_bool(&value).ok_or_else(|| {
                    ApiError::invalid(ValidationIssue::new(
                        &["body", "use_safe_filename"],
                        IssueKind::BoolParsing,
                    ))
                })? {
                    OnClash::Version
                } else {
                    OnClash::Refuse
                };
            }
            _ => drain(&mut field, &mut seen, body_limit, idle).await?,
        }
    }

    let Some(file) = file else {
        return Err(ApiError::invalid(ValidationIssue::missing(&[
            "body", "file",
        ])));
    };
    let entity = EntityType::parse_form(entity_raw.as_deref(), route)?;
    let (name, staged) = file.name?;
    if staged.is_empty() {
        return Err(ApiError::EmptyFile);
    }

    state
        .metrics
        .phase("receive", received_at.elapsed().as_secs_f64());
    let check = std::sync::Arc::clone(&state.content_check);
    let extension = name.extension();
    let store = std::sync::Arc::clone(&state.repository);
    let metrics = std::sync::Arc::clone(&state.metrics);
    let published: Published = blocking(move || {
        let started = std::time::Instant::now();
        check.check(staged.path().as_std_path(), extension)?;
        metrics.phase("check", started.elapsed().as_secs_f64());
        let started = std::time::Instant::now();
        let published = store.publish(staged, entity, &name, on_clash)?;
        metrics.phase("publish", started.elapsed().as_secs_f64());
        Ok(published)
    })
    .await?;
    tracing::info!(path = %published.partial_path, size = published.len, "stored upload");
    Ok((
        LoRAUploadResponse {
            file_path: published.path.to_string(),
            partial_path: published.partial_path.to_string(),
            filename: file.client_name,
            file_size: published.len,
            upload_timestamp: lora_core::timestamp::now(),
            sha256: published.sha256,
        },
        entity,
    ))
}

/// Streams the file part into staging, refusing it (413) as soon as it passes `limit`.
async fn stream_file(
    field: &mut Field,
    state: &AppState,
    seen: &mut u64,
    limit: u64,
    body_limit: u64,
) -> Result<StagedFile, ApiError> {
    let mut sink = Sink::start(std::sync::Arc::clone(&state.repository));
    let mut size: u64 = 0;
    while let Some(chunk) = idle::next(field, state.body_idle_timeout).await? {
        let chunk = chunk.map_err(multipart_error)?;
        size += chunk.len() as u64;
        *seen += chunk.len() as u64;
        if size > limit || *seen > body_limit {
            return Err(ApiError::TooLarge { limit });
        }
        sink.write(chunk).await?;
    }
    sink.finish().await
}

async fn read_text(
    field: &mut Field,
    name: &str,
    seen: &mut u64,
    body_limit: u64,
    idle: std::time::Duration,
) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = idle::next(field, idle).await? {
        let chunk = chunk.map_err(multipart_error)?;
        *seen += chunk.len() as u64;
        if *seen > body_limit {
            return Err(ApiError::TooLarge { limit: body_limit });
        }
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(ApiError::invalid(ValidationIssue::with_message(
                &["body", name],
                IssueKind::StringTooLong,
                format!("String should have at most {MAX_TEXT_FIELD} characters"),
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| {
        ApiError::invalid(ValidationIssue::new(
            &["body", name],
            IssueKind::StringUnicode,
        ))
    })
}

async fn drain(
    field: &mut Field,
    seen: &mut u64,
    body_limit: u64,
    idle: std::time::Duration,
) -> Result<(), ApiError> {
    while let Some(chunk) = idle::next(field, idle).await? {
        *seen += chunk.map_err(multipart_error)?.len() as u64;
        if *seen > body_limit {
            return Err(ApiError::TooLarge { limit: body_limit });
        }
    }
    Ok(())
}

/// FastAPI's (pydantic's) boolean spellings, any case; an empty form value means the default.
pub(crate) fn parse_form_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

fn multipart_error(e: MultipartError) -> ApiError {
    match e {
        // Not a multipart body at all: like FastAPI, the form simply has no file.
        MultipartError::ContentTypeMissing | MultipartError::ContentTypeIncompatible => {
            ApiError::invalid(ValidationIssue::missing(&["body", "file"]))
        }
        MultipartError::Payload(e) => ApiError::Body(e),
        other => ApiError::Multipart(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_form_bool;

    #[test]
    fn fastapi_boolean_spellings() {
        for t in ["true", "TRUE", "1", "yes", "On", "t", "Y", ""] {
            assert_eq!(parse_form_bool(t), Some(true), "{t}");
        }
        for f in ["false", "False", "0", "no", "OFF", "f", "n"] {
            assert_eq!(parse_form_bool(f), Some(false), "{f}");
        }
        for bad in ["maybe", "2", "truee", "nope"] {
            assert_eq!(parse_form_bool(bad), None, "{bad}");
        }
    }
}
