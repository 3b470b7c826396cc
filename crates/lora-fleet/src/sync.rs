//! The sync: every interval, each node lists the bucket and makes its replica match.
//!
//! Added or changed objects are downloaded into staging, checked (SHA-256 against the
//! object's metadata, then the content rules) and renamed into place; files the manifest
//! says came from the bucket and whose objects are gone are removed. On this node's turn
//! (one node per turn), staging keys and multipart uploads older than
//! `LORA_ABANDONED_UPLOAD_SECS` (a day; uploads killed midway) are swept. The thread stops when told to
//! ([`Fleet::stop_sync`]) or when the fleet is dropped.

use std::collections::HashSet;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::sync::{Arc, PoisonError};

use lora_core::PartialPath;
use time::OffsetDateTime;

use crate::bucket::OpenMultipart;
use crate::fleet::Fleet;
use crate::lease::{Lease, SWEEP_TURN};
use crate::replica::now;
use crate::sync_state::SyncThread;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Objects downloaded into the replica.
    pub downloaded: usize,
    /// Replicated files whose objects were gone, removed from this disk.
    pub removed: usize,
    /// Objects kept off disk (content rules, SHA-256 mismatch) or that failed to download.
    pub failed: usize,
    /// Staging leftovers and abandoned multipart uploads swept from the bucket (on this
    /// node's turn).
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
                .sync
                .refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
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
            // With a disk budget only pinned types, and what is here already, come unasked.
            let here = self.lock_replica().get(path).is_some();
            if !self.working.syncs(path, here) {
                continue;
            }
            match self.materialise(&listed.key, path, sha, Some(listed.size)) {
                Ok(true) => report.downloaded += 1,
                Ok(false) => {}
                Err(e) => {
                    report.failed += 1;
                    if !matches!(e, lora_store::StoreError::Remote { .. }) {
                        self.sync
                            .refused
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
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
            .filter(|(p, r)| r.since < started && !present.contains(p))
            .map(|(p, _)| p.clone())
            .collect();
        for path in gone {
            if self.dematerialise(&path) {
                report.removed += 1;
            }
        }
        report.swept = self.sweep_bucket();
        self.vitals.synced();
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
    /// thread, until [`Fleet::stop_sync`] or until the fleet is dropped (the thread holds
    /// it only while a pass runs). A second call while one runs starts nothing.
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn spawn_sync(self: &Arc<Self>) -> std::io::Result<()> {
        let mut running = self
            .sync
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if running.as_ref().is_some_and(|t| !t.handle.is_finished()) {
            return Ok(());
        }
        let (stop, stopped) = channel::<()>();
        let fleet = Arc::downgrade(self);
        let interval = self.config.sync_interval;
        let handle = std::thread::Builder::new()
            .name("lora-fleet-sync".into())
            .spawn(move || {
                loop {
                    let Some(fleet) = fleet.upgrade() else {
                        return;
                    };
                    if let Err(e) = fleet.sync_once() {
                        tracing::warn!(error = %e, "sync with the bucket failed; the replica keeps serving");
                    }
                    let listeners = fleet
                        .sync
                        .listeners
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    for listener in listeners {
                        listener();
                    }
                    drop(fleet);
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        *running = Some(SyncThread { stop, handle });
        Ok(())
    }

    /// Stops the sync thread, waiting for a pass under way to end.
    pub fn stop_sync(&self) {
        let thread = self
            .sync
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.stop.send(());
            let _ = thread.handle.join();
        }
    }

    /// The object's SHA-256, from the index or its metadata (one HEAD, remembered).
    pub(crate) fn known_sha(
        &self,
        path: &PartialPath,
    ) -> Result<Option<lora_core::Sha256>, lora_store::StoreError> {
        if let Some(sha) = self.lock_index().live.get(path).and_then(|k| k.sha256) {
            return Ok(Some(sha));
        }
        let looked = self
            .block_on(self.look(&self.keys.live(path)))
            .map_err(|e| self.remote("look up an object", e))?;
        let sha = looked.and_then(|l| l.sha256);
        if let Some(known) = self.lock_index().live.get_mut(path) {
            known.sha256 = sha;
        }
        Ok(sha)
    }

    /// Whether the replica already holds this version of the object.
    pub(crate) fn replica_has(&self, path: &PartialPath, sha: Option<lora_core::Sha256>) -> bool {
        let Ok(examined) = self.store.examine(path) else {
            return false;
        };
        match (examined.sha256, sha) {
            (Some(local), Some(remote)) => local == remote,
            // No hash on one side: the manifest's record of what was downloaded decides.
            (_, Some(remote)) => self
                .lock_replica()
                .get(path)
                .is_some_and(|r| r.sha256 == remote),
            (_, None) => true,
        }
    }

    /// On this node's turn (one node per turn, see `lease`): removes staging keys and
    /// aborts multipart uploads left longer than `abandoned_after` (a day by default) by
    /// uploads that died midway (a
    /// resumable upload's own is kept while its record names it: its expiry removes it).
    fn sweep_bucket(&self) -> usize {
        let cutoff = OffsetDateTime::now_utc() - self.config.abandoned_after;
        let swept = self.block_on(async {
            let node = &self.uploads.node;
            if !Lease::turn(&self.bucket, &self.keys.sweeper(), node, SWEEP_TURN).await? {
                return Ok(0);
            }
            let mut swept = 0;
            for object in self.bucket.list(&self.keys.staging_root()).await? {
                if object.modified < cutoff {
                    self.bucket.delete(&object.key).await?;
                    swept += 1;
                }
            }
            let open = self.bucket.open_multiparts(&self.keys.root()).await?;
            if open.iter().any(|o| o.initiated < cutoff) {
                let kept: HashSet<String> = self
                    .uploads
                    .all()
                    .await?
                    .into_iter()
                    .filter_map(|(_, record)| record.multipart)
                    .collect();
                for upload in abandoned(&open, &kept, cutoff) {
                    self.bucket.abort(&upload.key, &upload.id).await?;
                    tracing::info!(key = %upload.key, "aborted an abandoned multipart upload");
                    swept += 1;
                }
            }
            Ok::<_, object_store::Error>(swept)
        });
        swept.unwrap_or_else(|e| {
            self.vitals.failure();
            tracing::warn!(error = %e, "cannot sweep the bucket; the next turn will");
            0
        })
    }
}

/// The multipart uploads to abort: started before `cutoff`, and not one a resumable
/// upload's record still names.
pub(crate) fn abandoned<'a>(
    open: &'a [OpenMultipart],
    kept: &HashSet<String>,
    cutoff: OffsetDateTime,
) -> impl Iterator<Item = &'a OpenMultipart> {
    open.iter()
        .filter(move |o| o.initiated < cutoff && !kept.contains(&o.id))
}
