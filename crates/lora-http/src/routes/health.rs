//! `GET /api/v1/evaluation/health`: no auth, no secrets, no absolute paths.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::blocking;
use crate::install::InstallStatus;
use crate::{ApiError, AppState};

/// Storage facts in the health report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StorageStatus {
    /// Whether a file can be created in the data directory.
    pub writable: bool,
    /// Bytes free for the service.
    pub free_bytes: u64,
    /// Folder fsyncs that failed after an upload, delete, restore or purge had already
    /// taken effect, since the server started. Anything but 0 makes the status
    /// `degraded`: those changes may not survive a power cut (see the operator's guide).
    pub durability_errors: u64,
    /// `local` (the data directory is the truth) or `s3` (fleet mode: a bucket is the
    /// truth and the data directory this node's replica).
    pub backend: String,
    /// Fleet mode: the bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Fleet mode: the key prefix in the bucket (empty: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Fleet mode: when this node last finished a sync pass with the bucket (RFC 3339),
    /// `null` before the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<Option<String>>,
    /// Fleet mode: seconds since that pass: the age of the index listings answer from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<u64>,
    /// Fleet mode: bucket operations that failed since start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    /// Fleet mode: bucket objects the content rules kept off this node's disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_objects: Option<u64>,
}

/// Fleet mode: what this node keeps on its disk.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplicaStatus {
    /// `complete` (every file of the bucket) or `working_set` (within a disk budget).
    pub mode: String,
    /// The disk budget (`LORA_REPLICA_BUDGET_BYTES`); `null`: a complete replica.
    pub budget_bytes: Option<u64>,
    /// Bytes of the bucket's files on this disk.
    pub local_bytes: u64,
    /// How many of the bucket's files are on this disk.
    pub local_files: usize,
    /// Bytes of pinned types (`LORA_REPLICA_PIN_TYPES`) on this disk.
    pub pinned_bytes: u64,
    /// Whether the pinned types alone need more than the budget.
    pub pins_over_budget: bool,
    /// Files under lease now.
    pub leases: usize,
    /// Ensures answered from this disk, since start.
    pub hits: u64,
    /// Ensures that downloaded, since start.
    pub misses: u64,
    /// Files evicted to stay within the budget, since start.
    pub evictions: u64,
    /// Downloads running now.
    pub fetches_in_flight: usize,
}

/// Upload load, since the server started.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadsStatus {
    /// Uploads being received now.
    pub in_flight: usize,
    /// The cap on uploads in flight (`LORA_MAX_CONCURRENT_UPLOADS`).
    pub max_concurrent: usize,
    /// Uploads refused with 503 because the cap was reached.
    pub refused: u64,
    /// Uploads dropped with 408 because their body sent nothing for the idle timeout.
    pub idle_drops: u64,
}

/// Installs from a URL on this node: jobs by state, and bytes fetched since start.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstallsStatus {
    /// Jobs waiting for a place.
    pub queued: usize,
    /// Jobs fetching bytes.
    pub downloading: usize,
    /// Jobs being verified, checked and stored.
    pub checking: usize,
    /// Jobs done (kept 7 days).
    pub done: usize,
    /// Jobs failed (kept 7 days).
    pub failed: usize,
    /// Jobs cancelled (kept 7 days).
    pub cancelled: usize,
    /// Bytes fetched since the server started.
    pub bytes_fetched: u64,
    /// Installs downloading at once (`LORA_INSTALL_CONCURRENCY`).
    pub concurrency: usize,
}

/// Overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything works.
    Ok,
    /// Serving, but the data directory is not writable, nearly full, or failed an fsync.
    Degraded,
}

/// The health report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`, or `degraded` when the data directory is not writable, nearly full, or
    /// failed an fsync after a change (`storage.durability_errors`), or (fleet mode) the
    /// bucket cannot be reached.
    pub status: HealthStatus,
    /// The service version.
    pub version: String,
    /// Storage facts.
    pub storage: StorageStatus,
    /// Upload load.
    pub uploads: UploadsStatus,
    /// Fleet mode only: what this node keeps on its disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<ReplicaStatus>,
    /// Installs from a URL (absent when they cannot be kept on this node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installs: Option<InstallsStatus>,
    /// What the content check and the evaluation route offer.
    #[schema(value_type = Object)]
    pub evaluator: serde_json::Value,
}

/// Evaluation service health.
///
/// No token needed. `degraded` (still 200) when the data directory is not writable, has
/// less room than one maximum-size upload, or failed a folder fsync after a change took
/// effect. Reveals no secrets and no paths.
#[utoipa::path(
    get,
    path = "/api/v1/evaluation/health",
    tag = "evaluation",
    operation_id = "evaluation_health",
    responses(
        (status = 200, description = "Service state", body = HealthResponse),
        (status = 500, description = "Unexpected failure", body = crate::error::HttpError),
    )
)]
pub(crate) async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = Arc::clone(&state.repository);
    let (storage, remote) = blocking(move || Ok((store.health(), store.remote_health()))).await?;
    // "Nearly full": not room for one more upload of the largest size.
    let degraded = !storage.writable
        || storage.free_bytes < state.limits.max_upload_bytes
        || storage.durability_errors > 0
        || remote.as_ref().is_some_and(|r| !r.reachable);
    Ok(HttpResponse::Ok().json(HealthResponse {
        status: if degraded {
            HealthStatus::Degraded
        } else {
            HealthStatus::Ok
        },
        version: env!("CARGO_PKG_VERSION").to_owned(),
        storage: StorageStatus {
            writable: storage.writable,
            free_bytes: storage.free_bytes,
            durability_errors: storage.durability_errors,
            backend: remote.as_ref().map_or("local", |r| r.backend).to_owned(),
            bucket: remote.as_ref().map(|r| r.bucket.clone()),
            prefix: remote.as_ref().map(|r| r.prefix.clone()),
            last_sync: remote.as_ref().map(|r| {
                r.last_sync.and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
            }),
            lag_seconds: remote.as_ref().map(|r| r.lag_seconds),
            errors: remote.as_ref().map(|r| r.errors),
            rejected_objects: remote.as_ref().map(|r| r.rejected_objects),
        },
        uploads: {
            let load = state.ingest.load().snapshot();
            UploadsStatus {
                in_flight: load.in_flight,
                max_concurrent: load.cap,
                refused: load.refused,
                idle_drops: load.idle_drops,
            }
        },
        replica: remote.as_ref().map(|r| {
            let p = &r.replica;
            ReplicaStatus {
                mode: p.mode.to_owned(),
                budget_bytes: p.budget_bytes,
                local_bytes: p.local_bytes,
                local_files: p.local_files,
                pinned_bytes: p.pinned_bytes,
                pins_over_budget: p.pins_over_budget,
                leases: p.leases,
                hits: p.hits,
                misses: p.misses,
                evictions: p.evictions,
                fetches_in_flight: p.fetches_in_flight,
            }
        }),
        installs: state.installs().map(|installs| {
            let (by_state, bytes_fetched) = installs.figures();
            let count = |s| by_state.get(&s).copied().unwrap_or(0);
            InstallsStatus {
                queued: count(InstallStatus::Queued),
                downloading: count(InstallStatus::Downloading),
                checking: count(InstallStatus::Checking),
                done: count(InstallStatus::Done),
                failed: count(InstallStatus::Failed),
                cancelled: count(InstallStatus::Cancelled),
                bytes_fetched,
                concurrency: installs.concurrency(),
            }
        }),
        evaluator: state.ingest.check.describe(),
    }))
}
