//! Resumable uploads, tus 1.0.0 (core, creation, creation-with-upload, termination,
//! expiration), beside the multipart routes: `POST /api/v1/lora/uploads` (user rules) and
//! `POST /api/v1/admin/lora/uploads` (admin rules), uploads at `{collection}/{id}`.
//!
//! Everything that can be refused is refused at creation, from the headers, with the
//! multipart routes' statuses and bodies. The PATCH that completes an upload runs the
//! same content check, gate, versioning and publish as the multipart route.

use std::time::{Duration, SystemTime};

use actix_web::http::header::{self, HttpDate};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use base64::Engine;
use lora_core::{EntityType, SafeFileName, UploadRoute};
use lora_store::{OnClash, ResumableInfo};

use super::blocking;
use super::upload::{AdminLoRAUploadResponse, LoRAUploadResponse, parse_form_bool};
use crate::error::{HttpError, TusError};
use crate::{AdminClaims, ApiError, AppState, UserClaims, idle};

/// The protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions supported.
const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration";
/// Unfinished uploads one subject may have.
pub const MAX_UNFINISHED_PER_SUBJECT: usize = 32;
/// Default lifetime of an upload (`LORA_UPLOAD_EXPIRY_SECS`).
pub const DEFAULT_UPLOAD_EXPIRY: Duration = Duration::from_secs(86_400);
/// Body bytes gathered before a write on the blocking pool.
const BATCH: usize = 1 << 20;

/// Which collection: the multipart route whose rules it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collection {
    User,
    Admin,
}

impl Collection {
    fn path(self) -> &'static str {
        match self {
            Collection::User => "/api/v1/lora/uploads",
            Collection::Admin => "/api/v1/admin/lora/uploads",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Collection::User => "user",
            Collection::Admin => "admin",
        }
    }

    fn route(self) -> UploadRoute {
        match self {
            Collection::User => UploadRoute::User,
            Collection::Admin => UploadRoute::Admin,
        }
    }
}

fn tus(builder: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    builder.insert_header(("Tus-Resumable", TUS_VERSION))
}

fn require_version(req: &HttpRequest) -> Result<(), ApiError> {
    match req
        .headers()
        .get("Tus-Resumable")
        .and_then(|v| v.to_str().ok())
    {
        Some(v) if v.trim() == TUS_VERSION => Ok(()),
        _ => Err(TusError::Version.into()),
    }
}

fn header_u64(req: &HttpRequest, name: &str) -> Result<Option<u64>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| {
                TusError::Header(format!("{name} must be a non-negative integer")).into()
            }),
    }
}

/// `Upload-Metadata`: `key base64,key2 base64`, values decoded as UTF-8.
fn metadata(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = req.headers().get("Upload-Metadata") else {
        return Ok(Vec::new());
    };
    let raw = raw
        .to_str()
        .map_err(|_| TusError::Header("Upload-Metadata is not ASCII".into()))?;
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|_| TusError::Header(format!("Upload-Metadata: {key} is not base64")))?;
            let value = String::from_utf8(bytes)
                .map_err(|_| TusError::Header(format!("Upload-Metadata: {key} is not UTF-8")))?;
            Ok((key.to_owned(), value))
        })
        .collect()
}

fn expires_header(expires: i64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(expires).unwrap_or(0));
    HttpDate::from(at).to_string()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
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
        .insert_header(("Tus-Max-Size", state.max_upload_bytes.to_string()))
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
    let owner = claims.claims().sub().to_owned();
    create_in(Collection::User, owner, req, payload, state).await
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
    let owner = claims.claims().sub().to_owned();
    create_in(Collection::Admin, owner, req, payload, state).await
}

async fn create_in(
    collection: Collection,
    owner: String,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_version(&req)?;
    let length = header_u64(&req, "Upload-Length")?.ok_or_else(|| {
        TusError::Header("Upload-Length is required (deferred length is not supported)".into())
    })?;
    if length > state.max_upload_bytes {
        return Err(ApiError::TooLarge {
            limit: state.max_upload_bytes,
        });
    }
    let meta = metadata(&req)?;
    let get = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let entity_raw = get("entity_type");
    // The multipart route's order: the entity type, then the name, then the rest.
    EntityType::parse_form(entity_raw.as_deref(), collection.route())?;
    let filename = get("filename")
        .ok_or_else(|| TusError::Header("Upload-Metadata must carry a filename".into()))?;
    SafeFileName::from_client(&filename)?;
    let use_safe_filename = match get("use_safe_filename") {
        None => true,
        Some(v) => parse_form_bool(&v).ok_or_else(|| {
            ApiError::invalid(crate::error::ValidationIssue::new(
                &["header", "Upload-Metadata", "use_safe_filename"],
                crate::error::IssueKind::BoolParsing,
            ))
        })?,
    };
    if length == 0 {
        return Err(ApiError::EmptyFile);
    }
    let expires =
        now().saturating_add(i64::try_from(state.upload_expiry.as_secs()).unwrap_or(i64::MAX));
    let info = ResumableInfo {
        owner: owner.clone(),
        collection: collection.name().to_owned(),
        filename,
        entity_type: entity_raw,
        use_safe_filename,
        length,
        expires,
        result: None,
    };
    let repo = std::sync::Arc::clone(&state.repository);
    let id = blocking(move || {
        let store = repo.store();
        if store.resumable().unfinished_of(&owner) >= MAX_UNFINISHED_PER_SUBJECT {
            return Err(TusError::TooMany {
                limit: MAX_UNFINISHED_PER_SUBJECT,
            }
            .into());
        }
        if store.health().free_bytes < length {
            return Err(ApiError::Store(lora_store::StoreError::StorageFull {
                op: "reserve room for a resumable upload",
                source: std::io::ErrorKind::StorageFull.into(),
            }));
        }
        Ok(store.resumable().create(&info)?)
    })
    .await?;
    let location = format!("{}/{id}", collection.path());
    let has_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/offset+octet-stream")
        && header_u64(&req, "Content-Length")?.is_some_and(|n| n > 0);
    let mut response = HttpResponse::Created();
    tus(&mut response)
        .insert_header((header::LOCATION, location))
        .insert_header(("Upload-Expires", expires_header(expires)));
    if has_body {
        let written = append(collection, &id, 0, &req, payload, &state).await?;
        written.headers(&mut response);
    }
    Ok(response.finish())
}

