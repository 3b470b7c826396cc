//! A file the server fetches itself (an install from a URL): its bytes kept in a partial
//! file that outlives the process, so a download cut by a dropped connection or a restart
//! goes on from where it stopped instead of from zero.
//!
//! The partial is hashed (SHA-256) and handed to a [`Tap`] as it is written, like a
//! staging file (on a thread beside the writes, past a few MiB); after a restart the bytes already there are read once to rebuild that
//! state. When complete it moves into the staging folder as a [`StagedFile`], ready for
//! the same publish as any upload.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use bytes::Bytes;
use camino::{Utf8Path, Utf8PathBuf};
use tempfile::{NamedTempFile, TempPath};

use crate::error::io_err;
use crate::staging::Hasher;
use crate::writeback::Writeback;
use crate::{StagedFile, StoreError, Tap};

/// Bytes read at a time when a partial is hashed again after a restart, and gathered into
/// one write while it arrives (few syscalls for a network's small chunks).
const REREAD: usize = 1 << 20;

/// A download's bytes so far, in a file of their own (mode 0600).
///
/// Dropping it keeps the file: the download goes on later with [`Download::open`]
/// (remove it with [`Download::remove`]).
pub struct Download {
    file: BufWriter<File>,
    /// Flushes to disk while the download goes on, so the closing fsync waits for the tail.
    writeback: Writeback,
    path: Utf8PathBuf,
    len: u64,
    hasher: Hasher,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("path", &self.path)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// Opens the partial at `path`, creating it empty if there is none; the bytes already
    /// there are read once, so its hash and `tap` have seen every byte before the next
    /// [`Download::write`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the file cannot be created or read.
    pub fn open(path: &Utf8Path, tap: Option<Box<dyn Tap>>) -> Result<Self, StoreError> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .map_err(io_err("open the download", path))?;
        let mut hasher = Hasher::tapped(tap);
        let mut len = 0u64;
        {
            let mut reader = BufReader::with_capacity(REREAD, &mut file);
            let mut buf = vec![0u8; REREAD];
            loop {
                let n = reader
                    .read(&mut buf)
                    .map_err(io_err("read the download", path))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n], None, len);
                len += n as u64;
            }
        }
        file.seek(SeekFrom::Start(len))
            .map_err(io_err("seek the download", path))?;
        Ok(Self {
            file: BufWriter::with_capacity(REREAD, file),
            writeback: Writeback::default(),
            path: path.to_owned(),
            len,
            hasher,
        })
    }

    /// Bytes kept so far: where the next request's `Range` starts.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `chunk`.
    ///
    /// # Errors
    ///
    /// [`StoreError::StorageFull`] when the disk is full, [`StoreError::Io`] otherwise.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.write_inner(chunk, None)
    }

    /// Appends a reference-counted chunk: the hashing thread gets it without a copy.
    ///
    /// # Errors
    ///
    /// As [`Download::write`].
    pub fn write_bytes(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.write_inner(&chunk, Some(&chunk))
    }

    fn write_inner(&mut self, chunk: &[u8], shared: Option<&Bytes>) -> Result<(), StoreError> {
        self.file
            .write_all(chunk)
            .map_err(io_err("write the download", &self.path))?;
        self.hasher.update(chunk, shared, self.len);
        self.len += chunk.len() as u64;
        let flushed = self.len - self.file.buffer().len() as u64;
        self.writeback.wrote(self.file.get_ref(), flushed);
        Ok(())
    }

    /// Drops every byte kept (the source ignored `Range`, or its file changed) and starts
    /// again with `tap`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the file cannot be truncated.
    pub fn restart(&mut self, tap: Option<Box<dyn Tap>>) -> Result<(), StoreError> {
        self.file
            .flush()
            .map_err(io_err("write the download", &self.path))?;
        self.file
            .get_ref()
            .set_len(0)
            .map_err(io_err("truncate the download", &self.path))?;
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(io_err("seek the download", &self.path))?;
        self.len = 0;
        // The old hash's thread (if any) ends with its queue; nobody reads its result.
        self.hasher = Hasher::tapped(tap);
        Ok(())
    }

    /// Makes what was written survive a crash (a download cut by its source keeps it).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the file cannot be synced.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.file
            .flush()
            .map_err(io_err("write the download", &self.path))?;
        self.file
            .get_ref()
            .sync_data()
            .map_err(io_err("fsync the download", &self.path))
    }

    /// The complete download, fsynced and moved into `staging` (on the same filesystem)
    /// as a staged file with its SHA-256; the tap has seen its end when this returns.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when it cannot be synced or moved.
    pub fn finish(mut self, staging: &Utf8Path) -> Result<StagedFile, StoreError> {
        self.writeback
            .finish()
            .map_err(io_err("write back the download", &self.path))?;
        let file = self
            .file
            .into_inner()
            .map_err(|e| StoreError::io("write the download", &self.path, e.into_error()))?;
        file.sync_all()
            .map_err(io_err("fsync the download", &self.path))?;
        let sha256 = self.hasher.finish().ok_or_else(|| {
            StoreError::io(
                "hash the download",
                &self.path,
                std::io::Error::other("the hashing thread panicked"),
            )
        })?;
        let name = self.path.file_name().unwrap_or("download");
        let to = staging.join(format!(".upload-{name}"));
        std::fs::rename(&self.path, &to).map_err(io_err("move to staging", &self.path))?;
        let temp = TempPath::try_from_path(to.as_std_path()).map_err(io_err("adopt", &to))?;
        Ok(StagedFile {
            file: NamedTempFile::from_parts(file, temp),
            len: self.len,
            sha256,
            tensor_sha256: None,
            path: to,
            forwarded: None,
        })
    }

    /// Removes the partial at `path`, if any (a cancelled or failed download).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when it exists and cannot be removed.
    pub fn remove(path: &Utf8Path) -> Result<(), StoreError> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::io("remove the download", path, e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use lora_core::Sha256;
    use sha2::Digest;

    use super::*;

    /// A tap that keeps what it saw, and whether it ended.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<(Vec<u8>, bool)>>);

    impl Tap for Seen {
        fn see(&mut self, chunk: &[u8]) {
            self.0.lock().unwrap().0.extend_from_slice(chunk);
        }
        fn end(self: Box<Self>) {
            self.0.lock().unwrap().1 = true;
        }
    }

    fn sha(bytes: &[u8]) -> Sha256 {
        Sha256::from_bytes(sha2::Sha256::digest(bytes).into())
    }

    #[test]
    fn a_download_reopened_goes_on_and_hashes_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let staging = root.join("staging");
        std::fs::create_dir(&staging).unwrap();
        let path = root.join("job.part");
        let mut first = Download::open(&path, None).unwrap();
        first.write(b"hello ").unwrap();
        first.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello ");
        drop(first);

        let seen = Seen::default();
        let mut again = Download::open(&path, Some(Box::new(seen.clone()))).unwrap();
        assert_eq!(again.len(), 6);
        again.write(b"world").unwrap();
        let staged = again.finish(&staging).unwrap();
        assert_eq!(staged.len(), 11);
        assert_eq!(staged.sha256(), sha(b"hello world"));
        assert_eq!(std::fs::read(staged.path()).unwrap(), b"hello world");
        assert!(staged.path().starts_with(&staging));
        assert!(!path.exists(), "the partial moved into staging");
        let (bytes, ended) = seen.0.lock().unwrap().clone();
        assert_eq!((bytes.as_slice(), ended), (&b"hello world"[..], true));
        drop(staged);
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    }

    #[test]
    fn a_large_download_is_hashed_beside_its_writes_and_reopened_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let path = root.join("big.part");
        let bytes: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut download = Download::open(&path, None).unwrap();
        for chunk in bytes[..5_000_000].chunks(65_536) {
            download.write_bytes(Bytes::copy_from_slice(chunk)).unwrap();
        }
        download.sync().unwrap();
        drop(download);
        let seen = Seen::default();
        let mut again = Download::open(&path, Some(Box::new(seen.clone()))).unwrap();
        assert_eq!(again.len(), 5_000_000);
        for chunk in bytes[5_000_000..].chunks(100_000) {
            again.write_bytes(Bytes::copy_from_slice(chunk)).unwrap();
        }
        let staged = again.finish(root).unwrap();
        assert_eq!(staged.sha256(), sha(&bytes));
        assert_eq!(std::fs::read(staged.path()).unwrap(), bytes);
        let (tapped, ended) = seen.0.lock().unwrap().clone();
        assert!(ended && tapped == bytes);
    }

    #[test]
    fn a_restart_forgets_what_was_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let path = root.join("job.part");
        let mut download = Download::open(&path, None).unwrap();
        download.write(b"stale bytes").unwrap();
        let seen = Seen::default();
        download.restart(Some(Box::new(seen.clone()))).unwrap();
        download.write(b"fresh").unwrap();
        let staged = download.finish(root).unwrap();
        assert_eq!(staged.sha256(), sha(b"fresh"));
        assert_eq!(std::fs::read(staged.path()).unwrap(), b"fresh");
        assert_eq!(seen.0.lock().unwrap().0, b"fresh");
    }

    #[cfg(unix)]
    #[test]
    fn a_partial_is_private_and_removable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8Path::from_path(dir.path()).unwrap().join("job.part");
        drop(Download::open(&path, None).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        Download::remove(&path).unwrap();
        Download::remove(&path).unwrap();
        assert!(!path.exists());
    }
}
