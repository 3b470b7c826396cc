//! [`Fleet`]: the [`Repository`] over a bucket with this node's replica.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use lora_core::{EntityType, PartialPath, SafeFileName, Sha256, versioned_file_name};
use lora_inspect::ContentCheck;
use lora_store::{
    BinEntry, BinListing, Binned, Listing, LiveFile, OnClash, Page, Published, Purged,
    RemoteHealth, Repository, Restored, StagedFile, Store, StoreError,
};
use object_store::path::Path;
use time::OffsetDateTime;

use crate::bucket::{Bucket, DownloadError, Listed};
use crate::keys::Keys;
use crate::replica::Manifest;
use crate::{FleetConfig, FleetError};

/// How many names a publish tries before giving up (`name`, `name_v2`, …).
const MAX_VERSIONS: u32 = 100_000;

/// A live object as the index knows it.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub listed: Listed,
    pub sha256: Option<Sha256>,
}

/// The last listing of the bucket's live files.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub live: BTreeMap<PartialPath, Known>,
    pub loaded: bool,
}

/// Fleet mode: an S3-compatible bucket is the truth, and this node's data directory is
/// a replica the diffusion pipeline reads.
///
/// Every change goes to the bucket first, through writes that cannot overwrite
/// (conditional copies), then to the local replica before the answer; a background
/// [`sync`](Self::spawn_sync) brings in what other nodes changed.
pub struct Fleet {
    pub(crate) store: Arc<Store>,
    pub(crate) bucket: Bucket,
    pub(crate) keys: Keys,
    pub(crate) config: FleetConfig,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) index: Mutex<Index>,
    /// Serialises changes to the replica and its manifest (requests and the sync).
    pub(crate) replica: Mutex<Manifest>,
    pub(crate) check: Arc<dyn ContentCheck>,
    pub(crate) errors: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) reachable: AtomicBool,
    pub(crate) last_sync: Mutex<Option<(Instant, OffsetDateTime)>>,
    pub(crate) started: Instant,
    /// Objects the content rule refused, by key and ETag: not downloaded again.
    pub(crate) refused: Mutex<BTreeMap<String, Option<String>>>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("bucket", &self.config.bucket)
            .field("prefix", &self.config.prefix)
            .field("replica", &self.store.layout().data_dir())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// A fleet node over `store` (its replica) and the bucket `config` names; `check` is
    /// the content check objects from the bucket must pass before they are written here.
    ///
    /// # Errors
    ///
    /// [`FleetError::Config`] when the S3 client cannot be built, [`FleetError::Runtime`]
    /// when its I/O threads cannot start.
    pub fn open(
        store: Arc<Store>,
        config: FleetConfig,
        check: Arc<dyn ContentCheck>,
    ) -> Result<Arc<Self>, FleetError> {
        let bucket = Bucket::s3(&config)?;
        Self::with_bucket(store, config, bucket, check)
    }

    pub(crate) fn with_bucket(
        store: Arc<Store>,
        config: FleetConfig,
        bucket: Bucket,
        check: Arc<dyn ContentCheck>,
    ) -> Result<Arc<Self>, FleetError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lora-fleet-io")
            .enable_all()
            .build()
            .map_err(FleetError::Runtime)?;
        let replica = Manifest::load(store.layout().state_dir());
        Ok(Arc::new(Self {
            keys: Keys::new(&config.prefix),
            store,
            bucket,
            config,
            runtime,
            index: Mutex::new(Index::default()),
            replica: Mutex::new(replica),
            check,
            errors: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            reachable: AtomicBool::new(true),
            last_sync: Mutex::new(None),
            started: Instant::now(),
            refused: Mutex::new(BTreeMap::new()),
        }))
    }

    /// Runs bucket I/O to its end from a blocking thread.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A bucket failure as the routes see it, counted.
    pub(crate) fn remote(&self, op: &'static str, e: impl std::fmt::Display) -> StoreError {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.reachable.store(false, Ordering::Relaxed);
        StoreError::Remote {
            op,
            reason: e.to_string(),
        }
    }

    pub(crate) fn reached(&self) {
        self.reachable.store(true, Ordering::Relaxed);
    }

    pub(crate) fn lock_replica(&self) -> MutexGuard<'_, Manifest> {
        self.replica
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn lock_index(&self) -> MutexGuard<'_, Index> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Copies `from` to the first free of `candidates` under `key_of`, never replacing;
    /// with [`OnClash::Refuse`] only the first is tried.
    /// `Ok(Err(wanted))` when every candidate is taken.
    async fn create_first_free(
        &self,
        from: &Path,
        wanted: &PartialPath,
        candidates: impl Iterator<Item = PartialPath>,
        key_of: impl Fn(&PartialPath) -> Path,
        on_clash: OnClash,
    ) -> Result<Result<PartialPath, PartialPath>, object_store::Error> {
        for candidate in candidates {
            if self.bucket.create_copy(from, &key_of(&candidate)).await? {
                return Ok(Ok(candidate));
            }
            if on_clash == OnClash::Refuse {
                break;
            }
        }
        Ok(Err(wanted.clone()))
    }

    /// Downloads `key` into a staged file, checks its SHA-256 against `expected` and the
    /// content rule, and installs it at `path` in the replica (recorded in the manifest).
    /// `Ok(false)`: the object is gone.
    pub(crate) fn materialise(
        &self,
        key: &Path,
        path: &PartialPath,
        expected: Option<Sha256>,
    ) -> Result<bool, StoreError> {
        let mut upload = self.store.stage()?;
        let got = self.block_on(self.bucket.download(key, |chunk| upload.write(&chunk)));
        match got {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(DownloadError::Bucket(e)) => return Err(self.remote("download", e)),
            Err(DownloadError::Local(e)) => return Err(e),
        }
        let staged = upload.finish()?;
        if let Some(expected) = expected
            && expected != staged.sha256()
        {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%path, "a downloaded object does not match its sha256 metadata; not materialised");
            return Err(StoreError::Remote {
                op: "verify a download",
                reason: format!("{path}: the bytes do not match the object's sha256"),
            });
        }
        let extension = lora_core::Extension::of_file_name(path.file_name());
        if let Some(extension) = extension
            && let Err(rejection) = self.check.check(staged.path().as_std_path(), extension)
        {
            if !rejection.is_refusal() {
                return Err(StoreError::Io {
                    op: "check the content of",
                    path: staged.path().to_owned(),
                    source: std::io::Error::other(rejection.to_string()),
                });
            }
            self.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%path, reason = %rejection, "an object in the bucket fails the content rules; not materialised");
            return Err(StoreError::ContentRefused {
                path: path.clone(),
                reason: rejection.to_string(),
            });
        }
        let sha = staged.sha256();
        let mut replica = self.lock_replica();
        self.store.install(staged, path)?;
        replica.insert(&path.to_string(), sha);
        replica.save();
        Ok(true)
    }

    /// Removes a replicated file from the local folder for good. The bucket's bin is the
    /// fleet's only bin: a local copy kept aside would never be listed, restored or
    /// purged, and would stay on this node's disk forever. Whether a file was removed.
    pub(crate) fn dematerialise(&self, path: &PartialPath) -> bool {
        let mut replica = self.lock_replica();
        // Through the local bin, so the removal is the store's careful sequence.
        let removed = match self
            .store
            .delete(path)
            .and_then(|binned| self.store.purge(&binned.bin_partial_path))
        {
            Ok(_) => true,
            Err(StoreError::NotFound { .. }) => false,
            Err(e) => {
                tracing::warn!(%path, error = %e, "cannot remove a replicated file");
                return false;
            }
        };
        replica.remove(&path.to_string());
        replica.save();
        removed
    }

    /// The live index, loaded now if it never was.
    fn ensure_index(&self) -> Result<(), StoreError> {
        if self.lock_index().loaded {
            return Ok(());
        }
        self.refresh_index().map(|_| ())
    }

    /// Lists the bucket's live files into the index (keeping known SHA-256s).
    pub(crate) fn refresh_index(&self) -> Result<Vec<(PartialPath, Listed)>, StoreError> {
        let listed = self
            .block_on(self.bucket.list(&self.keys.live_root()))
            .map_err(|e| self.remote("list the bucket", e))?;
        self.reached();
        let root = self.keys.live_root();
        let objects: Vec<(PartialPath, Listed)> = listed
            .into_iter()
            .filter_map(|l| Some((self.keys.partial(&root, &l.key)?, l)))
            .collect();
        let mut index = self.lock_index();
        let mut live = BTreeMap::new();
        for (path, listed) in &objects {
            let sha256 = index
                .live
                .get(path)
                .filter(|k| k.listed.etag == listed.etag && k.listed.size == listed.size)
                .and_then(|k| k.sha256);
            live.insert(
                path.clone(),
                Known {
                    listed: listed.clone(),
                    sha256,
                },
            );
        }
        index.live = live;
        index.loaded = true;
        Ok(objects)
    }

    fn bin_entries(&self) -> Result<Vec<BinEntry>, StoreError> {
        let (bin, journal) = self
            .block_on(async {
                let bin = self.bucket.list(&self.keys.bin_root()).await?;
                let journal = self.bucket.list(&self.keys.journal_root()).await?;
                let mut origins = BTreeMap::new();
                for entry in journal {
                    if let (Some(bin_path), Some(bytes)) = (
                        self.keys.journaled(&entry.key),
                        self.bucket.get_small(&entry.key).await?,
                    ) && let Some(original) = serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| {
                            v["original"]
                                .as_str()
                                .and_then(|s| PartialPath::parse(s).ok())
                        })
                    {
                        origins.insert(bin_path, original);
                    }
                }
                Ok::<_, object_store::Error>((bin, origins))
            })
            .map_err(|e| self.remote("list the bin", e))?;
        self.reached();
        let root = self.keys.bin_root();
        let mut entries: Vec<BinEntry> = bin
            .into_iter()
            .filter_map(|l| {
                let bin_path = self.keys.partial(&root, &l.key)?;
                Some(BinEntry {
                    original: journal
                        .get(&bin_path)
                        .cloned()
                        .unwrap_or_else(|| bin_path.clone()),
                    bin_path,
                    len: l.size,
                    deleted_at: l.modified,
                    sha256: None,
                })
            })
            .collect();
        entries.sort_by_key(|e| e.bin_path.to_string());
        Ok(entries)
    }

    fn purge_entries(&self, entries: &[BinEntry]) -> Result<Purged, StoreError> {
        let mut purged = Purged { files: 0, bytes: 0 };
        for entry in entries {
            self.block_on(async {
                self.bucket.delete(&self.keys.bin(&entry.bin_path)).await?;
                self.bucket
                    .delete(&self.keys.journal(&entry.bin_path))
                    .await
            })
            .map_err(|e| self.remote("purge from the bin", e))?;
            purged.files += 1;
            purged.bytes += entry.len;
        }
        Ok(purged)
    }
}

