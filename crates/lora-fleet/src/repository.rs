//! The repository operations over the bucket: each change goes to the bucket first
//! (writes that cannot overwrite), then to this node's replica before the answer.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use lora_core::{EntityType, PartialPath, SafeFileName, Sha256};
use lora_store::{
    BinEntry, BinListing, Binned, Destination, Ensured, Listing, LiveFile, OnClash, Page,
    Published, Purged, RemoteHealth, ReplicaHealth, Repository, Restored, StagedFile, StagedUpload,
    StoreError,
};
use time::OffsetDateTime;

use crate::fleet::{Fleet, versions};
use crate::index::Known;
use crate::journal::JournalEntry;

impl Repository for Fleet {
    fn ensure(&self, path: &PartialPath, lease: Duration) -> Result<Ensured, StoreError> {
        // Leased before anything else, so a download under way is never evicted; a path
        // that names nothing gives its lease back.
        self.working.lease(path, lease);
        let ensured = self.ensure_leased(path);
        if ensured.as_ref().is_err_and(StoreError::is_not_found) {
            self.working.release(path);
        }
        ensured
    }

    fn health(&self) -> lora_store::StorageHealth {
        self.store.health()
    }

    fn ready_for_uploads(&self) -> Result<(), StoreError> {
        self.store.ensure_present()?;
        // One HEAD of a key that need not exist: it answers whether the bucket does.
        match self.block_on(self.bucket.head(&self.keys.staging_root())) {
            Ok(_) => {
                self.reached();
                Ok(())
            }
            Err(e) => Err(self.remote("reach the bucket before an upload", e)),
        }
    }

    fn uploads(&self) -> std::sync::Arc<dyn lora_store::Uploads> {
        // In the bucket: any node goes on with any upload.
        std::sync::Arc::clone(&self.uploads) as std::sync::Arc<dyn lora_store::Uploads>
    }

    fn stage(&self, destination: Option<&Destination>) -> Result<StagedUpload, StoreError> {
        self.stage_upload(destination)
    }

    fn publish(
        &self,
        staged: StagedFile,
        entity: EntityType,
        name: &SafeFileName,
        on_clash: OnClash,
    ) -> Result<Published, StoreError> {
        self.publish_upload(staged, entity, name, on_clash)
    }

    fn delete(&self, path: &PartialPath) -> Result<Binned, StoreError> {
        let live = self.keys.live(path);
        let looked = self
            .block_on(self.look(&live))
            .map_err(|e| self.remote("look up a file in the bucket", e))?;
        self.reached();
        let Some(looked) = looked else {
            // Not in the bucket: a file placed on this node by hand is still this node's.
            return self.store.delete(path);
        };
        let bin = self.block_on(async {
            let bin = self
                .create_first_free(
                    &live,
                    path,
                    versions(path),
                    |p| self.keys.bin(p),
                    OnClash::Version,
                )
                .await?;
            if let Ok(bin_path) = &bin {
                if bin_path != path {
                    let journal = JournalEntry {
                        original: path.clone(),
                    };
                    // The bin name was just taken by the conditional copy: a journal there
                    // is a stale one, replaced.
                    self.bucket
                        .put_small(&self.keys.journal(bin_path), journal.to_bytes())
                        .await?;
                }
                self.carry_sum(&looked, &self.keys.bin(bin_path)).await;
                self.bucket.delete(&live).await?;
                if looked.from_sum {
                    self.drop_sum(&live).await?;
                }
            }
            Ok::<_, object_store::Error>(bin)
        });
        let bin_path = match bin {
            Ok(Ok(bin_path)) => bin_path,
            Ok(Err(_)) => {
                return Err(StoreError::Remote {
                    op: "move to the bin",
                    reason: "no free name in the bin".into(),
                });
            }
            Err(e) => return Err(self.remote("move to the bin", e)),
        };
        self.lock_index().live.remove(path);
        let layout = self.store.layout();
        self.dematerialise(path);
        Ok(Binned {
            partial_path: path.clone(),
            live_path: layout.live_path(path),
            bin_partial_path: bin_path.clone(),
            bin_path: layout.bin_path(&bin_path),
        })
    }

