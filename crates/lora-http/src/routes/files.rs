//! `GET /api/v1/admin/lora` (list) and `DELETE /api/v1/admin/lora` (move to the bin).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use lora_core::{EntityType, PartialPath, Sha256};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::blocking;
use crate::error::{HttpError, HttpValidationError, IssueKind, ValidationIssue};
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
    /// /api/v1/lora/ensure` brings it). Absent on one machine, where every file is local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
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
/// an evaluation, and unchanged since; `null` otherwise.
#[utoipa::path(
    get,
    path = "/api/v1/admin/lora",
    tag = "admin",
    operation_id = "list_loras",
    params(
        ("entity_type" = Option<EntityType>, Query, description = "Only this entity type"),
        ("limit" = Option<u32>, Query, description = "Page size (default 100)", minimum = 0, maximum = 1000),
        ("offset" = Option<u64>, Query, description = "Files to skip (default 0)", minimum = 0),
    ),
    responses(
        (status = 200, description = "A page of the listing", body = LoRAListResponse),
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
    let listing =
        blocking(move || Ok(store.list(query.entity, query.offset, query.limit)?)).await?;
    let items = listing
        .items
        .into_iter()
        .map(|f| LoRAFileItem {
            filename: f.partial_path.file_name().to_owned(),
            entity_type: f.partial_path.entity(),
            partial_path: f.partial_path.to_string(),
            file_size: f.len,
            modified_at: lora_core::timestamp::format(f.modified),
            sha256: f.sha256,
            local: f.local,
        })
        .collect();
    Ok(HttpResponse::Ok().json(LoRAListResponse {
        items,
        total: listing.total,
        limit: query.limit,
        offset: query.offset,
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
    let shown = path.to_string();
    let result = blocking(move || Ok(store.delete(&path)?)).await;
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
}

impl ListQuery {
    pub(crate) fn parse(query: &str) -> Result<Self, ApiError> {
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
        if issues.is_empty() {
            Ok(Self {
                entity,
                limit,
                offset,
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