fn versions(path: &PartialPath) -> impl Iterator<Item = PartialPath> + '_ {
    (1..=MAX_VERSIONS).filter_map(move |n| {
        PartialPath::from_parts(path.entity(), &versioned_file_name(path.file_name(), n)).ok()
    })
}

impl Repository for Fleet {
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

    fn publish(
        &self,
        staged: StagedFile,
        entity: EntityType,
        name: &SafeFileName,
        on_clash: OnClash,
    ) -> Result<Published, StoreError> {
        let wanted = PartialPath::new(entity, name.clone());
        let staging = self
            .keys
            .staging(&format!("{}-{}", replica_id(), staged.sha256().to_hex()));
        // Names the index knows to be taken are skipped; the conditional copy decides.
        // Only this name's versions can clash: the index range of the entity, this stem.
        let stem = name
            .as_str()
            .rsplit_once('.')
            .map_or(name.as_str(), |(s, _)| s);
        let taken: Vec<PartialPath> = self
            .lock_index()
            .live
            .keys()
            .filter(|p| p.entity() == entity && p.file_name().starts_with(stem))
            .cloned()
            .collect();
        let candidates = versions(&wanted).filter(|c| {
            on_clash == OnClash::Refuse || c == &wanted || taken.binary_search(c).is_err()
        });
        let result = self.block_on(async {
            self.bucket
                .upload_file(staged.path().as_std_path(), &staging, staged.sha256())
                .await?;
            let placed = self
                .create_first_free(
                    &staging,
                    &wanted,
                    candidates,
                    |p| self.keys.live(p),
                    on_clash,
                )
                .await;
            // The staging key goes whatever happened (the sweep catches a failure here).
            let _ = self.bucket.delete(&staging).await;
            placed
        });
        let placed = match result {
            Ok(Ok(placed)) => placed,
            Ok(Err(first)) => return Err(StoreError::AlreadyExists { path: first }),
            Err(e) => return Err(self.remote("upload to the bucket", e)),
        };
        self.reached();
        let (len, sha256) = (staged.len(), staged.sha256());
        {
            let mut index = self.lock_index();
            index.live.insert(
                placed.clone(),
                Known {
                    listed: Listed {
                        key: self.keys.live(&placed),
                        size: len,
                        modified: OffsetDateTime::now_utc(),
                        etag: None,
                    },
                    sha256: Some(sha256),
                },
            );
        }
        // The object is live in the bucket: now on this node's disk, before the answer.
        let mut replica = self.lock_replica();
        let published = self.store.install(staged, &placed)?;
        replica.insert(&placed.to_string(), sha256);
        replica.save();
        Ok(published)
    }

