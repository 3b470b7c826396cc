//! Writing an upload: a PATCH's body streams through the ingest path's sink into the part
//! file, is committed, and the PATCH that completes the upload publishes it.

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use lora_auth::Claims;
use lora_core::{SafeFileName, UploadRoute};
use std::sync::Arc;

use lora_store::{OnClash, ResumableInfo, UploadClaim, UploadId};

use crate::ingest::{Arrival, Session, Sink, Stored, Via, idle};
use crate::observe::audit::Actor;
use crate::routes::blocking;
use crate::routes::upload::{AdminLoRAUploadResponse, LoRAUploadResponse};
use crate::tus::TusError;
use crate::tus::resumable as tus;
use crate::{ApiError, AppState};

/// What a PATCH achieved.
pub(super) struct Written {
    offset: u64,
    published: Option<Stored>,
}

impl Written {
    pub(super) fn headers(&self, response: &mut HttpResponseBuilder) {
        response.insert_header(("Upload-Offset", self.offset.to_string()));
        if let Some(stored) = &self.published {
            let done = &stored.completed;
            response.insert_header(("Lora-Partial-Path", done.partial_path.to_string()));
            response.insert_header(("Lora-Sha256", done.sha256.to_hex()));
            if let Some(tensor) = done.tensor_sha256 {
                response.insert_header(("Lora-Tensor-Sha256", tensor.to_hex()));
            }
        }
    }
}

/// The upload, if `claims` may see it: its id, description and offset. An expired one is
/// removed on sight, unless a PATCH is writing it (that PATCH finds the expiry itself).
pub(super) async fn find(
    state: &AppState,
    raw_id: &str,
    claims: &Claims,
    route: UploadRoute,
) -> Result<(UploadId, ResumableInfo, u64), ApiError> {
    let id = UploadId::parse(raw_id).ok_or(TusError::UnknownUpload)?;
    let uploads = Arc::clone(&state.uploads);
    let now = state.ingest.clock.now();
    let owner = claims.sub().to_owned();
    blocking(move || match uploads.get(&id)? {
        Some((info, _)) if info.expired(now) => {
            uploads.remove_if_idle(&id)?;
            Err(TusError::UnknownUpload.into())
        }
        Some((info, offset)) if info.owner == owner && info.route == route => {
            Ok((id, info, offset))
        }
        _ => Err(TusError::UnknownUpload.into()),
    })
    .await
}

/// Claims the upload for this request: 423 while another PATCH (on any node) holds it.
pub(super) async fn claim(
    state: &AppState,
    id: &UploadId,
) -> Result<Arc<dyn UploadClaim>, ApiError> {
    let uploads = Arc::clone(&state.uploads);
    let id = id.clone();
    blocking(move || uploads.claim(&id)?.ok_or_else(|| TusError::Busy.into())).await
}