    fn list(
        &self,
        entity: Option<EntityType>,
        offset: usize,
        limit: usize,
    ) -> Result<Listing, StoreError> {
        self.ensure_index()?;
        let index = self.lock_index();
        let matching: Vec<(&PartialPath, &Known)> = index
            .live
            .iter()
            .filter(|(p, _)| entity.is_none_or(|e| p.entity() == e))
            .collect();
        let total = matching.len();
        let page: Vec<(PartialPath, Known)> = matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(path, known)| (path.clone(), known.clone()))
            .collect();
        drop(index);
        // Whether this node holds each file: one stat per listed item, outside the lock.
        let items = page
            .into_iter()
            .map(|(path, known)| LiveFile {
                local: Some(self.store.examine(&path).is_ok()),
                partial_path: path,
                len: known.listed.size,
                modified: known.listed.modified,
                sha256: known.sha256,
            })
            .collect();
        Ok(Page { items, total })
    }

    fn list_bin(
        &self,
        entity: Option<EntityType>,
        offset: usize,
        limit: usize,
    ) -> Result<BinListing, StoreError> {
        let mut entries = self.bin_entries()?;
        // Files placed on this node by hand and deleted through it are binned here, in the
        // local bin: listed too (after the bucket's, under a name the bucket's bin lacks).
        let local = self.store.list_bin(None, 0, usize::MAX)?;
        let in_bucket: std::collections::BTreeSet<PartialPath> =
            entries.iter().map(|e| e.bin_path.clone()).collect();
        entries.extend(
            local
                .items
                .into_iter()
                .filter(|e| !in_bucket.contains(&e.bin_path)),
        );
        entries.sort_by(|a, b| a.bin_path.cmp(&b.bin_path));
        let entries: Vec<BinEntry> = entries
            .into_iter()
            .filter(|e| entity.is_none_or(|x| e.bin_path.entity() == x))
            .collect();
        let total = entries.len();
        Ok(Page {
            items: entries.into_iter().skip(offset).take(limit).collect(),
            total,
        })
    }

    fn restore(&self, bin_path: &PartialPath, on_clash: OnClash) -> Result<Restored, StoreError> {
        let Some(entry) = self
            .bin_entries()?
            .into_iter()
            .find(|e| &e.bin_path == bin_path)
        else {
            // Not the bucket's: a hand-placed file binned on this node goes back here.
            return self.store.restore(bin_path, on_clash);
        };
        let from = self.keys.bin(bin_path);
        let looked = self
            .block_on(self.look(&from))
            .map_err(|e| self.remote("look up a bin entry", e))?;
        let size = looked.as_ref().map(|l| l.listed.size);
        let sha256 = looked.as_ref().and_then(|l| l.sha256);
        let placed = self.block_on(async {
            let placed = self
                .create_first_free(
                    &from,
                    &entry.original,
                    versions(&entry.original),
                    |p| self.keys.live(p),
                    on_clash,
                )
                .await?;
            if let Ok(placed) = &placed {
                if let Some(looked) = &looked {
                    self.carry_sum(looked, &self.keys.live(placed)).await;
                }
                self.bucket.delete(&from).await?;
                self.bucket.delete(&self.keys.journal(bin_path)).await?;
                if looked.as_ref().is_some_and(|l| l.from_sum) {
                    self.drop_sum(&from).await?;
                }
            }
            Ok::<_, object_store::Error>(placed)
        });
        let restored = match placed {
            Ok(Ok(placed)) => placed,
            Ok(Err(first)) => return Err(StoreError::AlreadyExists { path: first }),
            Err(e) => return Err(self.remote("restore from the bin", e)),
        };
        self.reached();
        // Live again in the bucket: on this node's disk before the answer.
        self.materialise(&self.keys.live(&restored), &restored, sha256, size)?;
        let _ = self.refresh_index();
        Ok(Restored {
            path: self.store.layout().live_path(&restored),
            partial_path: restored,
            bin_path: bin_path.clone(),
        })
    }

    fn purge(&self, bin_path: &PartialPath) -> Result<Purged, StoreError> {
        let entries = self.bin_entries()?;
        match entries.iter().find(|e| &e.bin_path == bin_path) {
            Some(entry) => self.purge_entries(std::slice::from_ref(entry)),
            // Not the bucket's: this node's own bin entry.
            None => self.store.purge(bin_path),
        }
    }

    fn purge_before(&self, cutoff: SystemTime) -> Result<Purged, StoreError> {
        let cutoff = OffsetDateTime::from(cutoff);
        let old: Vec<BinEntry> = self
            .bin_entries()?
            .into_iter()
            .filter(|e| e.deleted_at < cutoff)
            .collect();
        let mut purged = self.purge_entries(&old)?;
        // The local bin (hand-placed files binned here, and copies earlier versions moved
        // aside) follows the same period.
        purged.add(self.store.purge_before(cutoff.into())?);
        Ok(purged)
    }

    fn remote_health(&self) -> Option<RemoteHealth> {
        let mut health = self.vitals.health(&self.config);
        health.replica = self.replica_health();
        Some(health)
    }

    fn on_change(&self, listener: std::sync::Arc<dyn Fn() + Send + Sync>) {
        self.sync
            .listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(listener);
    }

    fn shares_meta(&self) -> bool {
        true
    }

    fn get_meta(&self, path: &PartialPath, binned: bool) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.keys.meta(path, binned);
        self.block_on(self.bucket.get_small(&key))
            .map_err(|e| self.remote("read a file's metadata from the bucket", e))
    }

    fn put_meta(
        &self,
        path: &PartialPath,
        binned: bool,
        meta: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let key = self.keys.meta(path, binned);
        let done = match meta {
            Some(json) => self.block_on(self.bucket.put_small(&key, json)),
            None => self.block_on(self.bucket.delete(&key)),
        };
        done.map_err(|e| self.remote("keep a file's metadata in the bucket", e))
    }

    fn list_meta(&self) -> Result<Vec<(PartialPath, String)>, StoreError> {
        let root = self.keys.live_meta_root();
        let listed = self
            .block_on(self.bucket.list(&root))
            .map_err(|e| self.remote("list the metadata in the bucket", e))?;
        Ok(listed
            .into_iter()
            .filter_map(|l| {
                let rest = l
                    .key
                    .as_ref()
                    .strip_prefix(root.as_ref())?
                    .strip_prefix('/')?;
                let path = PartialPath::parse(rest.strip_suffix(".json")?).ok()?;
                Some((
                    path,
                    l.etag
                        .unwrap_or_else(|| l.modified.unix_timestamp_nanos().to_string()),
                ))
            })
            .collect())
    }

    fn put_facts(&self, sha256: &Sha256, facts: Vec<u8>) -> Result<(), StoreError> {
        let key = self.keys.facts(&sha256.to_hex());
        self.block_on(self.bucket.put_small(&key, facts))
            .map_err(|e| self.remote("keep a file's facts in the bucket", e))
    }

    fn get_facts(&self, sha256: &Sha256) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.keys.facts(&sha256.to_hex());
        self.block_on(self.bucket.get_small(&key))
            .map_err(|e| self.remote("read a file's facts from the bucket", e))
    }
}

