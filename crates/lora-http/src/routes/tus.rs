//! Resumable uploads, tus 1.0.0 (core, creation, creation-with-upload, termination,
//! expiration), beside the multipart routes: `POST /api/v1/lora/uploads` (user rules) and
//! `POST /api/v1/admin/lora/uploads` (admin rules), uploads at `{collection}/{id}`.
//!
//! The protocol (versions, headers, metadata, its refusals) is `crate::tus`; these
//! handlers apply the multipart routes' rules to it and hand the bytes to the one ingest
//! path (`crate::ingest`). Everything that can be refused is refused at creation, from
//! the headers, with the multipart routes' statuses and bodies; the PATCH that completes
//! an upload publishes it as the multipart route does.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use lora_auth::Claims;
use lora_core::{EntityType, SafeFileName, UploadRoute};
use lora_store::{OnClash, PatchGuard, ResumableInfo, StoreError, UploadId};

use super::blocking;
use super::upload::{AdminLoRAUploadResponse, LoRAUploadResponse, parse_form_bool};
use crate::error::{HttpError, IssueKind, ValidationIssue};
use crate::ingest::{Arrival, Session, Sink, Stored, Via, idle};
use crate::observe::audit::Actor;
use crate::tus::{self, EXTENSIONS, MAX_UNFINISHED_PER_SUBJECT, Metadata, TUS_VERSION, TusError};
use crate::{AdminClaims, ApiError, AppState, UserClaims};

fn tus(builder: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    builder.insert_header(("Tus-Resumable", TUS_VERSION))
}

/// Discover the server's tus support.
///
/// `Tus-Version`, `Tus-Extension` and `Tus-Max-Size` (the upload limit). No token needed.
#[utoipa::path(
    options,
    path = "/api/v1/lora/uploads",
    tag = "uploads",
    operation_id = "tus_options",
    responses((status = 204, description = "tus 1.0.0 with creation, creation-with-upload, termination, expiration")),
)]
pub(crate) async fn options(state: web::Data<AppState>) -> HttpResponse {
    tus(&mut HttpResponse::NoContent())
        .insert_header(("Tus-Version", TUS_VERSION))
        .insert_header(("Tus-Extension", EXTENSIONS))
        .insert_header(("Tus-Max-Size", state.limits.max_upload_bytes.to_string()))
        .finish()
}

/// Discover the server's tus support (admin collection).
#[utoipa::path(
    options,
    path = "/api/v1/admin/lora/uploads",
    tag = "uploads",
    operation_id = "tus_admin_options",
    responses((status = 204, description = "tus 1.0.0 with creation, creation-with-upload, termination, expiration")),
)]
pub(crate) async fn admin_options(state: web::Data<AppState>) -> HttpResponse {
    options(state).await
}

