//! A file the server fetches itself (an install from a URL): its bytes kept in a partial
//! file that outlives the process, so a download cut by a dropped connection or a restart
//! goes on from where it stopped instead of from zero.
//!
//! The partial is hashed (SHA-256) and handed to a [`Tap`] as it is written, like a
//! staging file; after a restart the bytes already there are read once to rebuild that
//! state. When complete it moves into the staging folder as a [`StagedFile`], ready for
//! the same publish as any upload.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::Sha256;
use sha2::Digest;
use tempfile::{NamedTempFile, TempPath};

use crate::error::io_err;
use crate::{StagedFile, StoreError, Tap};

/// Bytes read at a time when a partial is hashed again after a restart.
const REREAD: usize = 1 << 20;

/// A download's bytes so far, in a file of their own (mode 0600).
///
/// Dropping it keeps the file: the download goes on later with [`Download::open`]
/// (remove it with [`Download::remove`]).
pub struct Download {
    file: File,
    path: Utf8PathBuf,
    len: u64,
    sha: sha2::Sha256,
    tap: Option<Box<dyn Tap>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("tapped", &self.tap.is_some())
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
        let mut sha = sha2::Sha256::new();
        let mut tap = tap;
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
                sha.update(&buf[..n]);
                if let Some(tap) = &mut tap {
                    tap.see(&buf[..n]);
                }
                len += n as u64;
            }
        }
        file.seek(SeekFrom::Start(len))
            .map_err(io_err("seek the download", path))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            len,
            sha,
            tap,
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
        self.file
            .write_all(chunk)
            .map_err(io_err("write the download", &self.path))?;
        self.sha.update(chunk);
        if let Some(tap) = &mut self.tap {
            tap.see(chunk);
        }
        self.len += chunk.len() as u64;
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
            .set_len(0)
            .map_err(io_err("truncate the download", &self.path))?;
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(io_err("seek the download", &self.path))?;
        self.len = 0;
        self.sha = sha2::Sha256::new();
        self.tap = tap;
        Ok(())
    }

    /// Makes what was written survive a crash (a download cut by its source keeps it).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the file cannot be synced.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.file
            .sync_data()
            .map_err(io_err("fsync the download", &self.path))
    }

    /// The complete download, fsynced and moved into `staging` (on the same filesystem)
    /// as a staged file with its SHA-256; the tap has seen its end when this returns.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when it cannot be synced or moved.
    pub fn finish(self, staging: &Utf8Path) -> Result<StagedFile, StoreError> {
        self.file
            .sync_all()
            .map_err(io_err("fsync the download", &self.path))?;
        if let Some(tap) = self.tap {
            tap.end();
        }
        let name = self.path.file_name().unwrap_or("download");
        let to = staging.join(format!(".upload-{name}"));
        std::fs::rename(&self.path, &to).map_err(io_err("move to staging", &self.path))?;
        let temp = TempPath::try_from_path(to.as_std_path()).map_err(io_err("adopt", &to))?;
        Ok(StagedFile {
            file: NamedTempFile::from_parts(self.file, temp),
            len: self.len,
            sha256: Sha256::from_bytes(self.sha.finalize().into()),
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
