//! The store: one data directory, its live files, and the services around them.
//! Opening it is `open`; what its operations hand back is `outcomes`.

mod ensure;
mod open;
mod outcomes;
mod parts;

use std::fs;
use std::io;
use std::time::SystemTime;

use camino::Utf8PathBuf;
use lora_core::{EntityType, PartialPath, Sha256};
use time::OffsetDateTime;

use crate::error::io_err;
use crate::hashes::{Stamp, stamp_of};
use crate::listing::{entities, page};
use crate::resumable::Resumable;
use crate::{Layout, StagedUpload, StoreError};
pub use open::OpenOptions;
pub use outcomes::{Ensured, Examined, Listing, LiveFile, Published, Recovery, StorageHealth};
pub use parts::Store;

impl Store {
    /// Where things are.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// What [`Store::open`] repaired.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// The resumable (tus) uploads in progress.
    pub fn resumable(&self) -> &Resumable {
        &self.resumable
    }

    /// Moves a complete resumable upload into staging, ready for
    /// [`crate::Repository::publish`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when it cannot be moved or hashed.
    pub fn stage_resumable(
        &self,
        claim: &crate::PatchGuard,
    ) -> Result<crate::StagedFile, StoreError> {
        self.resumable.stage(claim)
    }

    /// Starts receiving an upload into the staging folder.
    ///
    /// # Errors
    ///
    /// [`StoreError::StorageFull`] or [`StoreError::Io`] when no staging file can be created.
    pub fn stage(&self) -> Result<StagedUpload, StoreError> {
        let staging = self.layout.staging_dir();
        let upload = match StagedUpload::create(&staging) {
            // The staging folder was removed by other means: make it again, but only inside
            // a data directory that is still there (a missing data directory is an outage,
            // not something to paper over).
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                if !self.layout.loras_root().is_dir() {
                    return Err(StoreError::Unavailable {
                        op: "stage an upload (the data directory is missing)",
                        source,
                    });
                }
                fs::create_dir_all(&staging).map_err(io_err("create", &staging))?;
                StagedUpload::create(&staging)
            }
            other => other,
        };
        #[cfg(feature = "fault-injection")]
        let upload = upload.map(|mut u| {
            u.fail_after = *self.fail_after.lock().unwrap_or_else(|p| p.into_inner());
            u
        });
        upload
    }

    /// Test hook (feature `fault-injection`): staged uploads fail with ENOSPC once they
    /// pass `bytes`; `None` turns it off.
    #[cfg(feature = "fault-injection")]
    pub fn fail_writes_after(&self, bytes: Option<u64>) {
        *self.fail_after.lock().unwrap_or_else(|p| p.into_inner()) = bytes;
    }

    /// Test hook (feature `fault-injection`): every folder fsync fails with EIO (or works
    /// again), as on a failing disk.
    #[cfg(feature = "fault-injection")]
    pub fn fail_dir_syncs(&self, fail: bool) {
        self.durability
            .fail_syncs
            .store(fail, std::sync::atomic::Ordering::Relaxed);
    }

    /// Test hook (feature `fault-injection`): the record of a published resumable upload
    /// fails to be written (EIO), as on a failing disk, or works again.
    #[cfg(feature = "fault-injection")]
    pub fn fail_upload_records(&self, fail: bool) {
        self.resumable
            .fail_records
            .store(fail, std::sync::atomic::Ordering::Relaxed);
    }

    /// Checks that `path` names a regular file inside the LoRA folder and returns its
    /// absolute path. Symlinks are followed and must stay inside the folder.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for a missing file (or a dangling symlink),
    /// [`StoreError::InvalidPath`] for a directory, a special file or an escape.
    pub fn resolve(&self, path: &PartialPath) -> Result<Utf8PathBuf, StoreError> {
        self.live
            .regular_file(self.layout.live_path(path), path)
            .map_err(|e| self.explain(e))
    }

    /// Checks that the store's folders are there. A data directory that is gone (an
    /// unmounted disk, a folder moved away) is an outage, never an empty store: every
    /// operation answers [`StoreError::Unavailable`] and nothing is created in its place.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when `models/loras` or `bin/models/loras` is missing or
    /// not a folder.
    pub fn ensure_present(&self) -> Result<(), StoreError> {
        for root in [self.layout.loras_root(), self.layout.bin_root()] {
            match fs::metadata(root) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(StoreError::Unavailable {
                        op: "use the data directory (a store folder is not a folder)",
                        source: io::ErrorKind::NotADirectory.into(),
                    });
                }
                Err(source) => {
                    return Err(StoreError::Unavailable {
                        op: "use the data directory (it is missing: is its disk mounted?)",
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether `target` is a regular file inside the LoRA folder, links followed.
    pub(crate) fn live_target(&self, target: &std::path::Path) -> bool {
        fs::canonicalize(target).is_ok_and(|t| t.starts_with(self.live.root()) && t.is_file())
    }

    /// A "not found" while the store's folders are themselves missing means the data
    /// directory is gone, not the file: that is what the caller is told.
    pub(crate) fn explain(&self, error: StoreError) -> StoreError {
        let not_found = match &error {
            StoreError::NotFound { .. } => true,
            StoreError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        };
        match self.ensure_present() {
            Err(unavailable) if not_found => unavailable,
            _ => error,
        }
    }

    /// [`Store::resolve`]s `path` and notes which version of the file is there, with its
    /// remembered SHA-256. Readers that need the hash (evaluation) take it from here
    /// instead of hashing the file again, then check [`Store::unchanged`] when done.
    ///
    /// # Errors
    ///
    /// [`Store::resolve`]'s errors.
    pub fn examine(&self, path: &PartialPath) -> Result<Examined, StoreError> {
        let file = self.resolve(path)?;
        let meta = match fs::metadata(&file) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound { path: path.clone() });
            }
            Err(e) => return Err(StoreError::io("stat", file, e)),
        };
        let (sha256, tensor_sha256) = self.hashes.lookup_both(path, &meta).unzip();
        Ok(Examined {
            sha256,
            tensor_sha256: tensor_sha256.flatten(),
            len: meta.len(),
            stamp: Stamp::of(&meta),
            path: file,
        })
    }

    /// Whether the live file at `path` is still the version `examined` saw (a delete and a
    /// new upload of the same name in between make it another file).
    pub fn unchanged(&self, path: &PartialPath, examined: &Examined) -> bool {
        stamp_of(&self.layout.live_path(path)) == Some(examined.stamp)
    }

    /// Remembers `sha256`, which the caller computed from the version of `path` that
    /// `examined` saw, so listings and later evaluations show it without rehashing.
    /// Returns `false` (and remembers nothing) when the file has changed since.
    ///
    /// A change that slips in after this check is still safe: the record names the old
    /// version, so it never shows for the new one.
    pub fn remember_sha256(&self, path: &PartialPath, examined: &Examined, sha256: Sha256) -> bool {
        if !self.unchanged(path, examined) {
            return false;
        }
        self.hashes
            .record(path, examined.stamp, sha256, examined.tensor_sha256);
        true
    }

    /// A page of the live files, sorted by partial path, optionally of one entity type.
    ///
    /// Includes files placed in the folders by other means; leaves out hidden files, files
    /// with other extensions and anything that is not a regular file.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when a folder cannot be read.
    pub fn list(
        &self,
        entity: Option<EntityType>,
        offset: usize,
        limit: usize,
    ) -> Result<Listing, StoreError> {
        self.ensure_present()?;
        page(
            &entities(entity),
            offset,
            limit,
            |e| self.dirs.names(e, &self.layout.entity_dir(e)),
            |e, name| self.live_file(e, name),
        )
    }

    fn live_file(&self, entity: EntityType, name: &str) -> Option<LiveFile> {
        let partial_path = PartialPath::from_parts(entity, name).ok()?;
        let meta = fs::metadata(self.layout.live_path(&partial_path)).ok()?;
        let sha256 = self.hashes.lookup(&partial_path, &meta);
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        Some(LiveFile {
            partial_path,
            len: meta.len(),
            modified: OffsetDateTime::from(modified),
            sha256,
            local: None,
        })
    }

    /// Whether the data directory takes writes now, and how much room it has.
    pub fn health(&self) -> StorageHealth {
        let staging = self.layout.staging_dir();
        let writable = tempfile::Builder::new()
            .prefix(".health-")
            .tempfile_in(&staging)
            .is_ok();
        let free_bytes = rustix::fs::statvfs(self.layout.data_dir().as_std_path())
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(0);
        StorageHealth {
            writable,
            free_bytes,
            durability_errors: self.durability.failures(),
        }
    }
}
