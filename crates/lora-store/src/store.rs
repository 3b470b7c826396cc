use std::fs::{self, File, TryLockError};
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{EntityType, PartialPath, SafeFileName, versioned_file_name};
use time::OffsetDateTime;

use crate::bin::BinJournal;
use crate::error::io_err;
use crate::fsops::{rename_noreplace, sync_dir};
use crate::hashes::{HashLog, Stamp, stamp_of};
use crate::listing::DirCache;
use crate::versions::VersionHints;
use crate::{Layout, StagedFile, StagedUpload, StoreError};

/// What to do when the name an upload wants is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnClash {
    /// Take the first free of `stem_v2.ext`, `stem_v3.ext`, …
    Version,
    /// Refuse with [`StoreError::AlreadyExists`].
    Refuse,
}

/// A file that was published.
#[derive(Debug, Clone)]
pub struct Published {
    /// Where it is, relative to the LoRA folder.
    pub partial_path: PartialPath,
    /// Its absolute path.
    pub path: Utf8PathBuf,
    /// Size in bytes.
    pub len: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// A file that was moved to the recycle bin.
#[derive(Debug, Clone)]
pub struct Binned {
    /// Where it was.
    pub partial_path: PartialPath,
    /// Its former absolute path.
    pub live_path: Utf8PathBuf,
    /// Where it is now, relative to the bin's LoRA folder.
    pub bin_partial_path: PartialPath,
    /// Its absolute path in the bin.
    pub bin_path: Utf8PathBuf,
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
    pub sha256: Option<String>,
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
    pub sha256: Option<String>,
    stamp: Stamp,
}

/// A page of the live listing.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The files on this page, sorted by partial path.
    pub items: Vec<LiveFile>,
    /// How many files match, over all pages.
    pub total: usize,
}

/// The state of the storage, for health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageHealth {
    /// Whether a file can be created in the data directory right now.
    pub writable: bool,
    /// Bytes available to the service on the data directory's filesystem.
    pub free_bytes: u64,
}

/// What [`Store::open`] found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Staging files left by a crash or a kill, now removed.
    pub staging_removed: usize,
    /// Hash records dropped because their file is gone or was changed by other means.
    pub stale_hashes: usize,
    /// Bin journal records dropped because their bin file is gone or was replaced.
    pub stale_bin_records: usize,
}

