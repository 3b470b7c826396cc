//! The recycle bin (admin): list, restore, purge one, purge everything deleted before a time.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use lora_core::{EntityType, PartialPath, Sha256};
use lora_store::OnClash;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::blocking;
use super::files::ListQuery;
use crate::error::{HttpError, HttpValidationError};
use crate::events::EventKind;
use crate::extract::json::ApiJson;
use crate::observe::audit;
use crate::{AdminClaims, ApiError, AppState};

/// One file in the bin.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BinItem {
    /// Where it is, relative to `DATA/bin/models/loras` (what restore and purge take).
    pub bin_path: String,
    /// Where it was, relative to `DATA/models/loras`.
    pub partial_path: String,
    /// The stored name in the bin.
    pub filename: String,
    /// The entity type folder.
    pub entity_type: EntityType,
    /// Size in bytes.
    pub file_size: u64,
    /// When it was moved to the bin (RFC 3339, UTC).
    pub deleted_at: String,
    /// SHA-256 when known and unchanged, else `null`.
    pub sha256: Option<Sha256>,
}

/// A page of the bin.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BinListResponse {
    /// The entries on this page, sorted by `bin_path`.
    pub items: Vec<BinItem>,
    /// How many entries match, over all pages.
    pub total: usize,
    /// The page size used.
    pub limit: usize,
    /// The offset used.
    pub offset: usize,
}

/// Restore request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BinRestoreRequest {
    /// The entry to restore (`bin_path` from the bin listing).
    pub bin_path: PartialPath,
    /// When the original name is taken: `true` (default) takes `name_v2.ext`, …;
    /// `false` answers 409.
    #[serde(default)]
    #[schema(default = true)]
    pub use_safe_filename: Option<bool>,
}

/// Restore answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BinRestoreResponse {
    /// Always `true` on success.
    pub restored: bool,
    /// The live partial path it has now.
    pub partial_path: String,
    /// Its live absolute path.
    pub file_path: String,
    /// Where it was in the bin.
    pub bin_path: String,
    /// When (RFC 3339, UTC).
    pub timestamp: String,
}

/// Purge-one request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BinPurgeRequest {
    /// The entry to remove for good.
    pub bin_path: PartialPath,
}

/// Purge-by-age request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BinPurgeBeforeRequest {
    /// Remove every entry deleted before this time (RFC 3339).
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, example = "2024-01-01T00:00:00Z", format = DateTime)]
    pub before: OffsetDateTime,
}

/// RFC 3339 times in request bodies; a string that is none is a value error (422), as in
/// FastAPI, not a domain refusal.
mod rfc3339 {
    use serde::de::{Error, Unexpected};
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let raw = String::deserialize(d)?;
        OffsetDateTime::parse(&raw, &Rfc3339)
            .map_err(|_| D::Error::invalid_value(Unexpected::Str(&raw), &"an RFC 3339 datetime"))
    }

    pub(super) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&lora_core::timestamp::format(*t))
    }
}

/// Purge answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BinPurgeResponse {
    /// Files removed.
    pub purged: usize,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// When (RFC 3339, UTC).
    pub timestamp: String,
}

/// List the recycle bin (Admin).
///
/// Files moved to `DATA/bin/models/loras` by deletes (and any placed there by hand), with
/// where each came from and when it was deleted.
#[utoipa::path(
    get,
    path = "/api/v1/admin/bin",
    tag = "admin",
    operation_id = "list_bin",
    params(
        ("entity_type" = Option<EntityType>, Query, description = "Only this entity type"),
        ("limit" = Option<u32>, Query, description = "Page size (default 100)", minimum = 0, maximum = 1000),
        ("offset" = Option<u64>, Query, description = "Entries to skip (default 0)", minimum = 0),
    ),
    responses(
        (status = 200, description = "A page of the bin", body = BinListResponse),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 422, description = "A query parameter is not valid", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is unavailable", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn list(
    _claims: AdminClaims,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::parse(req.query_string())?;
    let store = Arc::clone(&state.repository);
    let (entity, offset, limit) = (query.entity, query.offset, query.limit);
    let listing = blocking(move || Ok(store.list_bin(entity, offset, limit)?)).await?;
    let items = listing
        .items
        .into_iter()
        .map(|e| BinItem {
            filename: e.bin_path.file_name().to_owned(),
            entity_type: e.bin_path.entity(),
            bin_path: e.bin_path.to_string(),
            partial_path: e.original.to_string(),
            file_size: e.len,
            deleted_at: lora_core::timestamp::format(e.deleted_at),
            sha256: e.sha256,
        })
        .collect();
    Ok(HttpResponse::Ok().json(BinListResponse {
        items,
        total: listing.total,
        limit,
        offset,
    }))
}

