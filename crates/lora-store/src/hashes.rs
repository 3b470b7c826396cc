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
}

/// The hash log, loaded into memory at start and compacted then.
#[derive(Debug)]
pub(crate) struct HashLog {
    log: JsonLines<Record>,
    known: Mutex<HashMap<PartialPath, (Stamp, Sha256)>>,
}

impl HashLog {
    /// Loads the log, keeps the records that still match a live file (by `current`), and
    /// rewrites it with only those. Returns how many records were dropped (stale or
    /// damaged).
    pub(crate) fn open(
        path: Utf8PathBuf,
        current: impl Fn(&PartialPath) -> Option<Stamp>,
    ) -> Result<(Self, usize), StoreError> {
        let loaded = JsonLines::<Record>::load(&path)?;
        let read = loaded.records.len();
        let mut known = HashMap::new();
        for r in loaded.records {
            if current(&r.path) == Some(r.stamp) {
                known.insert(r.path.clone(), r);
            }
        }
        let dropped = loaded.damaged + read - known.len();
        let log = JsonLines::rewrite(path, known.values())?;
        let known = known
            .into_iter()
            .map(|(p, r)| (p, (r.stamp, r.sha256)))
            .collect();
        Ok((
            Self {
                log,
                known: Mutex::new(known),
            },
            dropped,
        ))
    }

    /// Remembers `sha256` for the file at `path` as it is now (`stamp`).
    ///
    /// The log is a cache: failing to append only costs a `null` hash after a restart, so
    /// it is logged rather than failing the upload that has already been published.
    pub(crate) fn record(&self, path: &PartialPath, stamp: Stamp, sha256: Sha256) {
        let record = Record {
            path: path.clone(),
            stamp,
            sha256,
        };
        if let Err(e) = self.log.append(&record, Sync::Lazy) {
            tracing::warn!(error = %e, log = %self.log.path(), "could not append to the hash log");
        }
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.insert(record.path, (stamp, sha256));
    }

    /// The remembered hash of `path`, if the file is still the one that was hashed.
    pub(crate) fn lookup(&self, path: &PartialPath, meta: &Metadata) -> Option<Sha256> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let (stamp, sha) = known.get(path)?;
        (*stamp == Stamp::of(meta)).then_some(*sha)
    }

    /// Forgets `path` (it was moved away).
    pub(crate) fn forget(&self, path: &PartialPath) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.remove(path);
    }
}

/// The stamp of the live file at `path`, following symlinks.
pub(crate) fn stamp_of(path: &Utf8Path) -> Option<Stamp> {
    fs::metadata(path).ok().map(|m| Stamp::of(&m))
}
