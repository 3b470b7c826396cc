//! The store: one data directory, its live files, and the services around them.

use std::fs::{self, File, TryLockError};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::SystemTime;

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{EntityType, PartialPath, Sha256};
use time::OffsetDateTime;

use crate::durability::Durability;
use crate::error::io_err;
use crate::hashes::{HashLog, Stamp, stamp_of};
use crate::listing::{DirCache, Links, Page, entities, page};
use crate::recycle_bin::RecycleBin;
use crate::resolve::{Area, Resolver};
use crate::resumable::Resumable;
use crate::versions::VersionHints;
use crate::{Layout, StagedUpload, StoreError};

/// A file that was published.
#[derive(Debug, Clone)]
pub struct Published {
    /// Where it is, relative to the LoRA folder.
    pub partial_path: PartialPath,
    /// Its absolute path.
    pub path: Utf8PathBuf,
    /// Size in bytes.
    pub len: u64,
    /// SHA-256 of its bytes.
    pub sha256: Sha256,
}

/// One live LoRA file, as listed.
#[derive(Debug, Clone)]
pub struct LiveFile {
    /// `{entity}/{name}`.
    pub partial_path: PartialPath,
    /// Size in bytes.
    pub len: u64,
    /// Last modification time.
    pub modified: OffsetDateTime,
    /// SHA-256, when known without rehashing (uploaded or evaluated through the service, and
    /// unchanged since).
    pub sha256: Option<Sha256>,
}

/// A live file as [`Store::examine`] saw it: its place, and the SHA-256 the store
/// remembers for exactly that version of it (same inode, size and mtime), if any.
#[derive(Debug, Clone)]
pub struct Examined {
    /// Its absolute path.
    pub path: Utf8PathBuf,
    /// Size in bytes.
    pub len: u64,
    /// The remembered SHA-256 of this version: known when the store wrote it and nothing
    /// has changed it since, or when a caller hashed it ([`Store::remember_sha256`]).
    pub sha256: Option<Sha256>,
    stamp: Stamp,
}

/// A page of the live listing, sorted by partial path.
pub type Listing = Page<LiveFile>;

/// The state of the storage, for health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageHealth {
    /// Whether a file can be created in the data directory right now.
    pub writable: bool,
    /// Bytes available to the service on the data directory's filesystem.
    pub free_bytes: u64,
    /// Folder fsyncs that failed after an operation had taken effect, since the store was
    /// opened: those operations may not survive a power cut. Anything but 0 needs an
    /// operator (see the operator's guide).
    pub durability_errors: u64,
}

/// What [`Store::open`] found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Staging files left by a crash or a kill, now removed.
    pub staging_removed: usize,
    /// Hash records dropped because their file is gone or was changed by other means, or
    /// because the record was damaged.
    pub stale_hashes: usize,
    /// Bin journal records dropped because their bin file is gone or was replaced, or
    /// because the record was damaged.
    pub stale_bin_records: usize,
}

/// How [`Store::open_with`] opens a data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Create the layout, and mark the directory as a store, when it is not one yet
    /// (default `true`). With `false`, a directory without the marker is refused with
    /// [`StoreError::NotInitialised`] and nothing is created: a restart on an unmounted
    /// disk must not build a new, empty store on the root filesystem.
    pub create: bool,
    /// Permission bits of published and restored files; `None` (default): what the
    /// process umask gives a new file (`0o644` under umask `0022`). Staging files stay
    /// private (their folder is `0700`) until they are published.
    pub file_mode: Option<u32>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            create: true,
            file_mode: None,
        }
    }
}

/// What the marker file says.
const MARKER: &str = "lora-server store 1\n";

/// The LoRA repository on one data directory.
///
/// All methods block on the filesystem; async callers run them on a blocking thread pool.
/// The store is `Sync`: share one behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    pub(crate) layout: Layout,
    live: Resolver,
    pub(crate) hashes: HashLog,
    pub(crate) dirs: DirCache,
    pub(crate) versions: VersionHints,
    pub(crate) bin: RecycleBin,
    pub(crate) durability: Durability,
    resumable: Resumable,
    /// The permission bits published and restored files get.
    pub(crate) file_mode: u32,
    recovery: Recovery,
    #[cfg(feature = "fault-injection")]
    fail_after: std::sync::Mutex<Option<u64>>,
    _lock: File,
}

