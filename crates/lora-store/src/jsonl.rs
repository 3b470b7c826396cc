//! One append-only JSON-lines log type, for the hash log and the bin journal.
//!
//! The store's own files are input like any other: a line that does not parse as a
//! record (a torn last line after a crash, a disk fault, a hand edit) is dropped with a
//! warning, never trusted and never a panic. Each log is read once at start, reduced to
//! what still holds, rewritten durably, and then only appended to.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::sync::Mutex;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;
use crate::error::io_err;
use crate::fsops::replace_durably;

/// Whether an append must reach the disk before the call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sync {
    /// The record can be rebuilt (a cache): a crash may lose it.
    Lazy,
    /// The record is the only copy of what it says (fsync'd data).
    Durable,
}

/// An open log of records `R`.
#[derive(Debug)]
pub(crate) struct JsonLines<R> {
    path: Utf8PathBuf,
    /// `None` on a read-only data directory: records then live in memory only.
    file: Mutex<Option<File>>,
    _record: PhantomData<fn(R)>,
}

/// What reading a log found.
#[derive(Debug)]
pub(crate) struct Loaded<R> {
    /// The records that parsed, in file order.
    pub(crate) records: Vec<R>,
    /// Lines that did not parse.
    pub(crate) damaged: usize,
}

impl<R: Serialize + DeserializeOwned> JsonLines<R> {
    /// Reads every record of the log at `path` (none when it does not exist).
    pub(crate) fn load(path: &Utf8Path) -> Result<Loaded<R>, StoreError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Loaded {
                    records: Vec::new(),
                    damaged: 0,
                });
            }
            Err(e) => return Err(StoreError::io("read", path, e)),
        };
        let mut records = Vec::new();
        let mut damaged = 0;
        for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line.map_err(io_err("read", path))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<R>(&line) {
                Ok(record) => records.push(record),
                Err(e) => {
                    damaged += 1;
                    tracing::warn!(log = %path, line = n + 1, error = %e, "dropping a damaged record");
                }
            }
        }
        Ok(Loaded { records, damaged })
    }

    /// Replaces the log at `path` with `records` (durably) and opens it for appending.
    pub(crate) fn rewrite<'a>(
        path: Utf8PathBuf,
        records: impl IntoIterator<Item = &'a R>,
    ) -> Result<Self, StoreError>
    where
        R: 'a,
    {
        let mut text = Vec::new();
        for record in records {
            // Records are plain data: serializing them cannot fail.
            if serde_json::to_writer(&mut text, record).is_ok() {
                text.push(b'\n');
            }
        }
        let file = match replace_durably(&path, &text) {
            Ok(()) => Some(
                OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(io_err("open", &path))?,
            ),
            Err(StoreError::Unavailable { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Self {
            path,
            file: Mutex::new(file),
            _record: PhantomData,
        })
    }

    /// Appends one record. A log that could not be opened for writing (the data
    /// directory was read-only at start) is opened now if it can be: a disk remounted
    /// read-write keeps its journals without a restart.
    ///
    /// # Errors
    ///
    /// The I/O error when the log cannot be opened, or the line cannot be written (or
    /// synced, for [`Sync::Durable`]).
    pub(crate) fn append(&self, record: &R, sync: Sync) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if file.is_none() {
            let reopened = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)?;
            tracing::info!(log = %self.path, "the log is writable again");
            *file = Some(reopened);
        }
        let Some(file) = file.as_mut() else {
            return Err(io::ErrorKind::ReadOnlyFilesystem.into());
        };
        // One write call per line, so concurrent appends never interleave within a line.
        file.write_all(&line)?;
        if sync == Sync::Durable {
            file.sync_data()?;
        }
        Ok(())
    }

    /// Where the log is, for messages.
    pub(crate) fn path(&self) -> &Utf8Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct R {
        n: u32,
    }

    #[test]
    fn damaged_lines_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("log.jsonl")).unwrap();
        std::fs::write(
            &path,
            b"{\"n\":1}\nnot json\n\n{\"n\":\"x\"}\n{\"n\":2}\n{\"n\":",
        )
        .unwrap();
        let loaded = JsonLines::<R>::load(&path).unwrap();
        assert_eq!(loaded.records, vec![R { n: 1 }, R { n: 2 }]);
        assert_eq!(loaded.damaged, 3);

        let log = JsonLines::rewrite(path.clone(), &loaded.records).unwrap();
        log.append(&R { n: 3 }, Sync::Durable).unwrap();
        let again = JsonLines::<R>::load(&path).unwrap();
        assert_eq!(again.records, vec![R { n: 1 }, R { n: 2 }, R { n: 3 }]);
        assert_eq!(again.damaged, 0);
    }
}
