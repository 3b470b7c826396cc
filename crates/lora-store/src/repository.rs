//! The storage seam: what the HTTP layer asks of wherever the LoRA files live.
//!
//! [`Store`] is the local filesystem repository; fleet mode (`lora-fleet`) implements the
//! same operations over an S3-compatible bucket with a local replica, so naming,
//! versioning, the bin and the content rules stay one contract for both.
//!
//! The trait never hands out a concrete store: what needs the local disk (staging,
//! resumable uploads, evaluation) holds the node's [`Store`] itself, and everything a
//! repository may keep elsewhere goes through these methods.

use std::time::{Duration, SystemTime};

use lora_core::{EntityType, PartialPath, SafeFileName, Sha256};
use time::OffsetDateTime;

use crate::{
    BinListing, Binned, Destination, Ensured, Listing, OnClash, Published, Purged, Restored,
    StagedFile, StagedUpload, StorageHealth, Store, StoreError, Uploads,
};

/// The shared storage's state, for the health route (fleet mode only).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteHealth {
    /// The backend's name (`s3`).
    pub backend: &'static str,
    /// The bucket.
    pub bucket: String,
    /// The key prefix inside it (empty: none).
    pub prefix: String,
    /// When this node last finished a sync pass with the bucket.
    pub last_sync: Option<OffsetDateTime>,
    /// Seconds since then (or since start, before the first pass).
    pub lag_seconds: u64,
    /// Bucket operations that failed since start.
    pub errors: u64,
    /// Objects the content rules kept from being materialised locally.
    pub rejected_objects: u64,
    /// Whether the last attempt to reach the bucket succeeded.
    pub reachable: bool,
    /// What this node keeps on its disk.
    pub replica: ReplicaHealth,
}

/// What a fleet node keeps on its disk, for the health route (`replica`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaHealth {
    /// `complete` (every file of the bucket) or `working_set` (within a disk budget).
    pub mode: &'static str,
    /// The disk budget in bytes (`LORA_REPLICA_BUDGET_BYTES`); `None`: complete.
    pub budget_bytes: Option<u64>,
    /// Bytes of the bucket's files on this disk.
    pub local_bytes: u64,
    /// How many of the bucket's files are on this disk.
    pub local_files: usize,
    /// Bytes of pinned types on this disk (`LORA_REPLICA_PIN_TYPES`).
    pub pinned_bytes: u64,
    /// Whether the pinned types alone need more than the budget.
    pub pins_over_budget: bool,
    /// Files under lease now.
    pub leases: usize,
    /// Ensures answered from this disk.
    pub hits: u64,
    /// Ensures that downloaded.
    pub misses: u64,
    /// Files evicted to stay within the budget.
    pub evictions: u64,
    /// Downloads running now.
    pub fetches_in_flight: usize,
}