/// Create a resumable upload (tus `creation`, `creation-with-upload`).
///
/// `Upload-Length` (required; no deferred length) and `Upload-Metadata` with `filename`
/// (required), `entity_type` and `use_safe_filename` (the multipart form's rules and
/// defaults). Refusals come before any byte is stored, with the multipart route's
/// statuses and bodies. 201 with `Location` and `Upload-Expires`; with a body
/// (`application/offset+octet-stream`), also `Upload-Offset`.
#[utoipa::path(
    post,
    path = "/api/v1/lora/uploads",
    tag = "uploads",
    operation_id = "tus_create",
    responses(
        (status = 201, description = "Created; `Location` is the upload's URL"),
        (status = 400, description = "Missing Upload-Length or filename, bad name or extension, entity type not allowed, empty upload", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 412, description = "Tus-Resumable is not 1.0.0", body = HttpError),
        (status = 413, description = "Upload-Length over the configured limit", body = HttpError),
        (status = 422, description = "use_safe_filename is not a boolean", body = crate::error::HttpValidationError),
        (status = 429, description = "32 unfinished uploads already", body = HttpError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is unavailable, or (fleet mode) the shared storage cannot be reached", body = HttpError),
        (status = 507, description = "Not room for the announced length", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn create(
    claims: UserClaims,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    create_in(UploadRoute::User, claims.claims(), req, payload, state).await
}

/// Create a resumable upload (admin rules: `faces` allowed).
#[utoipa::path(
    post,
    path = "/api/v1/admin/lora/uploads",
    tag = "uploads",
    operation_id = "tus_admin_create",
    responses(
        (status = 201, description = "Created; `Location` is the upload's URL"),
        (status = 400, description = "Missing Upload-Length or filename, bad name or extension, entity type not allowed, empty upload", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 412, description = "Tus-Resumable is not 1.0.0", body = HttpError),
        (status = 413, description = "Upload-Length over the configured limit", body = HttpError),
        (status = 422, description = "use_safe_filename is not a boolean", body = crate::error::HttpValidationError),
        (status = 429, description = "32 unfinished uploads already", body = HttpError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is unavailable, or (fleet mode) the shared storage cannot be reached", body = HttpError),
        (status = 507, description = "Not room for the announced length", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn admin_create(
    claims: AdminClaims,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    create_in(UploadRoute::Admin, claims.claims(), req, payload, state).await
}

async fn create_in(
    route: UploadRoute,
    claims: &Claims,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let headers = req.headers();
    tus::require_version(headers)?;
    let length = tus::header_u64(headers, "Upload-Length")?.ok_or_else(|| {
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
        length,
        expires: state.ingest.clock.now().saturating_add(expiry),
        completed: None,
    };
    let expires = info.expires;
    let repo = std::sync::Arc::clone(&state.repository);
    let store = std::sync::Arc::clone(&state.local);
    let id = blocking(move || {
        // What would fail at the end is refused now: no storage, no bucket, no room.
        repo.ready_for_uploads()?;
        if store.resumable().unfinished_of(&info.owner) >= MAX_UNFINISHED_PER_SUBJECT {
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
        Ok(store.resumable().create(&info)?)
    })
    .await?;
    let mut response = HttpResponse::Created();
    tus(&mut response)
        .insert_header((header::LOCATION, tus::location(req.path(), &id)))
        .insert_header(("Upload-Expires", tus::expires_header(expires)));
    if tus::has_body(req.headers())? {
        let written = append(claims, &id, 0, &req, payload, &state).await?;
        written.headers(&mut response);
    }
    Ok(response.finish())
}

/// What a PATCH achieved.
struct Written {
    offset: u64,
    published: Option<Stored>,
}

impl Written {
    fn headers(&self, response: &mut HttpResponseBuilder) {
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
async fn find(
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
async fn append(
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
    if let Some(len) = tus::header_u64(req.headers(), "Content-Length")?
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
fn answer(route: UploadRoute, stored: Stored) -> HttpResponse {
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

async fn head_in(
    route: UploadRoute,
    claims: &Claims,
    id: String,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    tus::require_version(req.headers())?;
    let (_, info, offset) = find(&state, &id, claims, route).await?;
    Ok(tus(&mut HttpResponse::Ok())
        .insert_header(("Upload-Offset", offset.to_string()))
        .insert_header(("Upload-Length", info.length.to_string()))
        .insert_header(("Upload-Expires", tus::expires_header(info.expires)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

async fn patch_in(
    route: UploadRoute,
    claims: &Claims,
    id: String,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    tus::require_version(req.headers())?;
    tus::offset_stream(req.headers())?;
    let (id, _, _) = find(&state, &id, claims, route).await?;
    let offset = tus::header_u64(req.headers(), "Upload-Offset")?
        .ok_or_else(|| TusError::Header("Upload-Offset is required".into()))?;
    let written = append(claims, &id, offset, &req, payload, &state).await?;
    let mut response = HttpResponse::NoContent();
    tus(&mut response);
    written.headers(&mut response);
    Ok(response.finish())
}

async fn delete_in(
    route: UploadRoute,
    claims: &Claims,
    id: String,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    tus::require_version(req.headers())?;
    let (id, _, _) = find(&state, &id, claims, route).await?;
    let store = std::sync::Arc::clone(&state.local);
    blocking(move || {
        let resumable = store.resumable();
        let claim = resumable.lock(&id).ok_or(TusError::Busy)?;
        resumable.remove(&claim);
        Ok(())
    })
    .await?;
    Ok(tus(&mut HttpResponse::NoContent()).finish())
}

async fn get_in(
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

macro_rules! upload_routes {
    ($claims:ty, $collection:expr, $path:literal, $tag:literal, $head:ident, $patch:ident, $delete:ident, $get:ident, [$($forbidden:tt)*]) => {
        /// An upload's offset and length (tus `HEAD`), `Cache-Control: no-store`.
        #[utoipa::path(
            head,
            path = $path,
            tag = "uploads",
            operation_id = concat!("tus_", $tag, "head"),
            params(("id" = String, Path, description = "The upload's id")),
            responses(
                (status = 200, description = "`Upload-Offset` and `Upload-Length`"),
                (status = 401, description = "Missing or invalid token", body = HttpError),
                $($forbidden)*
                (status = 404, description = "No such upload for this subject, or it expired", body = HttpError),
                (status = 412, description = "Tus-Resumable is not 1.0.0", body = HttpError),
                (status = 500, description = "Unexpected failure", body = HttpError),
            ),
            security(("HTTPBearer" = []))
        )]
        pub(crate) async fn $head(claims: $claims, id: web::Path<String>, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
            head_in($collection, claims.claims(), id.into_inner(), req, state).await
        }

        /// Append bytes at `Upload-Offset` (tus `PATCH`); the PATCH that completes the
        /// upload publishes it as the multipart route does and answers 204 with
        /// `Lora-Partial-Path` and `Lora-Sha256` (a refusal: the multipart route's status
        /// and body, and the upload is removed).
        #[utoipa::path(
            patch,
            path = $path,
            tag = "uploads",
            operation_id = concat!("tus_", $tag, "patch"),
            params(("id" = String, Path, description = "The upload's id")),
            request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
            responses(
                (status = 204, description = "Stored up to the new `Upload-Offset`"),
                (status = 400, description = "Missing Upload-Offset, or the completed file's content or name is refused", body = HttpError),
                (status = 401, description = "Missing or invalid token", body = HttpError),
                $($forbidden)*
                (status = 404, description = "No such upload for this subject, or it expired", body = HttpError),
                (status = 409, description = "Upload-Offset is not the upload's offset, or (use_safe_filename false) the name is taken", body = HttpError),
                (status = 412, description = "Tus-Resumable is not 1.0.0", body = HttpError),
                (status = 413, description = "Bytes past Upload-Length", body = HttpError),
                (status = 415, description = "Not application/offset+octet-stream", body = HttpError),
                (status = 423, description = "Another PATCH is writing to this upload", body = HttpError),
                (status = 500, description = "Unexpected failure", body = HttpError),
                (status = 503, description = "Too many uploads in flight, or the storage is unavailable", body = HttpError),
                (status = 507, description = "The data directory is full", body = HttpError),
            ),
            security(("HTTPBearer" = []))
        )]
        pub(crate) async fn $patch(claims: $claims, id: web::Path<String>, req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
            patch_in($collection, claims.claims(), id.into_inner(), req, payload, state).await
        }

        /// Remove an unfinished upload (tus `termination`): 204, then 404.
        #[utoipa::path(
            delete,
            path = $path,
            tag = "uploads",
            operation_id = concat!("tus_", $tag, "delete"),
            params(("id" = String, Path, description = "The upload's id")),
            responses(
                (status = 204, description = "Removed"),
                (status = 401, description = "Missing or invalid token", body = HttpError),
                $($forbidden)*
                (status = 404, description = "No such upload for this subject, or it expired", body = HttpError),
                (status = 412, description = "Tus-Resumable is not 1.0.0", body = HttpError),
                (status = 423, description = "A PATCH is writing to this upload", body = HttpError),
                (status = 500, description = "Unexpected failure", body = HttpError),
            ),
            security(("HTTPBearer" = []))
        )]
        pub(crate) async fn $delete(claims: $claims, id: web::Path<String>, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
            delete_in($collection, claims.claims(), id.into_inner(), req, state).await
        }

        /// The multipart route's answer for a completed upload, until it expires.
        #[utoipa::path(
            get,
            path = $path,
            tag = "uploads",
            operation_id = concat!("tus_", $tag, "get"),
            params(("id" = String, Path, description = "The upload's id")),
            responses(
                (status = 200, description = "The stored file, as the multipart route answers"),
                (status = 401, description = "Missing or invalid token", body = HttpError),
                $($forbidden)*
                (status = 404, description = "No such completed upload for this subject", body = HttpError),
                (status = 500, description = "Unexpected failure", body = HttpError),
            ),
            security(("HTTPBearer" = []))
        )]
        pub(crate) async fn $get(claims: $claims, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
            get_in($collection, claims.claims(), id.into_inner(), state).await
        }
    };
}

upload_routes!(
    UserClaims,
    UploadRoute::User,
    "/api/v1/lora/uploads/{id}",
    "",
    head,
    patch,
    delete,
    get,
    []
);
upload_routes!(
    AdminClaims,
    UploadRoute::Admin,
    "/api/v1/admin/lora/uploads/{id}",
    "admin_",
    admin_head,
    admin_patch,
    admin_delete,
    admin_get,
    [(
        status = 403,
        description = "Not an admin token",
        body = HttpError
    ),]
);
