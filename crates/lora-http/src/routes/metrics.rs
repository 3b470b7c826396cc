//! `GET /metrics`: Prometheus text format (operators' route, not in the OpenAPI document).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use lora_core::EntityType;

use super::blocking;
use crate::observe::metrics::{Entity, InstallState, ReplicaEvent, ReplicaFigure};
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
    let local = Arc::clone(&state.local);
    let metrics = Arc::clone(&state.metrics);
    if let Some(installs) = state.installs() {
        let (by_state, _) = installs.figures();
        for (status, count) in by_state {
            metrics
                .install_jobs
                .get_or_create(&InstallState {
                    state: status.as_str().to_owned(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }
    blocking(move || {
        // A data directory that is gone is an outage, not an empty store: its figures are
        // reported as unknown (series absent, NaN), never as zeros a dashboard would read
        // as "everything deleted".
        if local.ensure_present().is_err() {
            metrics.storage_available.set(0);
            metrics.files.clear();
            metrics.file_bytes.clear();
            for gauge in [&metrics.bin_files, &metrics.bin_bytes, &metrics.free_bytes] {
                gauge.set(f64::NAN);
            }
            return Ok(());
        }
        metrics.storage_available.set(1);
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
            metrics.bin_files.set(bin.total as f64);
            let bytes: u64 = bin.items.iter().map(|e| e.len).sum();
            metrics.bin_bytes.set(bytes as f64);
        }
        let health = repo.health();
        metrics.free_bytes.set(health.free_bytes as f64);
        if let Some(remote) = repo.remote_health() {
            metrics.replica_lag.set(remote.lag_seconds as f64);
            let r = &remote.replica;
            let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            for (figure, value) in [
                ("budget_bytes", r.budget_bytes.map_or(-1, as_i64)),
                ("local_bytes", as_i64(r.local_bytes)),
                ("local_files", as_i64(r.local_files as u64)),
                ("pinned_bytes", as_i64(r.pinned_bytes)),
                ("leases", as_i64(r.leases as u64)),
                ("fetches_in_flight", as_i64(r.fetches_in_flight as u64)),
            ] {
                metrics
                    .replica
                    .get_or_create(&ReplicaFigure {
                        figure: figure.to_owned(),
                    })
                    .set(value);
            }
            // The fleet counts since start; the counters catch up with it.
            for (event, total) in [
                ("hit", r.hits),
                ("miss", r.misses),
                ("eviction", r.evictions),
            ] {
                let counter = metrics.replica_events.get_or_create(&ReplicaEvent {
                    event: event.to_owned(),
                });
                counter.inc_by(total.saturating_sub(counter.get()));
            }
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
