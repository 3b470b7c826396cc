//! `GET /api/v1/evaluation/health`: no auth, no secrets, no absolute paths.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::blocking;
use crate::{ApiError, AppState};

/// Storage facts in the health report.
#[derive(Debug, Clone, Serialize)]
pub struct StorageStatus {
    /// Whether a file can be created in the data directory.
    pub writable: bool,
    /// Bytes free for the service.
    pub free_bytes: u64,
}

/// The health report.
#[derive(Debug, Clone, Serialize)]
pub struct HealthResponse {
    /// `ok`, or `degraded` when the data directory is not writable or nearly full.
    pub status: &'static str,
    /// The service version.
    pub version: &'static str,
    /// Storage facts.
    pub storage: StorageStatus,
    /// What the content check and the evaluation route offer.
    pub evaluator: serde_json::Value,
}

pub(crate) async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = Arc::clone(&state.store);
    let storage = blocking(move || Ok(store.health())).await?;
    // "Nearly full": not room for one more upload of the largest size.
    let degraded = !storage.writable || storage.free_bytes < state.max_upload_bytes;
    Ok(HttpResponse::Ok().json(HealthResponse {
        status: if degraded { "degraded" } else { "ok" },
        version: env!("CARGO_PKG_VERSION"),
        storage: StorageStatus {
            writable: storage.writable,
            free_bytes: storage.free_bytes,
        },
        evaluator: state.content_check.describe(),
    }))
}