/// Where the LoRA files live: every operation the routes perform on them.
///
/// All methods block; call them from a blocking thread.
pub trait Repository: Send + Sync + std::fmt::Debug + 'static {
    /// A new staging file for an upload on its way to [`Repository::publish`], on this
    /// node's disk. `destination` says where the upload will probably go, when that is
    /// known before its bytes: a repository with shared storage may send them there as
    /// they arrive (a [`crate::Forward`] on the staging file).
    ///
    /// # Errors
    ///
    /// As [`Store::stage`].
    fn stage(&self, destination: Option<&Destination>) -> Result<StagedUpload, StoreError>;

    /// Where resumable (tus) uploads are kept while they arrive: this node's disk, or (fleet
    /// mode) the shared storage, so any node can go on with any upload.
    fn uploads(&self) -> std::sync::Arc<dyn Uploads>;

    /// Publishes a staged upload as `{entity}/{name}` or its first free version.
    ///
    /// # Errors
    ///
    /// As [`Store::publish`]; [`StoreError::Remote`] when the shared storage fails.
    fn publish(
        &self,
        staged: StagedFile,
        entity: EntityType,
        name: &SafeFileName,
        on_clash: OnClash,
    ) -> Result<Published, StoreError>;

    /// Moves a live file to the bin.
    ///
    /// # Errors
    ///
    /// As [`Store::delete`].
    fn delete(&self, path: &PartialPath) -> Result<Binned, StoreError>;

    /// A page of the live files.
    ///
    /// # Errors
    ///
    /// As [`Store::list`].
    fn list(
        &self,
        entity: Option<EntityType>,
        offset: usize,
        limit: usize,
    ) -> Result<Listing, StoreError>;

    /// A page of the bin.
    ///
    /// # Errors
    ///
    /// As [`Store::list_bin`].
    fn list_bin(
        &self,
        entity: Option<EntityType>,
        offset: usize,
        limit: usize,
    ) -> Result<BinListing, StoreError>;

    /// Moves a binned file back.
    ///
    /// # Errors
    ///
    /// As [`Store::restore`].
    fn restore(&self, bin_path: &PartialPath, on_clash: OnClash) -> Result<Restored, StoreError>;

    /// Removes one bin entry for good.
    ///
    /// # Errors
    ///
    /// As [`Store::purge`].
    fn purge(&self, bin_path: &PartialPath) -> Result<Purged, StoreError>;

    /// Removes every bin entry deleted before `cutoff`.
    ///
    /// # Errors
    ///
    /// As [`Store::purge_before`].
    fn purge_before(&self, cutoff: SystemTime) -> Result<Purged, StoreError>;

    /// Removes every bin entry older than `retention`.
    ///
    /// # Errors
    ///
    /// As [`Store::purge_before`].
    fn apply_retention(&self, retention: Duration) -> Result<Purged, StoreError> {
        self.purge_before(
            SystemTime::now()
                .checked_sub(retention)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        )
    }

    /// Whether a new upload can be taken at all: refuses, before any byte arrives, what
    /// would fail at the end (a resumable upload is created long before it is published).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the data directory is gone;
    /// [`StoreError::Remote`] when the shared storage cannot be reached.
    fn ready_for_uploads(&self) -> Result<(), StoreError>;

    /// The live file at `path` on this node's disk, for a pipeline to open: brought here
    /// first when it is not (fleet mode), with its SHA-256, and kept from eviction for
    /// `lease` (a node with a disk budget; nothing is evicted without one).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for no such file; [`StoreError::Remote`] when it is not
    /// here and the shared storage cannot be reached; otherwise as [`Store::ensure`].
    fn ensure(&self, path: &PartialPath, lease: Duration) -> Result<Ensured, StoreError>;

    /// The local storage's health (in fleet mode, the node's replica's).
    fn health(&self) -> StorageHealth;

    /// The shared storage's health; `None` for a local store.
    fn remote_health(&self) -> Option<RemoteHealth> {
        None
    }

    /// Calls `listener` whenever others' changes may have arrived (fleet mode: after each
    /// sync pass), so a catalogue can follow them without waiting for its own next pass.
    /// A local store has no others: it never calls it.
    fn on_change(&self, listener: std::sync::Arc<dyn Fn() + Send + Sync>) {
        let _ = listener;
    }

    /// Whether the user's metadata of files lives in shared storage (fleet mode), through
    /// [`Repository::get_meta`], [`Repository::put_meta`] and [`Repository::list_meta`];
    /// a local store leaves it to the catalogue's own files.
    fn shares_meta(&self) -> bool {
        false
    }

    /// The shared metadata (JSON) of the file at `path` (in the bin when `binned`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Remote`] when the shared storage cannot be reached.
    fn get_meta(&self, path: &PartialPath, binned: bool) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = (path, binned);
        Ok(None)
    }

    /// Keeps `meta` (JSON) as the shared metadata of the file at `path` (in the bin when
    /// `binned`); `None` removes it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Remote`] when the shared storage cannot be reached.
    fn put_meta(
        &self,
        path: &PartialPath,
        binned: bool,
        meta: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let _ = (path, binned, meta);
        Ok(())
    }

    /// Every live file with shared metadata, and a tag that changes with it (an ETag).
    ///
    /// # Errors
    ///
    /// [`StoreError::Remote`] when the shared storage cannot be reached.
    fn list_meta(&self) -> Result<Vec<(PartialPath, String)>, StoreError> {
        Ok(Vec::new())
    }

    /// Keeps `facts` (a catalogue's reading of a file's header, as JSON) beside the
    /// bytes whose SHA-256 is `sha256`, for nodes that do not hold them. A local store
    /// keeps nothing: every file it lists is on its disk to be read.
    ///
    /// # Errors
    ///
    /// [`StoreError::Remote`] when the shared storage cannot be reached.
    fn put_facts(&self, sha256: &Sha256, facts: Vec<u8>) -> Result<(), StoreError> {
        let _ = (sha256, facts);
        Ok(())
    }

    /// The facts kept for the bytes whose SHA-256 is `sha256`, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Remote`] when the shared storage cannot be reached.
    fn get_facts(&self, sha256: &Sha256) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = sha256;
        Ok(None)
    }
}

impl Repository for Store {
    fn uploads(&self) -> std::sync::Arc<dyn Uploads> {
        std::sync::Arc::new(self.resumable().clone())
    }

    fn stage(&self, _destination: Option<&Destination>) -> Result<StagedUpload, StoreError> {
        // The staging folder is on the same disk as the files: a publish is a rename.
        Store::stage(self)
    }

    fn ensure(&self, path: &PartialPath, _lease: Duration) -> Result<Ensured, StoreError> {
        // One machine: every file is here, and nothing is evicted.
        Store::ensure(self, path)
    }

    fn ready_for_uploads(&self) -> Result<(), StoreError> {
        self.ensure_present()
    }

    fn health(&self) -> StorageHealth {
        Store::health(self)
    }

    fn publish(
        &self,
        staged: StagedFile,
        entity: EntityType,
        name: &SafeFileName,
        on_clash: OnClash,
    ) -> Result<Published, StoreError> {
        Store::publish(self, staged, entity, name, on_clash)
    }

    fn delete(&self, path: &PartialPath) -> Result<Binned, StoreError> {
        Store::delete(self, path)
    }

    fn list(
        &self,
        entity: Option<EntityType>,
        offset: usize,
        limit: usize,
    ) -> Result<Listing, StoreError> {
        Store::list(self, entity, offset, limit)
    }

    fn list_bin(
        &self,
        entity: Option<EntityType>,
        offset: usize,
        limit: usize,
    ) -> Result<BinListing, StoreError> {
        Store::list_bin(self, entity, offset, limit)
    }

    fn restore(&self, bin_path: &PartialPath, on_clash: OnClash) -> Result<Restored, StoreError> {
        Store::restore(self, bin_path, on_clash)
    }

    fn purge(&self, bin_path: &PartialPath) -> Result<Purged, StoreError> {
        Store::purge(self, bin_path)
    }

    fn purge_before(&self, cutoff: SystemTime) -> Result<Purged, StoreError> {
        Store::purge_before(self, cutoff)
    }
}
