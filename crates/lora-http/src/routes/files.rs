//! `GET /api/v1/admin/lora` (list) and `DELETE /api/v1/admin/lora` (move to the bin).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use lora_core::{EntityType, PartialPath, Sha256};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::blocking;
use super::listing::{CatalogueFacts, Filters, no_catalogue};
use crate::error::{HttpError, HttpValidationError, IssueKind, ValidationIssue};
use crate::events::EventKind;
use crate::extract::json::ApiJson;
use crate::observe::audit;
use crate::{AdminClaims, ApiError, AppState};

/// Default and largest page size of the listing.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// `LoRADeleteRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoRADeleteRequest {
    /// Relative path of the LoRA file (as returned by upload).
    #[schema(example = "identities/Sh0ot1f1_01.safetensors")]
    pub partial_path: PartialPath,
}

/// One live file in the listing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoRAFileItem {
    /// `{entity_type}/{filename}`.
    pub partial_path: String,
    /// The stored name.
    pub filename: String,
    /// The entity type folder.
    pub entity_type: EntityType,
    /// Size in bytes.
    pub file_size: u64,
    /// Last modification (RFC 3339, UTC).
    pub modified_at: String,
    /// SHA-256 when known without rehashing, else `null`.
    pub sha256: Option<Sha256>,
    /// Fleet mode only: whether this node holds the file on its disk (`POST
    /// /api/v1/lora/ensure` brings it). Absent on one machine, where every file is local,
    /// and in filtered listings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
    /// What the catalogue knows of it (each field absent while unknown).
    #[serde(flatten)]
    pub catalogue: CatalogueFacts,
}

/// A page of the live listing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoRAListResponse {
    /// The files on this page, sorted by `partial_path`.
    pub items: Vec<LoRAFileItem>,
    /// How many files match, over all pages.
    pub total: usize,
    /// The page size used.
    pub limit: usize,
    /// The offset used.
    pub offset: usize,
}

/// `LoRADeleteResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoRADeleteResponse {
    /// Always `true` on success.
    pub deleted: bool,
    /// Where the file was.
    pub full_path: String,
    /// Where it is now.
    pub bin_path: Option<String>,
    /// When it was moved (RFC 3339, UTC).
    pub timestamp: String,
    /// The partial path that was deleted.
    pub partial_path: String,
    /// Its partial path inside the bin (differs when the bin already held that name).
    pub bin_partial_path: String,
}

