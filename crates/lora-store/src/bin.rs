//! The recycle bin: listing, restoring and purging what deletes moved there.
//!
//! The bin's layout is the contract's (`DATA/bin/models/loras/{entity}/{name}`). What a
//! file's name there cannot say (where it came from, when it was deleted, its hash) is kept
//! in `DATA/.lora-server/bin.jsonl`, an append-only journal compacted at start. The disk is
//! the truth: a journal record counts only while the bin file it names still has the inode
//! it had; a file in the bin without a record (put there by hand, or journal lost) is
//! listed with its own path as origin and its ctime (set by the rename into the bin) as
//! deletion time.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{EntityType, PartialPath, versioned_file_name};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::io_err;
use crate::fsops::{rename_noreplace, rewrite_log, sync_dir};
use crate::hashes::Stamp;
use crate::store::resolve_in;
use crate::{OnClash, Store, StoreError};

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
    pub sha256: Option<String>,
}

/// A page of the bin.
#[derive(Debug, Clone)]
pub struct BinListing {
    /// The entries on this page, sorted by bin path.
    pub items: Vec<BinEntry>,
    /// How many entries match, over all pages.
    pub total: usize,
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

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Files removed.
    pub files: usize,
    /// Bytes freed.
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    bin: String,
    original: String,
    deleted_at: i64,
    ino: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stamp: Option<Stamp>,
    /// Set on the line that retires a record (restored or purged).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    removed: bool,
}

#[derive(Debug)]
pub(crate) struct BinJournal {
    path: Utf8PathBuf,
    /// The journal file (`None` on a read-only data directory) and the live records.
    inner: Mutex<(Option<File>, HashMap<String, Record>)>,
}

impl BinJournal {
    /// Loads the journal, keeps the records whose bin file still exists with the same
    /// inode, and rewrites it with only those.
    pub(crate) fn open(
        path: Utf8PathBuf,
        bin_root: &Utf8Path,
    ) -> Result<(Self, usize), StoreError> {
        let mut records: HashMap<String, Record> = HashMap::new();
        match File::open(&path) {
            Ok(file) => {
                for line in BufReader::new(file).lines() {
                    let line = line.map_err(io_err("read", &path))?;
                    let Ok(record) = serde_json::from_str::<Record>(&line) else {
                        continue;
                    };
                    if record.removed {
                        records.remove(&record.bin);
                    } else {
                        records.insert(record.bin.clone(), record);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("read", path, e)),
        }
        let before = records.len();
        records.retain(|bin, r| {
            fs::symlink_metadata(bin_root.join(bin)).is_ok_and(|m| m.ino() == r.ino)
        });
        let dropped = before - records.len();
        let file = rewrite_log(&path, records.values())?;
        Ok((
            Self {
                path,
                inner: Mutex::new((file, records)),
            },
            dropped,
        ))
    }

    fn append(&self, record: Record) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(line) = serde_json::to_string(&record) {
            // Durable: the journal is the only record of where a binned file came from.
            let written = match inner.0.as_mut() {
                Some(file) => writeln!(file, "{line}").and_then(|()| file.sync_data()),
                None => Err(std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem)),
            };
            if let Err(e) = written {
                tracing::warn!(error = %e, journal = %self.path, "could not append to the bin journal");
            }
        }
        if record.removed {
            inner.1.remove(&record.bin);
        } else {
            inner.1.insert(record.bin.clone(), record);
        }
    }

    fn get(&self, bin: &str, meta: &Metadata) -> Option<Record> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.1.get(bin).filter(|r| r.ino == meta.ino()).cloned()
    }

    fn retire(&self, bin: &PartialPath) {
        self.append(Record {
            bin: bin.to_string(),
            original: String::new(),
            deleted_at: 0,
            ino: 0,
            sha256: None,
            stamp: None,
            removed: true,
        });
    }
}

impl Store {
    /// Records a file just moved into the bin (called by [`Store::delete`]).
    pub(crate) fn journal_binned(
        &self,
        bin: &PartialPath,
        original: &PartialPath,
        meta: &Metadata,
        sha256: Option<String>,
    ) {
        self.bin_journal.append(Record {
            bin: bin.to_string(),
            original: original.to_string(),
            deleted_at: OffsetDateTime::now_utc().unix_timestamp(),
            ino: meta.ino(),
            stamp: sha256.as_ref().map(|_| Stamp::of(meta)),
            sha256,
            removed: false,
        });
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
        let entities: Vec<EntityType> =
            entity.map_or_else(|| EntityType::ALL.to_vec(), |e| vec![e]);
        let mut total = 0;
        let mut items = Vec::new();
        for entity in entities {
            let names = self
                .bin_dirs
                .names(entity, &self.layout.bin_entity_dir(entity))?;
            let start = offset.saturating_sub(total).min(names.len());
            total += names.len();
            let want = limit.saturating_sub(items.len());
            for name in names[start..].iter().take(want) {
                let Ok(bin_path) = PartialPath::from_parts(entity, name) else {
                    continue;
                };
                if let Some(entry) = self.bin_entry(bin_path) {
                    items.push(entry);
                }
            }
        }
        Ok(BinListing { items, total })
    }

