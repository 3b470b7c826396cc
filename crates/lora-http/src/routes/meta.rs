//! `PATCH /api/v1/admin/lora/meta`: the user's own metadata of a live file, kept beside
//! it (never in its header), following it into the bin and back.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use lora_catalog::{CatalogError, MetaPatch};
use lora_core::PartialPath;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::blocking;
use super::listing::{LoRAMeta, no_catalogue};
use crate::error::{HttpError, HttpValidationError, IssueKind, ValidationIssue};
use crate::extract::json::ApiJson;
use crate::{AdminClaims, ApiError, AppState};

/// `LoRAMetaRequest`: the fields to change; a field left out keeps its value, `null`
/// clears a description or weight, `[]` clears tags or trigger words.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LoRAMetaRequest {
    /// The live file.
    #[schema(example = "styles/ink_wash.safetensors")]
    pub partial_path: PartialPath,
    /// Free text, at most 2000 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// At most 32 tags of at most 64 characters (trimmed; repeats dropped regardless of
    /// case).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// At most 20 trigger words or phrases of at most 200 characters.
    #[serde(default)]
    pub trigger_words: Option<Vec<String>>,
    /// A weight from -10 to 10.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub preferred_weight: Option<Option<f64>>,
}

/// A field that is present (perhaps `null`), told from one left out.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `LoRAMetaResponse`: the file's metadata after the change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoRAMetaResponse {
    /// The file.
    pub partial_path: String,
    /// Its metadata now.
    pub meta: LoRAMeta,
}

/// Set a LoRA's metadata (Admin).
///
/// Description, tags, trigger words and a preferred weight, kept beside the file (its
/// weights and hash are untouched). Listings show them under `meta` and filter on them
/// (`tag`, `q`); they follow the file into the bin and back, and go with a purge.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/lora/meta",
    tag = "admin",
    operation_id = "patch_lora_meta",
    request_body(content = LoRAMetaRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The metadata now", body = LoRAMetaResponse),
        (status = 400, description = "partial_path is not a file inside the LoRA folder", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 403, description = "Not an admin token", body = HttpError),
        (status = 404, description = "No such file", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout (LORA_UPLOAD_IDLE_TIMEOUT_SECS)", body = HttpError),
        (status = 413, description = "Body larger than 64 KiB", body = HttpError),
        (status = 422, description = "The body does not match the schema, or a value is beyond its limit", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The catalogue is not available", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn patch(
    _claims: AdminClaims,
    ApiJson(request): ApiJson<LoRAMetaRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let catalogue = state.catalogue.clone().ok_or_else(no_catalogue)?;
    let local = Arc::clone(&state.local);
    let path = request.partial_path.clone();
    let patch = MetaPatch {
        description: request.description,
        tags: request.tags,
        trigger_words: request.trigger_words,
        preferred_weight: request.preferred_weight,
    };
    let meta = blocking(move || {
        // This disk says for its own files; the index knows a fleet's others.
        let live = local.resolve(&path).is_ok()
            || !catalogue
                .catalog()
                .entries(std::slice::from_ref(&path))?
                .is_empty();
        if !live {
            return Err(CatalogError::NotFound { path }.into());
        }
        catalogue.patch_meta(&path, patch).map_err(|e| match e {
            ApiError::Catalog(CatalogError::Invalid { field, reason }) => {
                ApiError::invalid(ValidationIssue::with_message(
                    &["body", field],
                    IssueKind::ValueError,
                    format!("Value error, {reason}"),
                ))
            }
            other => other,
        })
    })
    .await?;
    tracing::info!(path = %request.partial_path, "metadata changed");
    state
        .events
        .emit(crate::events::EventKind::Meta, &request.partial_path, None);
    Ok(HttpResponse::Ok().json(LoRAMetaResponse {
        partial_path: request.partial_path.to_string(),
        meta: LoRAMeta::from(&meta),
    }))
}