/// What a PATCH achieved.
struct Written {
    offset: u64,
    published: Option<(String, String)>,
}

impl Written {
    fn headers(&self, response: &mut HttpResponseBuilder) {
        response.insert_header(("Upload-Offset", self.offset.to_string()));
        if let Some((path, sha)) = &self.published {
            response.insert_header(("Lora-Partial-Path", path.clone()));
            response.insert_header(("Lora-Sha256", sha.clone()));
        }
    }
}

/// The upload, if `owner` may see it (expired ones are removed on sight).
async fn find(
    state: &AppState,
    id: String,
    owner: String,
    collection: Collection,
) -> Result<(ResumableInfo, u64), ApiError> {
    let repo = std::sync::Arc::clone(&state.repository);
    blocking(move || {
        let resumable = repo.store().resumable();
        match resumable.get(&id)? {
            Some((info, _)) if info.expires < now() => {
                resumable.remove(&id);
                Err(TusError::UnknownUpload.into())
            }
            Some((info, offset)) if info.owner == owner && info.collection == collection.name() => {
                Ok((info, offset))
            }
            _ => Err(TusError::UnknownUpload.into()),
        }
    })
    .await
}

/// Streams a PATCH body into the upload from `offset`, commits it, and publishes the
/// upload when it is complete.
async fn append(
    collection: Collection,
    id: &str,
    offset: u64,
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &AppState,
) -> Result<Written, ApiError> {
    let repo = std::sync::Arc::clone(&state.repository);
    // Claimed before the offset is read: two PATCHes one after the other must not both
    // see the old offset and append at it.
    let _guard = repo.store().resumable().lock(id).ok_or(TusError::Busy)?;
    let (info, current) = {
        let repo = std::sync::Arc::clone(&repo);
        let id = id.to_owned();
        blocking(move || {
            repo.store()
                .resumable()
                .get(&id)?
                .ok_or_else(|| TusError::UnknownUpload.into())
        })
        .await?
    };
    if info.result.is_some() {
        return Ok(Written {
            offset: current,
            published: None,
        });
    }
    if current != offset {
        return Err(TusError::Offset { current }.into());
    }
    if let Some(len) = header_u64(req, "Content-Length")?
        && offset.saturating_add(len) > info.length
    {
        return Err(ApiError::TooLarge { limit: info.length });
    }
    let _slot = state.uploads.try_take().ok_or(ApiError::Busy {
        cap: state.uploads.cap(),
    })?;
    let mut appender = {
        let repo = std::sync::Arc::clone(&repo);
        let id = id.to_owned();
        blocking(move || Ok(repo.store().resumable().appender(&id, offset)?)).await?
    };
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH);
    let mut received = offset;
    let mut failure = None;
    loop {
        let next = idle::next(&mut payload, state.body_idle_timeout).await;
        let chunk = match next {
            Ok(Some(Ok(chunk))) => chunk,
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                failure = Some(ApiError::Body(e));
                break;
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        received += chunk.len() as u64;
        if received > info.length {
            failure = Some(ApiError::TooLarge { limit: info.length });
            break;
        }
        batch.extend_from_slice(&chunk);
        if batch.len() >= BATCH {
            let data = actix_web::web::Bytes::from(std::mem::replace(
                &mut batch,
                Vec::with_capacity(BATCH),
            ));
            appender = blocking(move || {
                appender.write(data)?;
                Ok(appender)
            })
            .await?;
        }
    }
    // What arrived is kept (tus resumes from it) unless it overran the length.
    let overran = matches!(failure, Some(ApiError::TooLarge { .. }));
    let committed = {
        let repo = std::sync::Arc::clone(&repo);
        let id = id.to_owned();
        blocking(move || {
            if overran {
                drop(appender);
                repo.store().resumable().truncate(&id, offset)?;
                return Ok(offset);
            }
            appender.write(actix_web::web::Bytes::from(batch))?;
            Ok(repo.store().resumable().commit(&id, appender)?)
        })
        .await?
    };
    if let Some(e) = failure {
        return Err(e);
    }
    if committed < info.length {
        return Ok(Written {
            offset: committed,
            published: None,
        });
    }
    finish(collection, id.to_owned(), info, state).await
}