/// Streams a PATCH body into the upload from `offset`, commits it, and publishes the
/// upload when it is complete.
pub(super) async fn append(
    claims: &Claims,
    id: &UploadId,
    offset: u64,
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Written, ApiError> {
    // Claimed before the offset is read: two PATCHes one after the other must not both
    // see the old offset and append at it.
    let claim = claim(state, id).await?;
    let written = append_claimed(claims, &claim, offset, req, payload, state).await;
    release(claim).await;
    written
}

/// Lets go of a claim before the answer goes out: the client's next PATCH, on any node,
/// must find the upload free.
pub(super) async fn release(claim: Arc<dyn UploadClaim>) {
    let _ = blocking(move || {
        claim.release();
        Ok(())
    })
    .await;
}

async fn append_claimed(
    claims: &Claims,
    claim: &Arc<dyn UploadClaim>,
    offset: u64,
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &AppState,
) -> Result<Written, ApiError> {
    let (info, current) = {
        let claim = Arc::clone(claim);
        blocking(move || claim.get()?.ok_or_else(|| TusError::UnknownUpload.into())).await?
    };
    if info.completed.is_some() {
        return Ok(Written {
            offset: current,
            published: None,
        });
    }
    if current != offset {
        return Err(TusError::Offset { current }.into());
    }
    if let Some(len) = crate::tus::header_u64(req.headers(), "Content-Length")?
        && offset.saturating_add(len) > info.length
    {
        return Err(ApiError::TooLarge { limit: info.length });
    }
    let session = state.ingest.begin(Actor::of(claims), Via::Tus)?;
    let appender = {
        let claim = Arc::clone(claim);
        blocking(move || Ok(claim.appender(offset)?)).await?
    };
    let mut sink = Sink::into_target(appender);
    let mut received = offset;
    let failure = loop {
        let chunk = match idle::next(&mut payload, state.limits.body_idle_timeout).await {
            Ok(Some(Ok(chunk))) => chunk,
            Ok(None) => break None,
            Ok(Some(Err(e))) => break Some(ApiError::Body(e)),
            Err(e) => break Some(e),
        };
        received += chunk.len() as u64;
        if received > info.length {
            break Some(ApiError::TooLarge { limit: info.length });
        }
        if let Err(e) = sink.write(chunk).await {
            // The write failed (the disk): the part file keeps what reached it.
            return Err(session.interrupted(e));
        }
    };
    // What arrived is kept (tus resumes from it) unless it overran the length.
    let committed = if matches!(failure, Some(ApiError::TooLarge { .. })) {
        if let Some(appender) = sink.abandon().await? {
            let claim = Arc::clone(claim);
            blocking(move || Ok(claim.discard(appender)?)).await?;
        }
        offset
    } else {
        let claim = Arc::clone(claim);
        sink.finish(move |appender| claim.commit(appender)).await?
    };
    if let Some(e) = failure {
        return Err(session.interrupted(e));
    }
    // It may have expired while the body arrived: then it is gone, as the sweep would
    // have made it had no PATCH held it.
    if info.expired(state.ingest.clock.now()) {
        let claim = Arc::clone(claim);
        blocking(move || {
            claim.remove();
            Ok(())
        })
        .await?;
        session.received();
        return Err(TusError::UnknownUpload.into());
    }
    if committed < info.length {
        session.received();
        return Ok(Written {
            offset: committed,
            published: None,
        });
    }
    let stored = finish(session, claim, info).await?;
    Ok(Written {
        offset: committed,
        published: Some(stored),
    })
}

/// The last byte is in: the one ingest path publishes it; the upload then remembers where
/// it went, for `GET` on its URL.
async fn finish(
    session: Session,
    claim: &Arc<dyn UploadClaim>,
    info: ResumableInfo,
) -> Result<Stored, ApiError> {
    let arrival = Arrival {
        name: SafeFileName::from_client(&info.filename)?,
        client_name: info.filename.clone(),
        entity: info.entity_type,
        on_clash: if info.use_safe_filename {
            OnClash::Version
        } else {
            OnClash::Refuse
        },
        if_duplicate: info.if_duplicate,
    };
    let staged = {
        let claim = Arc::clone(claim);
        blocking(move || Ok(claim.stage()?)).await
    };
    let published = match staged {
        Ok(staged) => session.publish(arrival, staged).await,
        Err(e) => Err(session.refused(&info.filename, e)),
    };
    let stored = match published {
        Ok(stored) => stored,
        Err(e) => {
            // Refused or failed: nothing half-written stays behind.
            let claim = Arc::clone(claim);
            blocking(move || {
                claim.remove();
                Ok(())
            })
            .await?;
            return Err(e);
        }
    };
    let completed = stored.completed.clone();
    // The file is live whatever happens next: a record that cannot be written costs the
    // GET on the upload's URL, never the answer to a change that took effect.
    let recorded = {
        let claim = Arc::clone(claim);
        blocking(move || Ok(claim.finished(info, completed)?)).await
    };
    if let Err(e) = recorded {
        tracing::error!(
            error = %e,
            path = %stored.completed.partial_path,
            "a resumable upload was published, but its record could not be written: GET on its URL will answer 404"
        );
    }
    Ok(stored)
}

/// The multipart route's answer for a stored upload.
pub(super) fn answer(route: UploadRoute, stored: Stored) -> HttpResponse {
    let base = LoRAUploadResponse::from_stored(&stored.completed, stored.client_name);
    let mut response = HttpResponse::Ok();
    tus(&mut response);
    match route {
        UploadRoute::User => response.json(base),
        UploadRoute::Admin => response.json(AdminLoRAUploadResponse {
            base,
            entity_type: stored.entity,
        }),
    }
}

pub(super) async fn patch_in(
    route: UploadRoute,
    claims: &Claims,
    id: String,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    crate::tus::require_version(req.headers())?;
    crate::tus::offset_stream(req.headers())?;
    let (id, _, _) = find(&state, &id, claims, route).await?;
    let offset = crate::tus::header_u64(req.headers(), "Upload-Offset")?
        .ok_or_else(|| TusError::Header("Upload-Offset is required".into()))?;
    let written = append(claims, &id, offset, &req, payload, &state).await?;
    let mut response = HttpResponse::NoContent();
    tus(&mut response);
    written.headers(&mut response);
    Ok(response.finish())
}
