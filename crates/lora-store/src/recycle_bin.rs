//! The recycle bin: where deletes move files, and what it knows about them.
//!
//! The bin's layout is the contract's (`DATA/bin/models/loras/{entity}/{name}`). What a
//! file's name there cannot say (where it came from, when it was deleted, its hash) is kept
//! in `DATA/.lora-server/bin.jsonl`, an append-only journal compacted at start. The disk is
//! the truth: a journal record counts only while the bin file it names still has the inode
//! it had; a file in the bin without a record (put there by hand, or journal lost) is
//! listed with its own path as origin and its ctime (set by the rename into the bin) as
//! deletion time.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;
use std::time::SystemTime;

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{EntityType, PartialPath, Sha256, versioned_file_name};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::StoreError;
use crate::durability::Durability;
use crate::hashes::Stamp;
use crate::jsonl::{JsonLines, Sync};
use crate::listing::{Change, DirCache, Links, Page, entities, page};
use crate::place::{OnClash, PlaceError, place};
use crate::resolve::{Area, Resolver};

/// One file in the bin.
#[derive(Debug, Clone)]
pub struct BinEntry {
    /// Where it is, relative to `DATA/bin/models/loras`.
    pub bin_path: PartialPath,
    /// Where it was, relative to `DATA/models/loras`.
    pub original: PartialPath,
    /// Size in bytes.
    pub len: u64,
    /// When it was moved to the bin.
    pub deleted_at: OffsetDateTime,
    /// SHA-256, when it was known at deletion and the file is unchanged.
    pub sha256: Option<Sha256>,
    /// SHA-256 of its tensor data, on the same terms.
    pub tensor_sha256: Option<Sha256>,
}

/// A page of the bin, sorted by bin path.
pub type BinListing = Page<BinEntry>;

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// The bin entries removed, by bin path (a caller announces or forgets exactly
    /// these, without listing the bin before and after).
    pub paths: Vec<PartialPath>,
    /// Bytes freed.
    pub bytes: u64,
}

impl Purged {
    /// How many files were removed.
    #[must_use]
    pub fn files(&self) -> usize {
        self.paths.len()
    }

    /// Adds what another purge removed.
    pub fn add(&mut self, other: Purged) {
        self.paths.extend(other.paths);
        self.bytes += other.bytes;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    bin: PartialPath,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    original: Option<PartialPath>,
    #[serde(default)]
    deleted_at: i64,
    #[serde(default)]
    ino: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<Sha256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tensor_sha256: Option<Sha256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stamp: Option<Stamp>,
    /// Set on the line that retires a record (restored or purged).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    removed: bool,
}

/// The recycle bin of one data directory.
#[derive(Debug)]
pub(crate) struct RecycleBin {
    root: Utf8PathBuf,
    resolver: Resolver,
    dirs: DirCache,
    journal: JsonLines<Record>,
    /// The live records, by bin path.
    records: Mutex<HashMap<PartialPath, Record>>,
}

impl RecycleBin {
    /// Opens the bin at `root` with its journal at `journal`: keeps the records whose bin
    /// file still exists with the same inode and rewrites the journal with only those.
    /// Returns how many records were dropped (stale or damaged).
    pub(crate) fn open(root: &Utf8Path, journal: Utf8PathBuf) -> Result<(Self, usize), StoreError> {
        let loaded = JsonLines::<Record>::load(&journal)?;
        let mut records: HashMap<PartialPath, Record> = HashMap::new();
        for record in loaded.records {
            if record.removed {
                records.remove(&record.bin);
            } else {
                records.insert(record.bin.clone(), record);
            }
        }
        let kept_before_check = records.len();
        records.retain(|bin, r| {
            fs::symlink_metadata(root.join(bin.entity().as_str()).join(bin.file_name()))
                .is_ok_and(|m| m.ino() == r.ino)
        });
        let dropped = loaded.damaged + (kept_before_check - records.len());
        let journal = JsonLines::rewrite(journal, records.values())?;
        Ok((
            Self {
                root: root.to_owned(),
                resolver: Resolver::new(Area::Bin, root)?,
                dirs: DirCache::new(Links::AsEntries),
                journal,
                records: Mutex::new(records),
            },
            dropped,
        ))
    }

    fn dir(&self, entity: EntityType) -> Utf8PathBuf {
        self.root.join(entity.as_str())
    }

    fn path_of(&self, bin_path: &PartialPath) -> Utf8PathBuf {
        self.dir(bin_path.entity()).join(bin_path.file_name())
    }

    /// Moves the live file `live` (at `origin`) into the bin under the same partial path,
    /// or its first free `_vN` version; nothing in the bin is ever replaced. The journal
    /// is written before the folders are fsynced: once the move took effect, the origin
    /// must not be lost.
    pub(crate) fn admit(
        &self,
        live: &Utf8Path,
        origin: &PartialPath,
        (sha256, tensor_sha256): (Option<Sha256>, Option<Sha256>),
        durability: &Durability,
    ) -> Result<(PartialPath, Utf8PathBuf), StoreError> {
        let dir = self.dir(origin.entity());
        let names = (1..=u32::MAX).map(|n| versioned_file_name(origin.file_name(), n));
        let placed = match place(live, &dir, names, OnClash::Version) {
            Ok(placed) => placed,
            Err(PlaceError::SourceGone) => {
                return Err(StoreError::NotFound {
                    path: origin.clone(),
                });
            }
            Err(PlaceError::Taken(_)) => {
                return Err(StoreError::InvalidPath {
                    path: origin.clone(),
                    reason: "no free name is left for it in the bin",
                });
            }
            Err(PlaceError::Io(e)) => return Err(StoreError::io("move to the bin", live, e)),
        };
        // The name came from a valid partial path plus a `_vN` suffix: only an overlong
        // name can fail here, and then the file keeps that name in the bin.
        let bin_path = PartialPath::from_parts(origin.entity(), &placed.name)
            .unwrap_or_else(|_| origin.clone());
        if let Ok(meta) = fs::symlink_metadata(&placed.path) {
            self.remember(Record {
                bin: bin_path.clone(),
                original: Some(origin.clone()),
                deleted_at: OffsetDateTime::now_utc().unix_timestamp(),
                ino: meta.ino(),
                stamp: sha256.map(|_| Stamp::of(&meta)),
                sha256,
                tensor_sha256: tensor_sha256.filter(|_| sha256.is_some()),
                removed: false,
            });
        }
        self.dirs
            .changed(origin.entity(), &dir, Change::Added(placed.name));
        durability.sync_dir_after(&dir, "a move to the bin");
        Ok((bin_path, placed.path))
    }