/// The last byte is in: the multipart route's check, gate and publish.
async fn finish(
    collection: Collection,
    id: String,
    info: ResumableInfo,
    state: &AppState,
) -> Result<Written, ApiError> {
    let repo = std::sync::Arc::clone(&state.repository);
    let check = std::sync::Arc::clone(&state.content_check);
    let length = info.length;
    blocking(move || {
        let outcome = (|| {
            let entity = EntityType::parse_form(info.entity_type.as_deref(), collection.route())?;
            let name = SafeFileName::from_client(&info.filename)?;
            let staged = repo.store().stage_resumable(&id)?;
            check.check(staged.path().as_std_path(), name.extension())?;
            let on_clash = if info.use_safe_filename {
                OnClash::Version
            } else {
                OnClash::Refuse
            };
            let published = repo.publish(staged, entity, &name, on_clash)?;
            Ok::<_, ApiError>((entity, published))
        })();
        let actor = crate::audit::Actor {
            sub: &info.owner,
            role: collection.name(),
        };
        let (entity, published) = match outcome {
            Ok(done) => done,
            Err(e) => {
                crate::audit::refused(actor, "upload (tus)", &info.filename, &e);
                // Refused or failed: nothing half-written stays behind.
                repo.store().resumable().remove(&id);
                return Err(e);
            }
        };
        crate::audit::done(
            actor,
            "upload (tus)",
            &published.partial_path.to_string(),
            Some(&published.sha256),
        );
        tracing::info!(path = %published.partial_path, size = published.len, "stored resumable upload");
        let base = LoRAUploadResponse {
            file_path: published.path.to_string(),
            partial_path: published.partial_path.to_string(),
            filename: info.filename.clone(),
            file_size: published.len,
            upload_timestamp: lora_core::timestamp::now(),
            sha256: published.sha256,
        };
        let answer = match collection {
            Collection::User => serde_json::to_value(&base),
            Collection::Admin => serde_json::to_value(AdminLoRAUploadResponse {
                base,
                entity_type: entity,
            }),
        }
        .unwrap_or_default();
        repo.store().resumable().finished(&id, info, answer)?;
        Ok(Written {
            offset: length,
            published: Some((
                published.partial_path.to_string(),
                published.sha256.to_hex(),
            )),
        })
    })
    .await
}

async fn head_in(
    collection: Collection,
    owner: String,
    id: String,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_version(&req)?;
    let (info, offset) = find(&state, id, owner, collection).await?;
    Ok(tus(&mut HttpResponse::Ok())
        .insert_header(("Upload-Offset", offset.to_string()))
        .insert_header(("Upload-Length", info.length.to_string()))
        .insert_header(("Upload-Expires", expires_header(info.expires)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

async fn patch_in(
    collection: Collection,
    owner: String,
    id: String,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_version(&req)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes());
    if content_type != Some(b"application/offset+octet-stream".as_slice()) {
        return Err(TusError::MediaType.into());
    }
    find(&state, id.clone(), owner, collection).await?;
    let offset = header_u64(&req, "Upload-Offset")?
        .ok_or_else(|| TusError::Header("Upload-Offset is required".into()))?;
    let written = append(collection, &id, offset, &req, payload, &state).await?;
    let mut response = HttpResponse::NoContent();
    tus(&mut response);
    written.headers(&mut response);
    Ok(response.finish())
}

async fn delete_in(
    collection: Collection,
    owner: String,
    id: String,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_version(&req)?;
    find(&state, id.clone(), owner, collection).await?;
    let repo = std::sync::Arc::clone(&state.repository);
    blocking(move || {
        repo.store().resumable().remove(&id);
        Ok(())
    })
    .await?;
    Ok(tus(&mut HttpResponse::NoContent()).finish())
}

async fn get_in(
    collection: Collection,
    owner: String,
    id: String,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (info, _) = find(&state, id, owner, collection).await?;
    match info.result {
        Some(result) => Ok(tus(&mut HttpResponse::Ok()).json(result)),
        None => Err(TusError::UnknownUpload.into()),
    }
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
            head_in($collection, claims.claims().sub().to_owned(), id.into_inner(), req, state).await
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
            patch_in($collection, claims.claims().sub().to_owned(), id.into_inner(), req, payload, state).await
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
                (status = 500, description = "Unexpected failure", body = HttpError),
            ),
            security(("HTTPBearer" = []))
        )]
        pub(crate) async fn $delete(claims: $claims, id: web::Path<String>, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
            delete_in($collection, claims.claims().sub().to_owned(), id.into_inner(), req, state).await
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
            get_in($collection, claims.claims().sub().to_owned(), id.into_inner(), state).await
        }
    };
}

upload_routes!(
    UserClaims,
    Collection::User,
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
    Collection::Admin,
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