/// The LoRA repository on one data directory.
///
/// All methods block on the filesystem; async callers run them on a blocking thread pool.
/// The store is `Sync`: share one behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    pub(crate) layout: Layout,
    canonical_loras: Utf8PathBuf,
    pub(crate) canonical_bin: Utf8PathBuf,
    pub(crate) hashes: HashLog,
    dirs: DirCache,
    versions: VersionHints,
    pub(crate) bin_dirs: DirCache,
    pub(crate) bin_journal: BinJournal,
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
        let layout = Layout::new(data_dir);
        let staging = layout.staging_dir();
        for dir in [layout.loras_root(), layout.bin_root(), &staging] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
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
        let canonical_loras = canonical(layout.loras_root())?;
        let canonical_bin = canonical(layout.bin_root())?;
        let (bin_journal, stale_bin_records) =
            BinJournal::open(layout.bin_journal(), layout.bin_root())?;
        let (hashes, stale_hashes) = HashLog::open(layout.hash_log(), |p| {
            PartialPath::parse(p)
                .ok()
                .and_then(|p| stamp_of(&layout.live_path(&p)))
        })?;
        Ok(Self {
            layout,
            canonical_loras,
            canonical_bin,
            hashes,
            dirs: DirCache::default(),
            versions: VersionHints::default(),
            bin_dirs: DirCache::default(),
            bin_journal,
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

    /// Like [`Store::stage`], but the upload does not hash its bytes: the caller hashes
    /// them (on another thread, say) and finishes with
    /// [`StagedUpload::finish_with_sha256`].
    ///
    /// # Errors
    ///
    /// As [`Store::stage`].
    pub fn stage_unhashed(&self) -> Result<StagedUpload, StoreError> {
        let mut upload = self.stage()?;
        upload.skip_hashing();
        Ok(upload)
    }

    /// Test hook (feature `fault-injection`): staged uploads fail with ENOSPC once they
    /// pass `bytes`; `None` turns it off.
    #[cfg(feature = "fault-injection")]
    pub fn fail_writes_after(&self, bytes: Option<u64>) {
        *self.fail_after.lock().unwrap_or_else(|p| p.into_inner()) = bytes;
    }

    /// Moves a staged file to `{entity}/{name}` (or its first free version, per `on_clash`)
    /// without ever replacing an existing file, then fsyncs the folder.
    ///
    /// Concurrent publishes of one name each get a distinct name ([`OnClash::Version`]) or
    /// exactly one succeeds ([`OnClash::Refuse`]). On error the staged file is removed.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`] for a taken name with [`OnClash::Refuse`];
    /// [`StoreError::Io`] or [`StoreError::StorageFull`] when the move fails.
    pub fn publish(
        &self,
        staged: StagedFile,
        entity: EntityType,
        name: &SafeFileName,
        on_clash: OnClash,
    ) -> Result<Published, StoreError> {
        let dir = self.layout.entity_dir(entity);
        let StagedFile {
            mut file,
            len,
            sha256,
            ..
        } = staged;
        let mut recreated = false;
        // The plain name is tried first. When it is taken, the search for a free version
        // starts at the remembered hint (see `versions`), or else skips the names the
        // listing cache knows to be taken, so the 2000th version costs what the 2nd does.
        // Both are only hints: the no-replace rename below decides, so nothing is ever
        // overwritten. (With `OnClash::Refuse` the loop ends at the first clash.)
        let start = self.versions.start(entity, name.as_str());
        let dirs = &self.dirs;
        let later_versions = std::iter::once_with(|| match start.version {
            Some(_) => Arc::default(),
            None => dirs.names(entity, &dir).unwrap_or_default(),
        })
        .flat_map(|taken| {
            (start.version.unwrap_or(2)..=u32::MAX)
                .map(|n| name.version(n))
                .filter(move |c| {
                    taken
                        .binary_search_by(|n| n.as_str().cmp(c.as_str()))
                        .is_err()
                })
        });
        let candidates = std::iter::once(name.clone()).chain(later_versions);
        for candidate in candidates {
            let target = dir.join(candidate.as_str());
            match file.persist_noclobber(&target) {
                Ok(published) => {
                    if candidate.version_number() > 1 {
                        self.versions.took(
                            entity,
                            name.as_str(),
                            start,
                            candidate.version_number(),
                        );
                    }
                    sync_dir(&dir).map_err(io_err("fsync", &dir))?;
                    let partial_path = PartialPath::new(entity, candidate);
                    let sha256 = hex::encode(sha256);
                    match published.metadata() {
                        Ok(meta) => {
                            self.hashes
                                .record(&partial_path, Stamp::of(&meta), sha256.clone())
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, path = %target, "cannot stat a published file")
                        }
                    }
                    return Ok(Published {
                        partial_path,
                        path: target,
                        len,
                        sha256,
                    });
                }
                Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                    if on_clash == OnClash::Refuse {
                        return Err(StoreError::AlreadyExists {
                            path: PartialPath::new(entity, candidate).to_string(),
                        });
                    }
                    file = e.file;
                }
                // The entity folder was removed by other means: make it again, once.
                Err(e) if e.error.kind() == io::ErrorKind::NotFound && !recreated => {
                    fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
                    recreated = true;
                    file = e.file;
                }
                Err(e) => return Err(StoreError::io("publish into", &dir, e.error)),
            }
        }
        Err(StoreError::AlreadyExists {
            path: PartialPath::new(entity, name.clone()).to_string(),
        })
    }

    /// Checks that `path` names a regular file inside the LoRA folder and returns its
    /// absolute path. Symlinks are followed and must stay inside the folder.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for a missing file (or a dangling symlink),
    /// [`StoreError::InvalidPath`] for a directory, a special file or an escape.
    pub fn resolve(&self, path: &PartialPath) -> Result<Utf8PathBuf, StoreError> {
        resolve_in(
            &self.layout.live_path(path),
            &self.canonical_loras,
            path,
            "the LoRA folder",
        )
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
                return Err(StoreError::NotFound {
                    path: path.to_string(),
                });
            }
            Err(e) => return Err(StoreError::io("stat", file, e)),
        };
        Ok(Examined {
            sha256: self.hashes.lookup(&path.to_string(), &meta),
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
    pub fn remember_sha256(&self, path: &PartialPath, examined: &Examined, sha256: String) -> bool {
        if !self.unchanged(path, examined) {
            return false;
        }
        self.hashes.record(path, examined.stamp, sha256);
        true
    }

    /// Moves a live file to the recycle bin, at the same partial path or, when the bin
    /// already holds that name, its first free `_vN` version. Nothing in the bin is ever
    /// replaced. A symlink is moved as the link itself.
    ///
    /// # Errors
    ///
    /// [`Store::resolve`]'s errors; [`StoreError::NotFound`] when the file disappears
    /// meanwhile (a concurrent delete won); [`StoreError::Io`] when the move fails.
    pub fn delete(&self, path: &PartialPath) -> Result<Binned, StoreError> {
        let live = self.resolve(path)?;
        let bin_dir = self.layout.bin_entity_dir(path.entity());
        fs::create_dir_all(&bin_dir).map_err(io_err("create", &bin_dir))?;
        for n in 1..=u32::MAX {
            let name = versioned_file_name(path.file_name(), n);
            let target = bin_dir.join(&name);
            match rename_noreplace(&live, &target) {
                Ok(()) => {
                    self.versions.forget(path.entity());
                    let live_dir = self.layout.entity_dir(path.entity());
                    sync_dir(&bin_dir).map_err(io_err("fsync", &bin_dir))?;
                    sync_dir(&live_dir).map_err(io_err("fsync", &live_dir))?;
                    let bin_partial_path =
                        PartialPath::from_parts(path.entity(), &name).map_err(|_| {
                            StoreError::InvalidPath {
                                path: path.to_string(),
                                reason: "no valid bin name is left for it",
                            }
                        })?;
                    if let Ok(meta) = fs::symlink_metadata(&target) {
                        let sha = fs::metadata(&target)
                            .ok()
                            .and_then(|m| self.hashes.lookup(&path.to_string(), &m));
                        self.journal_binned(&bin_partial_path, path, &meta, sha);
                    }
                    self.hashes.forget(path);
                    return Ok(Binned {
                        partial_path: path.clone(),
                        live_path: live,
                        bin_partial_path,
                        bin_path: target,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound && !live.exists() => {
                    return Err(StoreError::NotFound {
                        path: path.to_string(),
                    });
                }
                Err(e) => return Err(StoreError::io("move to the bin", live, e)),
            }
        }
        Err(StoreError::InvalidPath {
            path: path.to_string(),
            reason: "no free name is left for it in the bin",
        })
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
        let entities: Vec<EntityType> = match entity {
            Some(e) => vec![e],
            None => EntityType::ALL.to_vec(),
        };
        let mut total = 0;
        let mut items = Vec::new();
        for entity in entities {
            let names = self.dirs.names(entity, &self.layout.entity_dir(entity))?;
            let start = offset.saturating_sub(total).min(names.len());
            total += names.len();
            let want = limit.saturating_sub(items.len());
            for name in names[start..].iter().take(want) {
                if let Some(item) = self.live_file(entity, name) {
                    items.push(item);
                }
            }
        }
        Ok(Listing { items, total })
    }

    fn live_file(&self, entity: EntityType, name: &str) -> Option<LiveFile> {
        let partial_path = PartialPath::from_parts(entity, name).ok()?;
        let meta = fs::metadata(self.layout.live_path(&partial_path)).ok()?;
        let sha256 = self.hashes.lookup(&partial_path.to_string(), &meta);
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
        }
    }
}

/// `file` (the path of `path` under a root whose canonical form is `root`) if it is a
/// regular file whose real location is inside that root.
pub(crate) fn resolve_in(
    file: &Utf8Path,
    root: &Utf8Path,
    path: &PartialPath,
    root_name: &'static str,
) -> Result<Utf8PathBuf, StoreError> {
    let not_found = || StoreError::NotFound {
        path: path.to_string(),
    };
    let target = match file.canonicalize_utf8() {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(StoreError::io("resolve", file, e)),
    };
    if !target.starts_with(root) {
        return Err(StoreError::InvalidPath {
            path: path.to_string(),
            reason: if root_name == "the bin" {
                "it resolves outside the bin"
            } else {
                "it resolves outside the LoRA folder"
            },
        });
    }
    let meta = match fs::metadata(&target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(StoreError::io("stat", target, e)),
    };
    if !meta.is_file() {
        return Err(StoreError::InvalidPath {
            path: path.to_string(),
            reason: "it is not a regular file",
        });
    }
    Ok(file.to_owned())
}

fn canonical(path: &Utf8Path) -> Result<Utf8PathBuf, StoreError> {
    path.canonicalize_utf8().map_err(io_err("resolve", path))
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
