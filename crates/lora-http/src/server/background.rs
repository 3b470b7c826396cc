//! The background tasks a served state needs: the bin retention and the sweep of
//! abandoned resumable uploads.

use std::time::Duration;

use actix_web::web;

use crate::AppState;

/// Starts the bin retention task on the current actix/tokio runtime when `state` has a
/// retention period ([`AppState::with_bin_retention`]); `None` otherwise. Call it once per
/// process: it purges entries older than the period now, then every tenth of it (between
/// a second and an hour). Dropping the handle does not stop the task; aborting it does.
pub fn spawn_retention(state: &AppState) -> Option<actix_web::rt::task::JoinHandle<()>> {
    let retention = state.bin_retention?;
    Some(actix_web::rt::spawn(retention_task(
        std::sync::Arc::clone(&state.repository),
        std::sync::Arc::clone(&state.events),
        state.catalogue.clone(),
        retention,
    )))
}

/// Removes expired resumable (tus) uploads now, then every minute (or every tenth of the
/// expiry, if shorter), on the blocking pool. [`crate::run`] starts it; a service that mounts
/// [`crate::configure`] calls it once.
pub fn spawn_upload_sweep(state: &AppState) -> actix_web::rt::task::JoinHandle<()> {
    let uploads = std::sync::Arc::clone(&state.uploads);
    let clock = std::sync::Arc::clone(&state.ingest.clock);
    let every =
        (state.limits.upload_expiry / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    actix_web::rt::spawn(async move {
        loop {
            let uploads = std::sync::Arc::clone(&uploads);
            let now = clock.now();
            if let Ok(swept) = web::block(move || uploads.sweep(now)).await
                && swept > 0
            {
                tracing::info!(swept, "removed expired resumable uploads");
            }
            actix_web::rt::time::sleep(every).await;
        }
    })
}

/// The background tasks a served [`AppState`] needs: the bin retention (when set) and the
/// sweep of expired resumable uploads. [`crate::run`] starts them; a service that mounts
/// [`crate::configure`] calls [`spawn_background`] once, on its runtime.
#[derive(Debug)]
pub struct Background {
    /// The retention task, when the state has a retention period.
    pub retention: Option<actix_web::rt::task::JoinHandle<()>>,
    /// The sweep of expired resumable uploads.
    pub upload_sweep: actix_web::rt::task::JoinHandle<()>,
    /// The catalogue's passes (files placed by hand, headers to read), when it opened.
    pub catalogue: Option<actix_web::rt::task::JoinHandle<()>>,
}

/// Goes on with the install jobs a restart found unfinished (each a task of its own,
/// [`crate::InstallConfig::concurrency`] downloading at once).
pub fn resume_installs(state: &AppState) {
    if let Some(installs) = state.installs() {
        crate::install::resume(installs, &state.ingest, state.limits.max_upload_bytes);
    }
}

impl Background {
    /// Stops both tasks.
    pub fn abort(&self) {
        if let Some(retention) = &self.retention {
            retention.abort();
        }
        self.upload_sweep.abort();
        if let Some(catalogue) = &self.catalogue {
            catalogue.abort();
        }
    }
}

/// Starts every background task `state` needs ([`spawn_retention`],
/// [`spawn_upload_sweep`], the catalogue's passes, and the unfinished installs of
/// [`resume_installs`]) on the current actix/tokio runtime. Call it once per process;
/// dropping the handles does not stop the tasks, [`Background::abort`] does.
pub fn spawn_background(state: &AppState) -> Background {
    resume_installs(state);
    Background {
        retention: spawn_retention(state),
        upload_sweep: spawn_upload_sweep(state),
        catalogue: state
            .catalogue
            .clone()
            .map(|c| actix_web::rt::spawn(crate::catalogue::run(c))),
    }
}

/// Purges bin entries older than `retention` now, then every `retention / 10` (between a
/// second and an hour), on the blocking pool.
async fn retention_task(
    store: std::sync::Arc<dyn lora_store::Repository>,
    events: std::sync::Arc<crate::events::Events>,
    catalogue: Option<std::sync::Arc<crate::catalogue::Catalogue>>,
    retention: Duration,
) {
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        let store = std::sync::Arc::clone(&store);
        let (events, catalogue) = (std::sync::Arc::clone(&events), catalogue.clone());
        // Each entry it removes is announced, and its metadata forgotten.
        let purge = move || {
            let purged = store.apply_retention(retention)?;
            crate::catalogue::announce_purged(&events, catalogue.as_deref(), &purged);
            Ok::<_, lora_store::StoreError>(purged)
        };
        match web::block(purge).await {
            Ok(Ok(p)) if p.files() > 0 => {
                crate::observe::audit::purged(
                    &crate::observe::audit::Actor::server(),
                    crate::observe::audit::Action::Retention,
                    p.files(),
                    p.bytes,
                    None,
                );
                tracing::info!(
                    files = p.files(),
                    bytes = p.bytes,
                    "bin retention purged old entries"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "bin retention failed; will try again"),
            Err(e) => tracing::warn!(error = %e, "bin retention task could not run"),
        }
        actix_web::rt::time::sleep(every).await;
    }
}