    fn remember(&self, record: Record) {
        // Durable: the journal is the only record of where a binned file came from.
        if let Err(e) = self.journal.append(&record, Sync::Durable) {
            tracing::warn!(error = %e, journal = %self.journal.path(), "could not append to the bin journal");
        }
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if record.removed {
            records.remove(&record.bin);
        } else {
            records.insert(record.bin.clone(), record);
        }
    }

    /// Forgets a bin entry that was restored or purged.
    fn retire(&self, bin_path: &PartialPath) {
        self.remember(Record {
            bin: bin_path.clone(),
            original: None,
            deleted_at: 0,
            ino: 0,
            sha256: None,
            tensor_sha256: None,
            stamp: None,
            removed: true,
        });
        self.dirs.changed(
            bin_path.entity(),
            &self.dir(bin_path.entity()),
            Change::Removed(bin_path.file_name().to_owned()),
        );
    }

    /// The absolute path of a bin entry that is a regular file inside the bin.
    /// A link in the bin is an entry of its own (a deleted link, dangling now that it moved):
    /// it can be restored or purged, never read through.
    pub(crate) fn resolve(&self, bin_path: &PartialPath) -> Result<Utf8PathBuf, StoreError> {
        self.resolver
            .link_or_regular_file(self.path_of(bin_path), bin_path)
    }

    /// A page of the bin, sorted by bin path, optionally of one entity type.
    pub(crate) fn list(
        &self,
        entity: Option<EntityType>,
        offset: usize,
        limit: usize,
    ) -> Result<BinListing, StoreError> {
        page(
            &entities(entity),
            offset,
            limit,
            |e| self.dirs.names(e, &self.dir(e)),
            |e, name| {
                let bin_path = PartialPath::from_parts(e, name).ok()?;
                self.entry(bin_path)
            },
        )
    }

    /// What the bin knows of `bin_path`; `None` when there is no such file.
    pub(crate) fn entry(&self, bin_path: PartialPath) -> Option<BinEntry> {
        let meta = fs::symlink_metadata(self.path_of(&bin_path)).ok()?;
        let record = {
            let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
            records
                .get(&bin_path)
                .filter(|r| r.ino == meta.ino())
                .cloned()
        };
        let original = record
            .as_ref()
            .and_then(|r| r.original.clone())
            .unwrap_or_else(|| bin_path.clone());
        let deleted_at = record
            .as_ref()
            .and_then(|r| OffsetDateTime::from_unix_timestamp(r.deleted_at).ok())
            .unwrap_or_else(|| {
                OffsetDateTime::from_unix_timestamp(meta.ctime())
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            });
        // The hash stands only while the file is the one that was hashed.
        let (sha256, tensor_sha256) = record
            .filter(|r| r.stamp == Some(Stamp::of(&meta)))
            .map(|r| (r.sha256, r.tensor_sha256))
            .unwrap_or_default();
        Some(BinEntry {
            bin_path,
            original,
            len: meta.len(),
            deleted_at,
            sha256,
            tensor_sha256,
        })
    }

    /// The bin entry `bin_path` left the bin (restored): forget it and fsync its folder.
    pub(crate) fn released(&self, bin_path: &PartialPath, durability: &Durability) {
        self.retire(bin_path);
        durability.sync_dir_after(&self.dir(bin_path.entity()), "a restore from the bin");
    }

    /// Removes one file from the bin for good.
    pub(crate) fn purge(
        &self,
        bin_path: &PartialPath,
        durability: &Durability,
    ) -> Result<Purged, StoreError> {
        let file = self.resolve(bin_path)?;
        let len = fs::symlink_metadata(&file).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    path: bin_path.clone(),
                });
            }
            Err(e) => return Err(StoreError::io("remove", file, e)),
        }
        self.retire(bin_path);
        durability.sync_dir_after(&self.dir(bin_path.entity()), "a purge from the bin");
        Ok(Purged {
            paths: vec![bin_path.clone()],
            bytes: len,
        })
    }

    /// Removes every bin entry deleted before `cutoff`.
    pub(crate) fn purge_before(
        &self,
        cutoff: SystemTime,
        durability: &Durability,
    ) -> Result<Purged, StoreError> {
        let cutoff = OffsetDateTime::from(cutoff);
        let mut purged = Purged::default();
        let all = self.list(None, 0, usize::MAX)?;
        for entry in all.items.into_iter().filter(|e| e.deleted_at < cutoff) {
            match self.purge(&entry.bin_path, durability) {
                Ok(p) => purged.add(p),
                // Purged or restored meanwhile by someone else: nothing to do.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(purged)
    }
}
