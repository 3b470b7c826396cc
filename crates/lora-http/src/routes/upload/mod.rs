//! `POST /api/v1/lora/upload` and `POST /api/v1/admin/lora/upload`.

pub(crate) mod answer;
mod form;

pub use answer::{AdminLoRAUploadResponse, LoRAUploadResponse};
pub use form::{BodyAdminUploadLora, BodyUploadLora};

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use lora_auth::Claims;
use lora_core::{EntityType, IfDuplicate, SafeFileName, UploadRoute};
use lora_store::{Destination, OnClash, StagedFile, StagedUpload};

use crate::error::{HttpError, HttpValidationError};
use crate::error::{IssueKind, ValidationIssue};
use crate::extract::disposition;
use crate::ingest::{Arrival, Session, Sink, Stored, Via, idle};
use crate::observe::audit::{self, Action, Actor};
use crate::state::MULTIPART_ALLOWANCE;
use crate::{AdminClaims, ApiError, AppState, UserClaims};

/// Longest value accepted in a text field of the form.
const MAX_TEXT_FIELD: usize = 8 * 1024;

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
        (status = 409, description = "The name is taken and use_safe_filename is false, or the same bytes are live and if_duplicate is refuse", body = HttpError),
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
    let stored = receive(UploadRoute::User, claims.claims(), &req, payload, &state).await?;
    Ok(HttpResponse::Ok().json(LoRAUploadResponse::from_stored(
        &stored.completed,
        stored.client_name,
    )))
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
        (status = 409, description = "The name is taken and use_safe_filename is false, or the same bytes are live and if_duplicate is refuse", body = HttpError),
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
    let stored = receive(UploadRoute::Admin, claims.claims(), &req, payload, &state).await?;
    Ok(HttpResponse::Ok().json(AdminLoRAUploadResponse {
        base: LoRAUploadResponse::from_stored(&stored.completed, stored.client_name),
        entity_type: stored.entity,
    }))
}

/// Refuses, from the headers alone, a body announced larger than any acceptable upload.
/// Also used by the server's `Expect: 100-continue` handler, so such clients never send it.
pub(crate) fn check_declared_length(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(len)
            if len
                > state
                    .limits
                    .max_upload_bytes
                    .saturating_add(MULTIPART_ALLOWANCE) =>
        {
            Err(ApiError::TooLarge {
                limit: state.limits.max_upload_bytes,
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

/// Reads the form, applying the contract's rules in order, and publishes the file through
/// the one ingest path.
async fn receive(
    route: UploadRoute,
    claims: &Claims,
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Stored, ApiError> {
    let actor = Actor::of(claims);
    if let Err(e) = check_declared_length(state, req.headers()) {
        audit::refused(&actor, Action::Upload, "", &e);
        return Err(e);
    }
    // Held until the upload ends, fails, or is dropped with its client.
    let mut session = state.ingest.begin(actor, Via::Multipart)?;
    let mut client_name = String::new();
    match read_form(route, req, payload, state, &mut session, &mut client_name).await {
        Ok((arrival, staged)) => session.publish(arrival, staged).await,
        Err(e) => Err(session.refused(&client_name, e)),
    }
}

/// The form, read to its end: what the client asked for and the staged file.
/// `client_name` learns the file's name as soon as it is read (for the audit line).
async fn read_form(
    route: UploadRoute,
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    session: &mut Session,
    client_name: &mut String,
) -> Result<(Arrival, StagedFile), ApiError> {
    let limit = state.limits.max_upload_bytes;
    let body_limit = limit.saturating_add(MULTIPART_ALLOWANCE);
    let mut form = Multipart::new(req.headers(), payload);
    let mut entity_raw: Option<String> = None;
    let mut entity_checked = false;
    let mut on_clash = OnClash::Version;
    let mut if_duplicate = IfDuplicate::default();
    let mut file: Option<FilePart> = None;
    let mut seen: u64 = 0;

    let idle = state.limits.body_idle_timeout;
    while let Some(field) = idle::next(&mut form, idle).await? {
        let mut field = field.map_err(multipart_error)?;
        let disposition = field
            .headers()
            .get(CONTENT_DISPOSITION)
            .map(|v| disposition::parse(v.as_bytes()))
            .unwrap_or_default();
        match disposition.name.as_deref() {
            Some("file") if file.is_none() => {
                let Some(sent_name) = disposition.filename else {
                    return Err(ApiError::invalid(ValidationIssue::with_message(
                        &["body", "file"],
                        IssueKind::ValueError,
                        "Expected UploadFile, received: <class 'str'>",
                    )));
                };
                client_name.clone_from(&sent_name);
                let name = match SafeFileName::from_client(&sent_name) {
                    Ok(name) => name,
                    Err(e) => {
                        // Rule 2 (entity type) comes first; when it is already known to
                        // pass, this is the answer. Otherwise read on to learn it.
                        if entity_checked {
                            return Err(e.into());
                        }
                        drain(&mut field, &mut seen, body_limit, idle).await?;
                        file = Some(FilePart {
                            client_name: sent_name,
                            name: Err(e),
                        });
                        continue;
                    }
                };
                // Known before the bytes when the entity type came first: a fleet node
                // then streams them towards their name.
                let destination = match (entity_checked, &entity_raw) {
                    (true, raw) => Some(Destination {
                        entity: EntityType::parse_form(raw.as_deref(), route)?,
                        name: name.clone(),
                        on_clash,
                    }),
                    (false, _) => None,
                };
                let sink = session.stage(destination);
                let staged =
                    stream_file(&mut field, state, sink, &mut seen, limit, body_limit).await?;
                file = Some(FilePart {
                    client_name: sent_name,
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
            Some("if_duplicate") => {
                let value =
                    read_text(&mut field, "if_duplicate", &mut seen, body_limit, idle).await?;
                if_duplicate = IfDuplicate::parse(&value).ok_or_else(|| {
                    ApiError::invalid(ValidationIssue::with_message(
                        &["body", "if_duplicate"],
                        IssueKind::Enum,
                        "Input should be 'store', 'reuse' or 'refuse'",
                    ))
                })?;
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
    Ok((
        Arrival {
            client_name: file.client_name,
            name,
            entity,
            on_clash,
            if_duplicate,
        },
        staged,
    ))
}

/// Streams the file part into staging, refusing it (413) as soon as it passes `limit`.
async fn stream_file(
    field: &mut Field,
    state: &AppState,
    mut sink: Sink<StagedUpload>,
    seen: &mut u64,
    limit: u64,
    body_limit: u64,
) -> Result<StagedFile, ApiError> {
    let mut size: u64 = 0;
    while let Some(chunk) = idle::next(field, state.limits.body_idle_timeout).await? {
        let chunk = chunk.map_err(multipart_error)?;
        size += chunk.len() as u64;
        *seen += chunk.len() as u64;
        if size > limit || *seen > body_limit {
            return Err(ApiError::TooLarge { limit });
        }
        sink.write(chunk).await?;
    }
    sink.finish(StagedUpload::finish).await
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
