//! The sync: every interval, each node lists the bucket and makes its replica match.
//!
//! Added or changed objects are downloaded into staging, checked (SHA-256 against the
//! object's metadata, then the content rules) and renamed into place; files the manifest
//! says came from the bucket and whose objects are gone move to the local bin. Staging
//! keys older than a day (uploads killed midway) are swept.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lora_core::PartialPath;
use time::OffsetDateTime;

use crate::Fleet;
use crate::replica::now;

/// Staging keys older than this are leftovers of uploads that died.
const STAGING_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Objects downloaded into the replica.
    pub downloaded: usize,
    /// Replicated files whose objects were gone, moved to the local bin.
    pub removed: usize,
    /// Objects kept off disk (content rules, SHA-256 mismatch) or that failed to download.
    pub failed: usize,
    /// Staging leftovers swept from the bucket.
    pub swept: usize,
}

impl Fleet {
    /// One sync pass, now.
    ///
    /// # Errors
    ///
    /// [`lora_store::StoreError::Remote`] when the bucket cannot be listed (the replica
    /// is left as it is).
    pub fn sync_once(&self) -> Result<SyncReport, lora_store::StoreError> {
        let started = now();
        let objects = self.refresh_index()?;
        let mut report = SyncReport::default();
        for (path, listed) in &objects {
            let key = path.to_string();
            if self
                .refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                .is_some_and(|etag| etag == &listed.etag)
            {
                continue;
            }
            let sha = match self.known_sha(path) {
                Ok(sha) => sha,
                Err(_) => {
                    report.failed += 1;
                    continue;
                }
            };
            if self.replica_has(path, sha) {
                continue;
            }
            match self.materialise(&listed.key, path, sha) {
                Ok(true) => report.downloaded += 1,
                Ok(false) => {}
                Err(e) => {
                    report.failed += 1;
                    if !matches!(e, lora_store::StoreError::Remote { .. }) {
                        self.refused
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(key, listed.etag.clone());
                    }
                    tracing::warn!(%path, error = %e, "cannot bring an object into the replica");
                }
            }
        }
        // Gone from the bucket: only files the bucket put here, and only those that were
        // here before the listing began (a publish racing this pass is not undone).
        let present: std::collections::BTreeSet<&PartialPath> =
            objects.iter().map(|(p, _)| p).collect();
        let gone: Vec<PartialPath> = self
            .lock_replica()
            .entries()
            .filter(|(_, r)| r.since < started)
            .filter_map(|(p, _)| PartialPath::parse(p).ok())
            .filter(|p| !present.contains(p))
            .collect();
        for path in gone {
            if self.dematerialise(&path) {
                report.removed += 1;
            }
        }
        report.swept = self.sweep_staging();
        *self
            .last_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), OffsetDateTime::now_utc()));
        if report != SyncReport::default() {
            tracing::info!(
                downloaded = report.downloaded,
                removed = report.removed,
                failed = report.failed,
                swept = report.swept,
                "synced with the bucket"
            );
        }
        Ok(report)
    }

    /// Runs [`sync_once`](Self::sync_once) now and then every interval, on its own
    /// thread, for the life of the process.
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn spawn_sync(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let fleet = Arc::clone(self);
        std::thread::Builder::new()
            .name("lora-fleet-sync".into())
            .spawn(move || {
                loop {
                    if let Err(e) = fleet.sync_once() {
                        tracing::warn!(error = %e, "sync with the bucket failed; the replica keeps serving");
                    }
                    std::thread::sleep(fleet.config.sync_interval);
                }
            })
    }

    /// The object's SHA-256, from the index or its metadata (one HEAD, remembered).
    fn known_sha(
        &self,
        path: &PartialPath,
    ) -> Result<Option<lora_core::Sha256>, lora_store::StoreError> {
        if let Some(sha) = self.lock_index().live.get(path).and_then(|k| k.sha256) {
            return Ok(Some(sha));
        }
        let head = self
            .block_on(self.bucket.head(&self.keys.live(path)))
            .map_err(|e| self.remote("look up an object", e))?;
        let sha = head.and_then(|(_, sha)| sha);
        if let Some(known) = self.lock_index().live.get_mut(path) {
            known.sha256 = sha;
        }
        Ok(sha)
    }

    /// Whether the replica already holds this version of the object.
    fn replica_has(&self, path: &PartialPath, sha: Option<lora_core::Sha256>) -> bool {
        let Ok(examined) = self.store.examine(path) else {
            return false;
        };
        match (examined.sha256, sha) {
            (Some(local), Some(remote)) => local == remote,
            // No hash on one side: the manifest's record of what was downloaded decides.
            (_, Some(remote)) => self
                .lock_replica()
                .get(&path.to_string())
                .is_some_and(|r| r.sha256 == remote.to_hex()),
            (_, None) => true,
        }
    }

    fn sweep_staging(&self) -> usize {
        let cutoff = OffsetDateTime::now_utc() - STAGING_MAX_AGE;
        let swept = self.block_on(async {
            let mut swept = 0;
            for object in self.bucket.list(&self.keys.staging_root()).await? {
                if object.modified < cutoff {
                    self.bucket.delete(&object.key).await?;
                    swept += 1;
                }
            }
            Ok::<_, object_store::Error>(swept)
        });
        swept.unwrap_or_else(|e| {
            self.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "cannot sweep the bucket's staging keys");
            0
        })
    }
}
