//! Reading an upload: its offset (HEAD), its end (DELETE), and where it went (GET).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use lora_auth::Claims;
use lora_core::UploadRoute;

use super::writing::{answer, claim, find};
use crate::ingest::Stored;
use crate::routes::blocking;
use crate::tus::TusError;
use crate::tus::resumable as tus;
use crate::{ApiError, AppState};

pub(super) async fn head_in(
    route: UploadRoute,
    claims: &Claims,
    id: String,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    crate::tus::require_version(req.headers())?;
    let (_, info, offset) = find(&state, &id, claims, route).await?;
    Ok(tus(&mut HttpResponse::Ok())
        .insert_header(("Upload-Offset", offset.to_string()))
        .insert_header(("Upload-Length", info.length.to_string()))
        .insert_header(("Upload-Expires", crate::tus::expires_header(info.expires)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

pub(super) async fn delete_in(
    route: UploadRoute,
    claims: &Claims,
    id: String,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    crate::tus::require_version(req.headers())?;
    let (id, _, _) = find(&state, &id, claims, route).await?;
    let claim = claim(&state, &id).await?;
    blocking(move || {
        claim.remove();
        claim.release();
        Ok(())
    })
    .await?;
    Ok(tus(&mut HttpResponse::NoContent()).finish())
}

pub(super) async fn get_in(
    route: UploadRoute,
    claims: &Claims,
    id: String,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (_, info, _) = find(&state, &id, claims, route).await?;
    let completed = info.completed.ok_or(TusError::UnknownUpload)?;
    Ok(answer(
        route,
        Stored {
            completed,
            entity: info.entity_type,
            client_name: info.filename,
        },
    ))
}
