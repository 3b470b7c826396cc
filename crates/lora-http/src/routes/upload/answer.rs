//! What a stored upload answers, whichever way it arrived (a form, a tus upload, an
//! install from a URL).

use lora_core::{EntityType, Sha256};
use lora_store::Completed;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `LoRAUploadResponse`: the user route's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoRAUploadResponse {
    /// Absolute path of the stored file.
    pub file_path: String,
    /// `{entity_type}/{stored name}`.
    pub partial_path: String,
    /// The client's original filename.
    pub filename: String,
    /// Size in bytes.
    pub file_size: u64,
    /// When the upload was stored (RFC 3339, UTC).
    pub upload_timestamp: String,
    /// Lower-case hex SHA-256 of the stored bytes.
    pub sha256: Sha256,
    /// Lower-case hex SHA-256 of the tensor data: every byte after the safetensors
    /// header, so a metadata edit keeps it (Civitai's AutoV3 is its first 12 digits,
    /// upper-case; kohya's `sshs_model_hash` and modelspec's `hash_sha256` are the same
    /// hash). Absent for pickle-based files and when the content check is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor_sha256: Option<Sha256>,
    /// Other live files with the same bytes (same `sha256`), when the service knows of
    /// any; with `if_duplicate=reuse` the answer is the live file itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Vec<String>>,
}

/// `AdminLoRAUploadResponse`: the admin route's answer, which also names the entity type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdminLoRAUploadResponse {
    /// The user route's fields.
    #[serde(flatten)]
    pub base: LoRAUploadResponse,
    /// The entity type folder.
    pub entity_type: EntityType,
}

impl LoRAUploadResponse {
    /// The answer for a stored upload, whichever way it arrived.
    pub(crate) fn from_stored(completed: &Completed, filename: String) -> Self {
        Self {
            file_path: completed.file_path.to_string(),
            partial_path: completed.partial_path.to_string(),
            filename,
            file_size: completed.file_size,
            upload_timestamp: lora_core::timestamp::format(completed.stored_at),
            sha256: completed.sha256,
            tensor_sha256: completed.tensor_sha256,
            duplicate_of: (!completed.duplicate_of.is_empty()).then(|| {
                completed
                    .duplicate_of
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            }),
        }
    }
}
