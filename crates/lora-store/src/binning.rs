//! Moving files between the live folders and the recycle bin: delete, restore, purge,
//! and the bin's listing and retention. The bin's own bookkeeping is [`RecycleBin`]'s;
//! this is the part that touches both trees.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use camino::Utf8PathBuf;
use lora_core::{EntityType, PartialPath, versioned_file_name};

use crate::StoreError;
use crate::hashes::Stamp;
use crate::listing::Change;
use crate::place::{OnClash, PlaceError, place};
use crate::recycle_bin::{BinListing, Purged};
use crate::store::Store;

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

/// A file brought back from the bin.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Its live partial path (the original, or a `_vN` version of it).
    pub partial_path: PartialPath,
    /// Its live absolute path.
    pub path: Utf8PathBuf,
    /// Where it was in the bin.
    pub bin_path: PartialPath,
}

impl Store {
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
        let (sha256, tensor_sha256) = fs::metadata(&live)
            .ok()
            .and_then(|m| self.hashes.lookup_both(path, &m))
            .unzip();
        let (bin_partial_path, bin_path) = self
            .bin
            .admit(
                &live,
                path,
                (sha256, tensor_sha256.flatten()),
                &self.durability,
            )
            .map_err(|e| self.explain(e))?;
        // From here the move took effect: bookkeeping first, then the answer.
        self.hashes.forget(path);
        self.versions.forget(path.entity());
        let live_dir = self.layout.entity_dir(path.entity());
        self.dirs.changed(
            path.entity(),
            &live_dir,
            Change::Removed(path.file_name().to_owned()),
        );
        self.durability
            .sync_dir_after(&live_dir, "a move to the bin");
        Ok(Binned {
            partial_path: path.clone(),
            live_path: live,
            bin_partial_path,
            bin_path,
        })
    }

    /// A page of the bin, sorted by bin path, optionally of one entity type.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when a bin folder cannot be read.
    pub fn list_bin(
        &self,
        entity: Option<EntityType>,
        offset: usize,
        limit: usize,
    ) -> Result<BinListing, StoreError> {
        self.ensure_present()?;
        self.bin.list(entity, offset, limit)
    }

    /// Moves a binned file back to where it came from (or the first free `_vN` version of
    /// that name, per `on_clash`), never replacing a live file.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the bin holds no such file, [`StoreError::InvalidPath`]
    /// for a path resolving outside the bin, [`StoreError::AlreadyExists`] for a taken name
    /// with [`OnClash::Refuse`].
    pub fn restore(
        &self,
        bin_path: &PartialPath,
        on_clash: OnClash,
    ) -> Result<Restored, StoreError> {
        self.restore_inner(bin_path, on_clash)
            .map_err(|e| self.explain(e))
    }

    fn restore_inner(
        &self,
        bin_path: &PartialPath,
        on_clash: OnClash,
    ) -> Result<Restored, StoreError> {
        let file = self.bin.resolve(bin_path)?;
        let entry = self
            .bin
            .entry(bin_path.clone())
            .ok_or_else(|| StoreError::NotFound {
                path: bin_path.clone(),
            })?;
        let origin = entry.original;
        let dir = self.layout.entity_dir(origin.entity());
        let is_link = fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            // A link goes back only where it leads to a file the live routes can act on.
            let leads = fs::read_link(&file).map(|target| dir.as_std_path().join(target));
            if !leads.is_ok_and(|t| self.live_target(&t)) {
                return Err(StoreError::InvalidPath {
                    path: bin_path.clone(),
                    reason: "it is a link that would lead outside the LoRA folder, or to nothing",
                });
            }
        } else {
            // Back in the live folder it must be readable as a published file is (a file
            // binned by an older version may be 0600).
            fs::set_permissions(&file, fs::Permissions::from_mode(self.file_mode))
                .map_err(|e| StoreError::io("set the mode of", &file, e))?;
        }
        let names = (1..=u32::MAX).map(|n| versioned_file_name(origin.file_name(), n));
        let placed = match place(&file, &dir, names, on_clash) {
            Ok(placed) => placed,
            Err(PlaceError::Taken(_)) => return Err(StoreError::AlreadyExists { path: origin }),
            Err(PlaceError::SourceGone) => {
                return Err(StoreError::NotFound {
                    path: bin_path.clone(),
                });
            }
            Err(PlaceError::Io(e)) => return Err(StoreError::io("restore", file, e)),
        };
        // From here the move took effect: bookkeeping first, then the answer.
        let partial_path = PartialPath::from_parts(origin.entity(), &placed.name).unwrap_or(origin);
        self.bin.released(bin_path, &self.durability);
        if let (Some(sha), Ok(meta)) = (entry.sha256, fs::metadata(&placed.path)) {
            self.hashes
                .record(&partial_path, Stamp::of(&meta), sha, entry.tensor_sha256);
        }
        self.dirs
            .changed(partial_path.entity(), &dir, Change::Added(placed.name));
        self.durability
            .sync_dir_after(&dir, "a restore from the bin");
        Ok(Restored {
            partial_path,
            path: placed.path,
            bin_path: bin_path.clone(),
        })
    }

    /// Removes one file from the bin for good.
    ///
    /// # Errors
    ///
    /// As [`Store::restore`] for the path; [`StoreError::Io`] when removing fails.
    pub fn purge(&self, bin_path: &PartialPath) -> Result<Purged, StoreError> {
        self.bin
            .purge(bin_path, &self.durability)
            .map_err(|e| self.explain(e))
    }

    /// Removes every bin entry deleted before `cutoff`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the bin cannot be read or a file cannot be removed.
    pub fn purge_before(&self, cutoff: SystemTime) -> Result<Purged, StoreError> {
        self.ensure_present()?;
        self.bin
            .purge_before(cutoff, &self.durability)
            .map_err(|e| self.explain(e))
    }

    /// Removes every bin entry older than `retention`; what a retention task runs.
    ///
    /// # Errors
    ///
    /// As [`Store::purge_before`].
    pub fn apply_retention(&self, retention: Duration) -> Result<Purged, StoreError> {
        self.purge_before(
            SystemTime::now()
                .checked_sub(retention)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        )
    }
}