    fn bin_entry(&self, bin_path: PartialPath) -> Option<BinEntry> {
        let meta = fs::symlink_metadata(self.layout.bin_path(&bin_path)).ok()?;
        let record = self.bin_journal.get(&bin_path.to_string(), &meta);
        let original = record
            .as_ref()
            .and_then(|r| PartialPath::parse(&r.original).ok())
            .unwrap_or_else(|| bin_path.clone());
        let deleted_at = record
            .as_ref()
            .and_then(|r| OffsetDateTime::from_unix_timestamp(r.deleted_at).ok())
            .unwrap_or_else(|| {
                OffsetDateTime::from_unix_timestamp(meta.ctime())
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            });
        // The hash stands only while the file is the one that was hashed.
        let sha256 = record.and_then(|r| r.sha256.filter(|_| r.stamp == Some(Stamp::of(&meta))));
        Some(BinEntry {
            bin_path,
            original,
            len: meta.len(),
            deleted_at,
            sha256,
        })
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
        let file = resolve_in(
            &self.layout.bin_path(bin_path),
            &self.canonical_bin,
            bin_path,
            "the bin",
        )?;
        let entry = self
            .bin_entry(bin_path.clone())
            .ok_or_else(|| StoreError::NotFound {
                path: bin_path.to_string(),
            })?;
        let dir = self.layout.entity_dir(entry.original.entity());
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let versions: u32 = if on_clash == OnClash::Refuse {
            1
        } else {
            u32::MAX
        };
        for n in 1..=versions {
            let name = versioned_file_name(entry.original.file_name(), n);
            let target = dir.join(&name);
            match rename_noreplace(&file, &target) {
                Ok(()) => {
                    let bin_dir = self.layout.bin_entity_dir(bin_path.entity());
                    sync_dir(&dir).map_err(io_err("fsync", &dir))?;
                    sync_dir(&bin_dir).map_err(io_err("fsync", &bin_dir))?;
                    self.bin_journal.retire(bin_path);
                    let partial_path = PartialPath::from_parts(entry.original.entity(), &name)
                        .map_err(|_| StoreError::InvalidPath {
                            path: bin_path.to_string(),
                            reason: "no valid live name is left for it",
                        })?;
                    if let (Some(sha), Ok(meta)) = (entry.sha256, fs::metadata(&target)) {
                        self.hashes.record(&partial_path, Stamp::of(&meta), sha);
                    }
                    return Ok(Restored {
                        partial_path,
                        path: target,
                        bin_path: bin_path.clone(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if on_clash == OnClash::Refuse {
                        return Err(StoreError::AlreadyExists {
                            path: entry.original.to_string(),
                        });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !file.exists() => {
                    return Err(StoreError::NotFound {
                        path: bin_path.to_string(),
                    });
                }
                Err(e) => return Err(StoreError::io("restore", file, e)),
            }
        }
        Err(StoreError::AlreadyExists {
            path: entry.original.to_string(),
        })
    }

    /// Removes one file from the bin for good.
    ///
    /// # Errors
    ///
    /// As [`Store::restore`] for the path; [`StoreError::Io`] when removing fails.
    pub fn purge(&self, bin_path: &PartialPath) -> Result<Purged, StoreError> {
        let file = resolve_in(
            &self.layout.bin_path(bin_path),
            &self.canonical_bin,
            bin_path,
            "the bin",
        )?;
        let len = fs::symlink_metadata(&file).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    path: bin_path.to_string(),
                });
            }
            Err(e) => return Err(StoreError::io("remove", file, e)),
        }
        let dir = self.layout.bin_entity_dir(bin_path.entity());
        sync_dir(&dir).map_err(io_err("fsync", &dir))?;
        self.bin_journal.retire(bin_path);
        Ok(Purged {
            files: 1,
            bytes: len,
        })
    }

    /// Removes every bin entry deleted before `cutoff`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the bin cannot be read or a file cannot be removed.
    pub fn purge_before(&self, cutoff: SystemTime) -> Result<Purged, StoreError> {
        let cutoff = OffsetDateTime::from(cutoff);
        let mut purged = Purged::default();
        let all = self.list_bin(None, 0, usize::MAX)?;
        for entry in all.items.into_iter().filter(|e| e.deleted_at < cutoff) {
            match self.purge(&entry.bin_path) {
                Ok(p) => {
                    purged.files += p.files;
                    purged.bytes += p.bytes;
                }
                // Purged or restored meanwhile by someone else: nothing to do.
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(purged)
    }

    /// Removes every bin entry older than `retention`; what the retention task runs.
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