/// Restore a file from the bin (Admin).
///
/// Moves the entry back to its original partial path. Clash rules as for uploads:
/// `use_safe_filename` true (default) takes the first free `name_v2.ext`, …; false
/// answers 409. Nothing is ever overwritten.
#[utoipa::path(
    post,
    path = "/api/v1/admin/bin/restore",
    tag = "admin",
    operation_id = "restore_from_bin",
    request_body(content = BinRestoreRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Restored", body = BinRestoreResponse),
        (status = 400, description = "bin_path is not a file inside the bin", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 404, description = "No such entry", body = HttpError),
        (status = 409, description = "The original name is taken and use_safe_filename is false", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout (LORA_UPLOAD_IDLE_TIMEOUT_SECS)", body = HttpError),
        (status = 413, description = "Body larger than 64 KiB", body = HttpError),
        (status = 422, description = "The body does not match the schema", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is read-only or unavailable", body = HttpError),
        (status = 507, description = "The data directory is full", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn restore(
    claims: AdminClaims,
    ApiJson(request): ApiJson<BinRestoreRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bin_path = request.bin_path;
    let on_clash = match request.use_safe_filename {
        None | Some(true) => OnClash::Version,
        Some(false) => OnClash::Refuse,
    };
    let store = Arc::clone(&state.repository);
    let shown = bin_path.to_string();
    let catalogue = state.catalogue.clone();
    let events = Arc::clone(&state.events);
    let result = blocking(move || {
        let restored = store.restore(&bin_path, on_clash)?;
        if let Some(catalogue) = catalogue {
            catalogue.restored(&restored.bin_path, &restored.partial_path);
        }
        events.emit(EventKind::Restored, &restored.bin_path, None);
        events.emit(EventKind::Added, &restored.partial_path, None);
        Ok(restored)
    })
    .await;
    audit::outcome(
        &audit::Actor::of(claims.claims()),
        audit::Action::Restore,
        &shown,
        &result,
        |_| None,
    );
    let restored = result?;
    tracing::info!(bin = %restored.bin_path, path = %restored.partial_path, "restored from the bin");
    Ok(HttpResponse::Ok().json(BinRestoreResponse {
        restored: true,
        partial_path: restored.partial_path.to_string(),
        file_path: restored.path.to_string(),
        bin_path: restored.bin_path.to_string(),
        timestamp: lora_core::timestamp::now(),
    }))
}

/// Purge one file from the bin (Admin).
///
/// Removes the entry for good.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/bin",
    tag = "admin",
    operation_id = "purge_from_bin",
    request_body(content = BinPurgeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Removed", body = BinPurgeResponse),
        (status = 400, description = "bin_path is not a file inside the bin", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 404, description = "No such entry", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout (LORA_UPLOAD_IDLE_TIMEOUT_SECS)", body = HttpError),
        (status = 413, description = "Body larger than 64 KiB", body = HttpError),
        (status = 422, description = "The body does not match the schema", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is read-only or unavailable", body = HttpError),
        (status = 507, description = "The data directory is full", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn purge(
    claims: AdminClaims,
    ApiJson(BinPurgeRequest { bin_path }): ApiJson<BinPurgeRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let store = Arc::clone(&state.repository);
    let shown = bin_path.to_string();
    let events = Arc::clone(&state.events);
    let catalogue = state.catalogue.clone();
    let result = blocking(move || {
        let purged = store.purge(&bin_path)?;
        crate::catalogue::announce_purged(&events, catalogue.as_deref(), &purged);
        Ok(purged)
    })
    .await;
    audit::outcome(
        &audit::Actor::of(claims.claims()),
        audit::Action::Purge,
        &shown,
        &result,
        |_| None,
    );
    let purged = result?;
    Ok(HttpResponse::Ok().json(purged_response(purged)))
}

/// Purge everything deleted before a time (Admin).
#[utoipa::path(
    post,
    path = "/api/v1/admin/bin/purge",
    tag = "admin",
    operation_id = "purge_bin_before",
    request_body(content = BinPurgeBeforeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Removed", body = BinPurgeResponse),
        (status = 400, description = "The body could not be read", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout (LORA_UPLOAD_IDLE_TIMEOUT_SECS)", body = HttpError),
        (status = 413, description = "Body larger than 64 KiB", body = HttpError),
        (status = 422, description = "The body does not match the schema", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is read-only or unavailable", body = HttpError),
        (status = 507, description = "The data directory is full", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn purge_before(
    claims: AdminClaims,
    ApiJson(BinPurgeBeforeRequest { before }): ApiJson<BinPurgeBeforeRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let store = Arc::clone(&state.repository);
    let events = Arc::clone(&state.events);
    let catalogue = state.catalogue.clone();
    let result = blocking(move || {
        let purged = store.purge_before(before.into())?;
        crate::catalogue::announce_purged(&events, catalogue.as_deref(), &purged);
        Ok::<_, ApiError>(purged)
    })
    .await;
    let actor = audit::Actor::of(claims.claims());
    match &result {
        Ok(p) => audit::purged(&actor, audit::Action::PurgeBefore, p.files(), p.bytes, None),
        Err(e) => audit::refused(&actor, audit::Action::PurgeBefore, "", e),
    }
    let purged = result?;
    Ok(HttpResponse::Ok().json(purged_response(purged)))
}

fn purged_response(p: lora_store::Purged) -> BinPurgeResponse {
    BinPurgeResponse {
        purged: p.files(),
        bytes_freed: p.bytes,
        timestamp: lora_core::timestamp::now(),
    }
}
