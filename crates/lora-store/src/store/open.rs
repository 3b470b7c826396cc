//! Opening a data directory: its layout, its marker, its lock, and what a crash left.

use std::fs::{self, File, TryLockError};
use std::io;
use std::os::unix::fs::PermissionsExt;

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::EntityType;

use super::outcomes::Recovery;
use super::parts::Store;
use crate::durability::Durability;
use crate::error::io_err;
use crate::hashes::{HashLog, stamp_of};
use crate::listing::{DirCache, Links};
use crate::recycle_bin::RecycleBin;
use crate::resolve::{Area, Resolver};
use crate::resumable::Resumable;
use crate::versions::VersionHints;
use crate::{Layout, StoreError};

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
        let resumable = Resumable::open(layout.state_dir().join("uploads"), layout.staging_dir())?;
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

/// Whether an error means the data directory cannot be written to (read-only, or not
/// ours): a store that only reads keeps serving.
pub(crate) fn is_read_only(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
    )
}