/// List LoRA model files (Admin).
///
/// The live files under `DATA/models/loras`, including ones placed there by other means,
/// sorted by `partial_path`. Hidden files, files with other extensions and staging files
/// are not listed. `sha256` is known for files uploaded through the service or hashed by
/// an evaluation, and unchanged since; `null` otherwise. Each item also carries what the
/// catalogue read from the file's header (`base_model`, `kind`, `network_type`, `rank`,
/// `trigger_words`, `tensor_sha256`) and the user's `meta`, each absent while unknown.
///
/// With any of `base_model`, `kind`, `sha256`, `tensor_sha256`, `tag`, `q`, `sort` or
/// `order`, the page comes from the catalogue's index: filtered (all conditions
/// combined), sorted, and `total` counts the filtered set. Files stored through the
/// service are in it at once; files placed by hand within a few seconds, with null facts
/// until their header is read.
#[utoipa::path(
    get,
    path = "/api/v1/admin/lora",
    tag = "admin",
    operation_id = "list_loras",
    params(
        ("entity_type" = Option<EntityType>, Query, description = "Only this entity type"),
        ("limit" = Option<u32>, Query, description = "Page size (default 100)", minimum = 0, maximum = 1000),
        ("offset" = Option<u64>, Query, description = "Files to skip (default 0)", minimum = 0),
        ("base_model" = Option<lora_inspect::BaseModel>, Query, description = "Only files of this family (read from their header)"),
        ("kind" = Option<lora_inspect::FileKind>, Query, description = "Only files of this kind"),
        ("sha256" = Option<String>, Query, description = "Only files with this SHA-256 (64 hex digits)"),
        ("tensor_sha256" = Option<String>, Query, description = "Only files with this tensor-data SHA-256"),
        ("tag" = Option<String>, Query, description = "Only files the user tagged so (case-insensitive)"),
        ("q" = Option<String>, Query, description = "Only files whose name, trigger words, tags or description contain this (case-insensitive; at most 200 characters)"),
        ("sort" = Option<String>, Query, description = "`name`, `modified_at` or `file_size` (default: `partial_path`)"),
        ("order" = Option<String>, Query, description = "`asc` (default) or `desc`"),
    ),
    responses(
        (status = 200, description = "A page of the listing", body = LoRAListResponse),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 422, description = "A query parameter is not valid", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is unavailable, or (filters) the catalogue", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn list(
    _claims: AdminClaims,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::parse_with_filters(req.query_string())?;
    let (entity, offset, limit) = (query.entity, query.offset, query.limit);
    let catalogue = state.catalogue.clone();
    let (items, total) = match query.filters {
        Some(filters) => {
            let catalogue = catalogue.ok_or_else(no_catalogue)?;
            let wanted = filters.query(entity, offset, limit);
            let page = blocking(move || Ok(catalogue.catalog().query(&wanted)?)).await?;
            let items = page
                .items
                .iter()
                .map(|e| LoRAFileItem {
                    filename: e.live.path.file_name().to_owned(),
                    entity_type: e.live.path.entity(),
                    partial_path: e.live.path.to_string(),
                    file_size: e.live.size,
                    modified_at: lora_core::timestamp::format(e.live.modified),
                    sha256: e.live.sha256,
                    local: None,
                    catalogue: CatalogueFacts::of(e),
                })
                .collect();
            (items, page.total)
        }
        None => {
            let store = Arc::clone(&state.repository);
            let (listing, mut known) = blocking(move || {
                let listing = store.list(entity, offset, limit)?;
                let paths: Vec<PartialPath> =
                    listing.items.iter().map(|f| f.partial_path.clone()).collect();
                // Facts are extras: a failing index leaves them out, never the listing.
                let known = catalogue
                    .map(|c| c.catalog().entries(&paths))
                    .transpose()
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "the catalogue could not be read; listing without facts");
                        None
                    })
                    .unwrap_or_default();
                Ok((listing, known))
            })
            .await?;
            let items = listing
                .items
                .into_iter()
                .map(|f| LoRAFileItem {
                    catalogue: known
                        .remove(&f.partial_path)
                        .map(|e| CatalogueFacts::of(&e))
                        .unwrap_or_default(),
                    filename: f.partial_path.file_name().to_owned(),
                    entity_type: f.partial_path.entity(),
                    partial_path: f.partial_path.to_string(),
                    file_size: f.len,
                    modified_at: lora_core::timestamp::format(f.modified),
                    sha256: f.sha256,
                    local: f.local,
                })
                .collect();
            (items, listing.total)
        }
    };
    Ok(HttpResponse::Ok().json(LoRAListResponse {
        items,
        total,
        limit,
        offset,
    }))
}

