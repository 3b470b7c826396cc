//! Remembered SHA-256s of files the service wrote, so listings can show them without
//! rehashing. A record only counts while the file still has the size, mtime and inode it
//! had when it was hashed: a file changed or replaced behind the service's back shows
//! `null`, never a stale hash.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::PartialPath;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::error::io_err;

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
    path: String,
    stamp: Stamp,
    sha256: String,
}

/// An append-only JSON-lines log, loaded into memory at start and compacted then.
#[derive(Debug)]
pub(crate) struct HashLog {
    path: Utf8PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` on a read-only data directory: hashes are then remembered in memory only.
    file: Option<File>,
    known: HashMap<String, (Stamp, String)>,
}

impl HashLog {
    /// Loads the log, keeps the records that still match a live file (by `current`), and
    /// rewrites it with only those. A torn last line (crash mid-append) is skipped.
    pub(crate) fn open(
        path: Utf8PathBuf,
        current: impl Fn(&str) -> Option<Stamp>,
    ) -> Result<(Self, usize), StoreError> {
        let mut known = HashMap::new();
        let mut dropped = 0;
        match File::open(&path) {
            Ok(file) => {
                for line in BufReader::new(file).lines() {
                    let line = line.map_err(io_err("read", &path))?;
                    match serde_json::from_str::<Record>(&line) {
                        Ok(r) if current(&r.path) == Some(r.stamp) => {
                            known.insert(r.path, (r.stamp, r.sha256));
                        }
                        _ => dropped += 1,
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("read", path, e)),
        }
        let records = known.iter().map(|(p, (stamp, sha))| Record {
            path: p.clone(),
            stamp: *stamp,
            sha256: sha.clone(),
        });
        let file = crate::fsops::rewrite_log(&path, records)?;
        Ok((
            Self {
                path,
                inner: Mutex::new(Inner { file, known }),
            },
            dropped,
        ))
    }

    /// Remembers `sha256` for the file at `path` as it is now (`stamp`).
    ///
    /// The log is a cache: failing to append only costs a `null` hash after a restart, so
    /// it is logged rather than failing the upload that has already been published.
    pub(crate) fn record(&self, path: &PartialPath, stamp: Stamp, sha256: String) {
        let key = path.to_string();
        let record = Record {
            path: key.clone(),
            stamp,
            sha256: sha256.clone(),
        };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(line) = serde_json::to_string(&record)
            && let Some(file) = inner.file.as_mut()
            && let Err(e) = writeln!(file, "{line}")
        {
            tracing::warn!(error = %e, log = %self.path, "could not append to the hash log");
        }
        inner.known.insert(key, (stamp, sha256));
    }

    /// The remembered hash of `path`, if the file is still the one that was hashed.
    pub(crate) fn lookup(&self, path: &str, meta: &Metadata) -> Option<String> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (stamp, sha) = inner.known.get(path)?;
        (*stamp == Stamp::of(meta)).then(|| sha.clone())
    }

    /// Forgets `path` (it was moved away).
    pub(crate) fn forget(&self, path: &PartialPath) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.known.remove(&path.to_string());
    }
}

/// The stamp of the live file at `path`, following symlinks.
pub(crate) fn stamp_of(path: &Utf8Path) -> Option<Stamp> {
    fs::metadata(path).ok().map(|m| Stamp::of(&m))
}
