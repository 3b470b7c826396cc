//! [`Fleet`]: the [`lora_store::Repository`] over a bucket with this node's replica.
//!
//! The struct holds its parts, each in a module of its own: the bucket and its keys
//! (`bucket`, `keys`), the index of live objects (`index`), the replica's manifest
//! (`replica`), the link's health (`vitals`) and the sync thread's state (`sync`). What a
//! fleet does is spread by what it touches: bringing objects onto this disk
//! (`replicate`), the bucket's bin (`bin`), the repository operations (`repository`), and
//! the sync pass (`sync`).

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use lora_core::{PartialPath, versioned_file_name};
use lora_inspect::ContentCheck;
use lora_store::{OnClash, Store, StoreError};
use object_store::path::Path;

use crate::bucket::Bucket;
use crate::flight::Flights;
use crate::index::Index;
use crate::keys::Keys;
use crate::replica::Manifest;
use crate::sync_state::SyncState;
use crate::vitals::Vitals;
use crate::working_set::WorkingSet;
use crate::{FleetConfig, FleetError};

/// How many names a publish tries before giving up (`name`, `name_v2`, …).
pub(crate) const MAX_VERSIONS: u32 = 100_000;

/// Fleet mode: an S3-compatible bucket is the truth, and this node's data directory is
/// a replica the diffusion pipeline reads.
///
/// Every change goes to the bucket first, through writes that cannot overwrite
/// (conditional copies), then to the local replica before the answer; a background
/// [`sync`](Self::spawn_sync) brings in what other nodes changed.
pub struct Fleet {
    /// This node's replica: where the pipeline reads.
    pub(crate) store: Arc<Store>,
    /// The bucket, and where things live in it.
    pub(crate) bucket: Bucket,
    pub(crate) keys: Keys,
    pub(crate) config: FleetConfig,
    /// The bucket's I/O runs here, driven from blocking threads.
    runtime: tokio::runtime::Runtime,
    pub(crate) index: Mutex<Index>,
    /// Serialises changes to the replica and its manifest (requests and the sync).
    pub(crate) replica: Mutex<Manifest>,
    /// What objects from the bucket must pass before they reach this disk.
    pub(crate) check: Arc<dyn ContentCheck>,
    pub(crate) vitals: Arc<Vitals>,
    pub(crate) sync: SyncState,
    /// One download per file at a time (ensure).
    pub(crate) flights: Flights,
    /// The disk budget, pins and leases.
    pub(crate) working: WorkingSet,
    /// Whether uploads stream to their name and complete there with `If-None-Match`
    /// (until the store refuses it once).
    pub(crate) completes_conditionally: AtomicBool,
    /// Resumable uploads, kept in the bucket.
    pub(crate) uploads: Arc<crate::resumable::FleetUploads>,
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
        let mut replica = Manifest::load(store.layout().state_dir());
        // Manifests written before sizes were kept: the disk tells.
        replica.fill_in(|path| store.examine(path).ok().map(|e| e.len));
        let working = WorkingSet::new(config.budget, &config.pins);
        let bucket_completes = bucket.completes_conditionally();
        let keys = Keys::new(&config.prefix);
        let vitals = Arc::new(Vitals::new());
        let uploads = Arc::new(crate::resumable::FleetUploads {
            bucket: bucket.clone(),
            keys: keys.clone(),
            io: runtime.handle().clone(),
            vitals: Arc::clone(&vitals),
            store: Arc::clone(&store),
            node: replica_id(),
        });
        Ok(Arc::new(Self {
            keys,
            uploads,
            store,
            bucket,
            config,
            runtime,
            index: Mutex::new(Index::default()),
            replica: Mutex::new(replica),
            check,
            vitals,
            sync: SyncState::default(),
            flights: Flights::default(),
            working,
            completes_conditionally: AtomicBool::new(bucket_completes),
        }))
    }

    /// Where bucket I/O that outlives a call runs (an upload's stream).
    pub(crate) fn io(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Runs bucket I/O to its end from a blocking thread.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A bucket failure as the routes see it, counted.
    pub(crate) fn remote(&self, op: &'static str, e: impl std::fmt::Display) -> StoreError {
        self.vitals.failed(op, e)
    }

    /// The bucket answered.
    pub(crate) fn reached(&self) {
        self.vitals.reached();
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
    pub(crate) async fn create_first_free(
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
}

/// The names a binned or restored file may take, in order: its own, then `_v2`, … (any
/// file name, also one placed by hand that no upload would have made).
pub(crate) fn versions(path: &PartialPath) -> impl Iterator<Item = PartialPath> + '_ {
    (1..=MAX_VERSIONS).filter_map(move |n| {
        PartialPath::from_parts(path.entity(), &versioned_file_name(path.file_name(), n)).ok()
    })
}

/// This process's part of staging keys: distinct per node and process.
pub(crate) fn replica_id() -> String {
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