impl Store {
    /// Opens (creating as needed) the store under `data_dir`: takes the data directory's
    /// lock, removes staging leftovers and drops hash records that no longer match.
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`] when another server uses the directory, [`StoreError::Io`]
    /// when the layout cannot be created.
    pub fn open(data_dir: impl Into<Utf8PathBuf>) -> Result<Self, StoreError> {
        Self::open_with(data_dir, OpenOptions::default())
    }

    /// Makes `data_dir` an initialised store (creating its layout and marker) without
    /// serving it: what `lora-server init` runs. Existing files are kept.
    ///
    /// # Errors
    ///
    /// As [`Store::open`].
    pub fn init(data_dir: impl Into<Utf8PathBuf>) -> Result<Recovery, StoreError> {
        Ok(Self::open(data_dir)?.recovery())
    }

    /// [`Store::open`] with options: whether to create a store that is not there yet, and
    /// the mode of published files.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotInitialised`] when `create` is off and the directory holds no
    /// store; otherwise as [`Store::open`].
    pub fn open_with(
        data_dir: impl Into<Utf8PathBuf>,
        options: OpenOptions,
    ) -> Result<Self, StoreError> {
        let layout = Layout::new(data_dir);
        let marker = layout.marker();
        let marked = marker.is_file();
        if !options.create && !marked {
            return Err(StoreError::NotInitialised {
                data_dir: layout.data_dir().to_owned(),
            });
        }
        let staging = layout.staging_dir();
        for dir in [layout.loras_root(), layout.bin_root(), &staging] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        // Uploads being received are nobody's business but the service's.
        if let Err(e) = fs::set_permissions(&staging, fs::Permissions::from_mode(0o700))
            && !is_read_only(&e)
        {
            return Err(StoreError::io("set the mode of", staging, e));
        }
        if !marked {
            match crate::fsops::replace_durably(&marker, MARKER.as_bytes()) {
                Ok(()) | Err(StoreError::Unavailable { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for entity in EntityType::ALL {
            for dir in [layout.entity_dir(entity), layout.bin_entity_dir(entity)] {
                fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
            }
        }

        let lock_path = layout.lock_file();
        // A read-only data directory still serves listings and evaluations; its lock is
        // taken on a read-only handle (flock does not need write access).
        let lock = match File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
        {
            Ok(f) => f,
            Err(e) if is_read_only(&e) => {
                File::open(&lock_path).map_err(io_err("open", &lock_path))?
            }
            Err(e) => return Err(StoreError::io("open", lock_path, e)),
        };
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::Locked { lock: lock_path }),
            Err(TryLockError::Error(e)) => return Err(StoreError::io("lock", lock_path, e)),
        }

        let staging_removed = clear_dir(&staging)?;
        let live = Resolver::new(Area::Live, layout.loras_root())?;
        let dirs = DirCache::new(Links::LeadingInside(live.root().to_owned()));
        let (bin, stale_bin_records) = RecycleBin::open(layout.bin_root(), layout.bin_journal())?;
        let (hashes, stale_hashes) =
            HashLog::open(layout.hash_log(), |p| stamp_of(&layout.live_path(p)))?;
        let resumable = Resumable::open(layout.state_dir().join("uploads"))?;
        Ok(Self {
            resumable,
            layout,
            live,
            hashes,
            dirs,
            versions: VersionHints::default(),
            bin,
            durability: Durability::default(),
            file_mode: options
                .file_mode
                .unwrap_or(0o666 & !crate::fsops::process_umask())
                & 0o7777,
            recovery: Recovery {
                staging_removed,
                stale_hashes,
                stale_bin_records,
            },
            #[cfg(feature = "fault-injection")]
            fail_after: std::sync::Mutex::new(None),
            _lock: lock,
        })
    }

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
        self.resumable.stage(claim, &self.layout.staging_dir())
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
        Ok(Examined {
            sha256: self.hashes.lookup(path, &meta),
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
        self.hashes.record(path, examined.stamp, sha256);
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

/// Whether an error means "this filesystem takes no writes" rather than a real failure.
pub(crate) fn is_read_only(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
    )
}

/// Removes every file in `dir` (staging leftovers); returns how many.
fn clear_dir(dir: &Utf8Path) -> Result<usize, StoreError> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(io_err("read", dir))? {
        let entry = entry.map_err(io_err("read", dir))?;
        let path = entry.path();
        let result = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match result {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "cannot remove a staging leftover")
            }
        }
    }
    Ok(removed)
}
