//! Writing an upload: a PATCH's body streams through the ingest path's sink into the part
//! file, is committed, and the PATCH that completes the upload publishes it.

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use lora_auth::Claims;
use lora_core::{SafeFileName, UploadRoute};
use lora_store::{OnClash, PatchGuard, ResumableInfo, UploadId};

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
    let store = std::sync::Arc::clone(&state.local);
    let now = state.ingest.clock.now();
    let owner = claims.sub().to_owned();
    blocking(move || {
        let resumable = store.resumable();
        match resumable.get(&id)? {
            Some((info, _)) if info.expired(now) => {
                resumable.remove_if_idle(&id);
                Err(TusError::UnknownUpload.into())
            }
            Some((info, offset)) if info.owner == owner && info.route == route => {
                Ok((id, info, offset))
            }
            _ => Err(TusError::UnknownUpload.into()),
        }
    })
    .await
}

/// Streams a PATCH body into the upload from `offset`, commits it, and publishes the
/// upload when it is complete.
pub(super) async fn append(
    claims: &Claims,
    id: &UploadId,
    offset: u64,
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &AppState,
) -> Result<Written, ApiError> {
    let store = std::sync::Arc::clone(&state.local);
    // Claimed before the offset is read: two PATCHes one after the other must not both
    // see the old offset and append at it.
    let claim = std::sync::Arc::new(store.resumable().lock(id).ok_or(TusError::Busy)?);
    let (info, current) = {
        let store = std::sync::Arc::clone(&store);
        let id = id.clone();
        blocking(move || {
            store
                .resumable()
                .get(&id)?
                .ok_or_else(|| TusError::UnknownUpload.into())
        })
        .await?
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
        let store = std::sync::Arc::clone(&store);
        let claim = std::sync::Arc::clone(&claim);
        blocking(move || Ok(store.resumable().appender(&claim, offset)?)).await?
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
        drop(sink.abandon().await?);
        let (store, claim) = (std::sync::Arc::clone(&store), std::sync::Arc::clone(&claim));
        blocking(move || Ok(store.resumable().truncate(&claim, offset)?)).await?;
        offset
    } else {
        let store = std::sync::Arc::clone(&store);
        sink.finish(move |appender| store.resumable().commit(appender))
            .await?
    };
    if let Some(e) = failure {
        return Err(session.interrupted(e));
    }
    // It may have expired while the body arrived: then it is gone, as the sweep would
    // have made it had no PATCH held it.
    if info.expired(state.ingest.clock.now()) {
        let (store, claim) = (std::sync::Arc::clone(&store), std::sync::Arc::clone(&claim));
        blocking(move || {
            store.resumable().remove(&claim);
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
    let stored = finish(session, &claim, info, state).await?;
    Ok(Written {
        offset: committed,
        published: Some(stored),
    })
}

/// The last byte is in: the one ingest path publishes it; the upload then remembers where
/// it went, for `GET` on its URL.
async fn finish(
    session: Session,
    claim: &std::sync::Arc<PatchGuard>,
    info: ResumableInfo,
    state: &AppState,
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
    };
    let staged = {
        let (store, claim) = (
            std::sync::Arc::clone(&state.local),
            std::sync::Arc::clone(claim),
        );
        blocking(move || Ok(store.stage_resumable(&claim)?)).await
    };
    let published = match staged {
        Ok(staged) => session.publish(arrival, staged).await,
        Err(e) => Err(session.refused(&info.filename, e)),
    };
    let (store, claim) = (
        std::sync::Arc::clone(&state.local),
        std::sync::Arc::clone(claim),
    );
    let stored = match published {
        Ok(stored) => stored,
        Err(e) => {
            // Refused or failed: nothing half-written stays behind.
            blocking(move || {
                store.resumable().remove(&claim);
                Ok(())
            })
            .await?;
            return Err(e);
        }
    };
    let completed = stored.completed.clone();
    // The file is live whatever happens next: a record that cannot be written costs the
    // GET on the upload's URL, never the answer to a change that took effect.
    let recorded = blocking(move || Ok(store.resumable().finished(&claim, info, completed)?)).await;
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
