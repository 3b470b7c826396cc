//! `GET /metrics`: Prometheus text format (operators' route, not in the OpenAPI document).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use lora_core::EntityType;

use super::blocking;
use crate::observe::metrics::Entity;
use crate::{ApiError, AppState};

/// The storage figures read at scrape time, then the whole registry.
pub(crate) async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &state.metrics_token {
        let sent = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if sent.map(str::trim) != Some(token.as_ref()) {
            return Err(ApiError::Auth(lora_auth::AuthError::MissingCredentials));
        }
    }
    let repo = Arc::clone(&state.repository);
    let metrics = Arc::clone(&state.metrics);
    blocking(move || {
        // Best effort: a figure that cannot be read now keeps its last value.
        if let Ok(listing) = repo.list(None, 0, usize::MAX) {
            let mut per_entity: BTreeMap<EntityType, (i64, i64)> =
                EntityType::ALL.iter().map(|e| (*e, (0, 0))).collect();
            for file in &listing.items {
                let e = per_entity.entry(file.partial_path.entity()).or_default();
                e.0 += 1;
                e.1 += i64::try_from(file.len).unwrap_or(i64::MAX);
            }
            for (entity, (files, bytes)) in per_entity {
                let label = Entity {
                    entity_type: entity.to_string(),
                };
                metrics.files.get_or_create(&label).set(files);
                metrics.file_bytes.get_or_create(&label).set(bytes);
            }
        }
        if let Ok(bin) = repo.list_bin(None, 0, usize::MAX) {
            metrics
                .bin_files
                .set(i64::try_from(bin.total).unwrap_or(i64::MAX));
            let bytes: u64 = bin.items.iter().map(|e| e.len).sum();
            metrics
                .bin_bytes
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let health = repo.health();
        metrics
            .free_bytes
            .set(i64::try_from(health.free_bytes).unwrap_or(i64::MAX));
        if let Some(remote) = repo.remote_health() {
            metrics.replica_lag.set(remote.lag_seconds as f64);
            metrics
                .remote_errors
                .set(i64::try_from(remote.errors).unwrap_or(i64::MAX));
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.encode()))
}
