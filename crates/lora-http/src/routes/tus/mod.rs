//! Resumable uploads, tus 1.0.0 (core, creation, creation-with-upload, termination,
//! expiration), beside the multipart routes: `POST /api/v1/lora/uploads` (user rules) and
//! `POST /api/v1/admin/lora/uploads` (admin rules), uploads at `{collection}/{id}`.
//!
//! The protocol (versions, headers, metadata, its refusals) is `crate::tus`; these
//! handlers apply the multipart routes' rules to it and hand the bytes to the one ingest
//! path (`crate::ingest`). This module holds the documented handlers; `creation` refuses
//! or creates an upload from its headers, `writing` streams PATCH bodies and publishes, and
//! `reading` answers HEAD, DELETE and GET.

mod creation;
mod reading;
mod writing;

use actix_web::{HttpRequest, HttpResponse, web};
use lora_core::UploadRoute;

use crate::error::HttpError;
use crate::tus::{EXTENSIONS, TUS_VERSION, resumable as tus};
use crate::{AdminClaims, ApiError, AppState, UserClaims};
use creation::create_in;
use reading::{delete_in, get_in, head_in};
use writing::patch_in;

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
/// (required), `entity_type`, `use_safe_filename` and `if_duplicate` (the multipart form's rules and
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
        (status = 422, description = "use_safe_filename is not a boolean, or if_duplicate not store, reuse or refuse", body = crate::error::HttpValidationError),
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
        (status = 422, description = "use_safe_filename is not a boolean, or if_duplicate not store, reuse or refuse", body = crate::error::HttpValidationError),
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
        /// `Lora-Partial-Path`, `Lora-Sha256` and, for safetensors files,
        /// `Lora-Tensor-Sha256` (a refusal: the multipart route's status and body, and the
        /// upload is removed).
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
                (status = 409, description = "Upload-Offset is not the upload's offset, or (use_safe_filename false) the name is taken, or (if_duplicate refuse) the same bytes are live", body = HttpError),
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