    fn delete(&self, path: &PartialPath) -> Result<Binned, StoreError> {
        let live = self.keys.live(path);
        let head = self
            .block_on(self.bucket.head(&live))
            .map_err(|e| self.remote("look up a file in the bucket", e))?;
        self.reached();
        if head.is_none() {
            // Not in the bucket: a file placed on this node by hand is still this node's.
            return self.store.delete(path);
        }
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
                    let journal = serde_json::json!({ "original": path.to_string() });
                    self.bucket
                        .create_small(
                            &self.keys.journal(bin_path),
                            journal.to_string().into_bytes(),
                        )
                        .await?;
                }
                self.bucket.delete(&live).await?;
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
        let items = matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(path, known)| LiveFile {
                partial_path: path.clone(),
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
        let head = self
            .block_on(self.bucket.head(&from))
            .map_err(|e| self.remote("look up a bin entry", e))?;
        let sha256 = head.and_then(|(_, sha)| sha);
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
            if placed.is_ok() {
                self.bucket.delete(&from).await?;
                self.bucket.delete(&self.keys.journal(bin_path)).await?;
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
        self.materialise(&self.keys.live(&restored), &restored, sha256)?;
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
        let purged = self.purge_entries(&old)?;
        // The local bin (hand-placed files binned here, and copies earlier versions moved
        // aside) follows the same period.
        let local = self.store.purge_before(cutoff.into())?;
        let purged = Purged {
            files: purged.files + local.files,
            bytes: purged.bytes + local.bytes,
        };
        Ok(purged)
    }

    fn remote_health(&self) -> Option<RemoteHealth> {
        let last = *self
            .last_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let since = last.map_or(self.started, |(at, _)| at);
        Some(RemoteHealth {
            backend: "s3",
            bucket: self.config.bucket.clone(),
            prefix: self.config.prefix.clone(),
            last_sync: last.map(|(_, t)| t),
            lag_seconds: since.elapsed().as_secs(),
            errors: self.errors.load(Ordering::Relaxed),
            rejected_objects: self.rejected.load(Ordering::Relaxed),
            reachable: self.reachable.load(Ordering::Relaxed),
        })
    }
}

/// This process's part of staging keys: distinct per node and process.
fn replica_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!(
        "{}-{}-{}",
        host.trim(),
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}