/// Delete a LoRA model file (Admin).
///
/// Delete a LoRA model file using its partial path (as returned by upload). The file is
/// moved to `DATA/bin/models/loras/{partial_path}` for safe recovery; if the bin already
/// holds that name, the new arrival gets `name_v2.ext`, … (nothing in the bin is ever
/// overwritten).
///
/// **Security:** requires an admin token.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/lora",
    tag = "admin",
    operation_id = "delete_lora",
    request_body(content = LoRADeleteRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Moved to the bin", body = LoRADeleteResponse),
        (status = 400, description = "partial_path is not a file inside the LoRA folder", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 404, description = "No such file", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout (LORA_UPLOAD_IDLE_TIMEOUT_SECS)", body = HttpError),
        (status = 413, description = "Body larger than 64 KiB", body = HttpError),
        (status = 422, description = "The body does not match the schema", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is read-only or unavailable", body = HttpError),
        (status = 507, description = "The data directory is full", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn delete(
    claims: AdminClaims,
    ApiJson(LoRADeleteRequest { partial_path: path }): ApiJson<LoRADeleteRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let store = Arc::clone(&state.repository);
    let catalogue = state.catalogue.clone();
    let events = Arc::clone(&state.events);
    let shown = path.to_string();
    let result = blocking(move || {
        let binned = store.delete(&path)?;
        if let Some(catalogue) = catalogue {
            catalogue.binned(&binned.partial_path, &binned.bin_partial_path);
        }
        events.emit(EventKind::Removed, &binned.partial_path, None);
        Ok(binned)
    })
    .await;
    audit::outcome(
        &audit::Actor::of(claims.claims()),
        audit::Action::Delete,
        &shown,
        &result,
        |_| None,
    );
    let binned = result?;
    tracing::info!(path = %binned.partial_path, bin = %binned.bin_partial_path, "moved to the bin");
    Ok(HttpResponse::Ok().json(LoRADeleteResponse {
        deleted: true,
        full_path: binned.live_path.to_string(),
        bin_path: Some(binned.bin_path.to_string()),
        timestamp: lora_core::timestamp::now(),
        partial_path: binned.partial_path.to_string(),
        bin_partial_path: binned.bin_partial_path.to_string(),
    }))
}

pub(crate) struct ListQuery {
    pub(crate) entity: Option<EntityType>,
    pub(crate) limit: usize,
    pub(crate) offset: usize,
    /// The catalogue's filters and sort, when the query names any.
    pub(crate) filters: Option<Filters>,
}

impl ListQuery {
    /// A page of a listing (`entity_type`, `limit`, `offset`; other keys ignored).
    pub(crate) fn parse(query: &str) -> Result<Self, ApiError> {
        Self::read(query, false)
    }

    /// A page of the live listing, with the catalogue's filters and sort.
    pub(crate) fn parse_with_filters(query: &str) -> Result<Self, ApiError> {
        Self::read(query, true)
    }

    fn read(query: &str, with_filters: bool) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| {
            ApiError::invalid(ValidationIssue::with_message(
                &["query"],
                IssueKind::ValueError,
                "The query string is not valid",
            ))
        })?;
        let last = |key: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let mut issues = Vec::new();
        let entity = match last("entity_type").map(|v| v.trim().to_lowercase()) {
            None => None,
            Some(v) => match v.parse::<EntityType>() {
                Ok(e) => Some(e),
                Err(_) => {
                    let allowed: Vec<String> =
                        EntityType::ALL.iter().map(|e| format!("'{e}'")).collect();
                    issues.push(ValidationIssue::with_message(
                        &["query", "entity_type"],
                        IssueKind::Enum,
                        format!("Input should be {}", allowed.join(", ")),
                    ));
                    None
                }
            },
        };
        let limit = int_param(
            last("limit"),
            "limit",
            DEFAULT_LIMIT,
            Some(MAX_LIMIT),
            &mut issues,
        );
        let offset = int_param(last("offset"), "offset", 0, None, &mut issues);
        let filters = if with_filters {
            Filters::parse(last, &mut issues)
        } else {
            None
        };
        if issues.is_empty() {
            Ok(Self {
                entity,
                limit,
                offset,
                filters,
            })
        } else {
            Err(ApiError::Validation(issues))
        }
    }
}

fn int_param(
    raw: Option<&str>,
    name: &str,
    default: usize,
    max: Option<usize>,
    issues: &mut Vec<ValidationIssue>,
) -> usize {
    let Some(raw) = raw else { return default };
    let Ok(value) = raw.trim().parse::<i64>() else {
        issues.push(ValidationIssue::new(
            &["query", name],
            IssueKind::IntParsing,
        ));
        return default;
    };
    if value < 0 {
        issues.push(ValidationIssue::new(
            &["query", name],
            IssueKind::GreaterThanEqual,
        ));
        return default;
    }
    let value = usize::try_from(value).unwrap_or(usize::MAX);
    match max {
        Some(max) if value > max => {
            issues.push(ValidationIssue::with_message(
                &["query", name],
                IssueKind::LessThanEqual,
                format!("Input should be less than or equal to {max}"),
            ));
            default
        }
        _ => value,
    }
}
