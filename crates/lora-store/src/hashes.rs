//! Remembered SHA-256s of files the service wrote, so listings can show them without
//! rehashing. A record only counts while the file still has the size, mtime and inode it
//! had when it was hashed: a file changed or replaced behind the service's back shows
//! `null`, never a stale hash. A record whose hash is not a SHA-256 (a damaged log) does
//! not parse, is dropped at start, and the hash is computed again when next needed.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{PartialPath, Sha256};
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::jsonl::{JsonLines, Sync};

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    len: u64,
    mtime_ns: i64,
    ino: u64,
}

impl Stamp {
    pub(crate) fn of(meta: &Metadata) -> Self {
        Self {
            len: meta.len(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ino: meta.ino(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    path: PartialPath,
    stamp: Stamp,
    sha256: Sha256,
    /// The tensor-data hash (safetensors files checked on the way in); absent in logs
    /// written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tensor_sha256: Option<Sha256>,
}

/// What the log knows of one file.
#[derive(Debug, Clone, Copy)]
struct Known {
    stamp: Stamp,
    sha256: Sha256,
    tensor_sha256: Option<Sha256>,
}

/// One line of the log: a hash learnt, or a file moved away (so a clean stop leaves no
/// record a restart would have to call stale).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Known(Record),
    Forgotten { path: PartialPath, forgotten: bool },
}

/// The hash log, loaded into memory at start and compacted then.
#[derive(Debug)]
pub(crate) struct HashLog {
    log: JsonLines<Line>,
    known: Mutex<HashMap<PartialPath, Known>>,
}

impl HashLog {
    /// Loads the log, keeps the records that still match a live file (by `current`), and
    /// rewrites it with only those. Returns how many records were dropped (stale or
    /// damaged).
    pub(crate) fn open(
        path: Utf8PathBuf,
        current: impl Fn(&PartialPath) -> Option<Stamp>,
    ) -> Result<(Self, usize), StoreError> {
        let loaded = JsonLines::<Line>::load(&path)?;
        let mut latest: HashMap<PartialPath, Record> = HashMap::new();
        for line in loaded.records {
            match line {
                Line::Known(r) => {
                    latest.insert(r.path.clone(), r);
                }
                Line::Forgotten { path, .. } => {
                    latest.remove(&path);
                }
            }
        }
        let read = latest.len();
        latest.retain(|p, r| current(p) == Some(r.stamp));
        let dropped = loaded.damaged + read - latest.len();
        let lines: Vec<Line> = latest.into_values().map(Line::Known).collect();
        let log = JsonLines::rewrite(path, &lines)?;
        let known = lines
            .into_iter()
            .filter_map(|l| match l {
                Line::Known(r) => Some((
                    r.path,
                    Known {
                        stamp: r.stamp,
                        sha256: r.sha256,
                        tensor_sha256: r.tensor_sha256,
                    },
                )),
                Line::Forgotten { .. } => None,
            })
            .collect();
        Ok((
            Self {
                log,
                known: Mutex::new(known),
            },
            dropped,
        ))
    }

    /// Remembers `sha256` (and the tensor-data hash, when known) for the file at `path`
    /// as it is now (`stamp`).
    ///
    /// The log is a cache: failing to append only costs a `null` hash after a restart, so
    /// it is logged rather than failing the upload that has already been published.
    pub(crate) fn record(
        &self,
        path: &PartialPath,
        stamp: Stamp,
        sha256: Sha256,
        tensor_sha256: Option<Sha256>,
    ) {
        self.append(&Line::Known(Record {
            path: path.clone(),
            stamp,
            sha256,
            tensor_sha256,
        }));
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.insert(
            path.clone(),
            Known {
                stamp,
                sha256,
                tensor_sha256,
            },
        );
    }

    fn append(&self, line: &Line) {
        if let Err(e) = self.log.append(line, Sync::Lazy) {
            tracing::warn!(error = %e, log = %self.log.path(), "could not append to the hash log");
        }
    }

    /// The remembered hash of `path`, if the file is still the one that was hashed.
    pub(crate) fn lookup(&self, path: &PartialPath, meta: &Metadata) -> Option<Sha256> {
        self.lookup_both(path, meta).map(|(sha, _)| sha)
    }

    /// The remembered hash and tensor-data hash of `path`, if the file is still the one
    /// that was hashed.
    pub(crate) fn lookup_both(
        &self,
        path: &PartialPath,
        meta: &Metadata,
    ) -> Option<(Sha256, Option<Sha256>)> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let k = known.get(path)?;
        (k.stamp == Stamp::of(meta)).then_some((k.sha256, k.tensor_sha256))
    }

    /// Forgets `path` (it was moved away), on disk too.
    pub(crate) fn forget(&self, path: &PartialPath) {
        let had = {
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            known.remove(path).is_some()
        };
        if had {
            self.append(&Line::Forgotten {
                path: path.clone(),
                forgotten: true,
            });
        }
    }
}

/// The stamp of the live file at `path`, following symlinks.
pub(crate) fn stamp_of(path: &Utf8Path) -> Option<Stamp> {
    fs::metadata(path).ok().map(|m| Stamp::of(&m))
}
