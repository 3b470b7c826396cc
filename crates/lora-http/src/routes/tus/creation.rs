//! Creating an upload: everything that can be refused is refused here, from the headers,
//! with the multipart routes' statuses and bodies, before any byte is stored.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use lora_auth::Claims;
use lora_core::{EntityType, IfDuplicate, SafeFileName, UploadRoute};
use lora_store::{ResumableInfo, StoreError};

use super::writing::append;
use crate::error::{IssueKind, ValidationIssue};
use crate::routes::blocking;
use crate::routes::upload::parse_form_bool;
use crate::tus::resumable as tus;
use crate::tus::{MAX_UNFINISHED_PER_SUBJECT, Metadata, TusError};
use crate::{ApiError, AppState};

pub(super) async fn create_in(
    route: UploadRoute,
    claims: &Claims,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let headers = req.headers();
    crate::tus::require_version(headers)?;
    let length = crate::tus::header_u64(headers, "Upload-Length")?.ok_or_else(|| {
        TusError::Header("Upload-Length is required (deferred length is not supported)".into())
    })?;
    let limit = state.limits.max_upload_bytes;
    if length > limit {
        return Err(ApiError::TooLarge { limit });
    }
    let meta = Metadata::from_headers(headers)?;
    // The multipart route's order: the entity type, then the name, then the rest.
    let entity_type = EntityType::parse_form(meta.get("entity_type"), route)?;
    let filename = meta
        .get("filename")
        .ok_or_else(|| TusError::Header("Upload-Metadata must carry a filename".into()))?
        .to_owned();
    SafeFileName::from_client(&filename)?;
    let use_safe_filename = match meta.get("use_safe_filename") {
        None => true,
        Some(v) => parse_form_bool(v).ok_or_else(|| {
            ApiError::invalid(ValidationIssue::new(
                &["header", "Upload-Metadata", "use_safe_filename"],
                IssueKind::BoolParsing,
            ))
        })?,
    };
    let if_duplicate = match meta.get("if_duplicate") {
        None => IfDuplicate::default(),
        Some(v) => IfDuplicate::parse(v).ok_or_else(|| {
            ApiError::invalid(ValidationIssue::with_message(
                &["header", "Upload-Metadata", "if_duplicate"],
                IssueKind::Enum,
                "Input should be 'store', 'reuse' or 'refuse'",
            ))
        })?,
    };
    if length == 0 {
        return Err(ApiError::EmptyFile);
    }
    let expiry = time::Duration::try_from(state.limits.upload_expiry)
        .map_err(|_| ApiError::Internal("upload expiry out of range"))?;
    let info = ResumableInfo {
        owner: claims.sub().to_owned(),
        route,
        filename,
        entity_type,
        use_safe_filename,
        if_duplicate,
        length,
        expires: state.ingest.clock.now().saturating_add(expiry),
        completed: None,
    };
    let expires = info.expires;
    let repo = std::sync::Arc::clone(&state.repository);
    let store = std::sync::Arc::clone(&state.local);
    let uploads = std::sync::Arc::clone(&state.uploads);
    let id = blocking(move || {
        // What would fail at the end is refused now: no storage, no bucket, no room.
        repo.ready_for_uploads()?;
        if uploads.unfinished_of(&info.owner)? >= MAX_UNFINISHED_PER_SUBJECT {
            return Err(TusError::TooMany {
                limit: MAX_UNFINISHED_PER_SUBJECT,
            }
            .into());
        }
        if store.health().free_bytes < length {
            return Err(ApiError::Store(StoreError::StorageFull {
                op: "reserve room for a resumable upload",
                source: std::io::ErrorKind::StorageFull.into(),
            }));
        }
        Ok(uploads.create(&info)?)
    })
    .await?;
    let mut response = HttpResponse::Created();
    tus(&mut response)
        .insert_header((header::LOCATION, crate::tus::location(req.path(), &id)))
        .insert_header(("Upload-Expires", crate::tus::expires_header(expires)));
    if crate::tus::has_body(req.headers())? {
        let written = append(claims, &id, 0, &req, payload, &state).await?;
        written.headers(&mut response);
    }
    Ok(response.finish())
}