impl Fleet {
    /// [`Repository::ensure`] once the lease is held.
    fn ensure_leased(&self, path: &PartialPath) -> Result<Ensured, StoreError> {
        // Without a first listing the bucket's files are unknown: a file here answers,
        // anything else waits for the bucket.
        if let Err(away) = self.ensure_index() {
            return self.store.ensure(path).map_err(|_| away);
        }
        let known = self.lock_index().live.get(path).cloned();
        let (sha, size) = match known {
            Some(known) => match known.sha256 {
                Some(sha) => (Some(sha), known.listed.size),
                None => (self.known_sha(path)?, known.listed.size),
            },
            None => {
                // Here already (placed by hand, or replicated), or uploaded elsewhere since
                // the last listing: the bucket says, with one HEAD.
                if let Ok(here) = self.store.ensure(path) {
                    return Ok(here);
                }
                let key = self.keys.live(path);
                let looked = self
                    .block_on(self.look(&key))
                    .map_err(|e| self.remote("look up a file in the bucket", e))?;
                self.reached();
                let Some(crate::sums::Looked {
                    listed,
                    sha256: sha,
                    ..
                }) = looked
                else {
                    return Err(StoreError::NotFound { path: path.clone() });
                };
                let size = listed.size;
                self.lock_index().live.insert(
                    path.clone(),
                    Known {
                        listed,
                        sha256: sha,
                    },
                );
                (sha, size)
            }
        };
        // Here, and the version the bucket has: one look at the disk answers.
        let current = |here: &Ensured| sha.is_none_or(|sha| sha == here.sha256);
        if let Ok(here) = self.store.ensure(path)
            && current(&here)
        {
            self.hit(path);
            return Ok(here);
        }
        // One download per file: a second caller waits here, then finds it on disk.
        let _flight = self.flights.take(path);
        if let Ok(here) = self.store.ensure(path)
            && current(&here)
        {
            self.hit(path);
            return Ok(here);
        }
        self.working.misses.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        if !self.materialise(&self.keys.live(path), path, sha, Some(size))? {
            // Gone from the bucket since the last listing.
            self.lock_index().live.remove(path);
            return Err(StoreError::NotFound { path: path.clone() });
        }
        let mut ensured = self.store.ensure(path)?;
        ensured.fetched = true;
        ensured.fetch_seconds = started.elapsed().as_secs_f64();
        Ok(ensured)
    }

    /// An ensure answered from this disk: counted, and the file used now.
    fn hit(&self, path: &PartialPath) {
        self.working.hits.fetch_add(1, Ordering::Relaxed);
        self.lock_replica().touch(path);
    }

    /// What this node keeps on its disk, for health.
    pub(crate) fn replica_health(&self) -> ReplicaHealth {
        let (local_bytes, local_files, pinned_bytes) = {
            let replica = self.lock_replica();
            replica
                .entries()
                .fold((0u64, 0usize, 0u64), |(bytes, files, pinned), (path, r)| {
                    let pin = if self.working.pinned(path) { r.size } else { 0 };
                    (bytes + r.size, files + 1, pinned + pin)
                })
        };
        let budget = self.working.budget();
        ReplicaHealth {
            mode: if budget.is_some() {
                "working_set"
            } else {
                "complete"
            },
            budget_bytes: budget,
            local_bytes,
            local_files,
            pinned_bytes,
            pins_over_budget: budget.is_some_and(|b| pinned_bytes > b),
            leases: self.working.leases(),
            hits: self.working.hits.load(Ordering::Relaxed),
            misses: self.working.misses.load(Ordering::Relaxed),
            evictions: self.working.evictions.load(Ordering::Relaxed),
            fetches_in_flight: self.flights.len(),
        }
    }
}
