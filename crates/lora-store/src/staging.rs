use std::io::{BufWriter, Write};

use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::StoreError;
use crate::error::io_err;
use crate::writeback::Writeback;

/// Bytes are gathered into writes of this size: few syscalls, bounded memory.
const WRITE_BUFFER: usize = 1 << 20;

/// An upload being received into the staging folder.
///
/// Bytes are hashed (SHA-256) and buffered as they are written. Dropping it at any point
/// before [`StagedUpload::finish`] removes the staging file; a crash leaves it for
/// [`crate::Store::open`] to remove.
#[derive(Debug)]
pub struct StagedUpload {
    file: BufWriter<NamedTempFile>,
    /// `None` when the caller hashes the bytes itself (see [`crate::Store::stage_unhashed`]).
    hasher: Option<Sha256>,
    len: u64,
    path: Utf8PathBuf,
    writeback: Writeback,
    /// Test hook: writes past this many bytes fail as if the disk were full.
    #[cfg(feature = "fault-injection")]
    pub(crate) fail_after: Option<u64>,
}

/// A complete, fsynced upload in the staging folder, ready for [`crate::Store::publish`].
///
/// Dropping it removes the staging file.
#[derive(Debug)]
pub struct StagedFile {
    pub(crate) file: NamedTempFile,
    pub(crate) len: u64,
    pub(crate) sha256: [u8; 32],
    pub(crate) path: Utf8PathBuf,
}

impl StagedUpload {
    pub(crate) fn create(staging_dir: &Utf8Path) -> Result<Self, StoreError> {
        let file = tempfile::Builder::new()
            .prefix(".upload-")
            .suffix(".part")
            .tempfile_in(staging_dir)
            .map_err(io_err("create a staging file in", staging_dir))?;
        let path = Utf8PathBuf::from_path_buf(file.path().to_path_buf())
            .unwrap_or_else(|p| Utf8PathBuf::from(p.to_string_lossy().into_owned()));
        Ok(Self {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            hasher: Some(Sha256::new()),
            len: 0,
            path,
            writeback: Writeback::default(),
            #[cfg(feature = "fault-injection")]
            fail_after: None,
        })
    }

    /// Appends a chunk.
    ///
    /// # Errors
    ///
    /// [`StoreError::StorageFull`] when the disk is full, [`StoreError::Io`] otherwise.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        #[cfg(feature = "fault-injection")]
        if self
            .fail_after
            .is_some_and(|limit| self.len + chunk.len() as u64 > limit)
        {
            // ENOSPC, exactly as the kernel reports a full disk.
            return Err(StoreError::io(
                "write the staging file",
                &self.path,
                std::io::Error::from_raw_os_error(28),
            ));
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(chunk);
        }
        self.file
            .write_all(chunk)
            .map_err(io_err("write the staging file", &self.path))?;
        self.len += chunk.len() as u64;
        self.writeback
            .wrote(self.file.get_ref().as_file(), self.len);
        Ok(())
    }

    pub(crate) fn skip_hashing(&mut self) {
        self.hasher = None;
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Flushes and fsyncs the file: from here on its bytes survive a crash.
    ///
    /// # Errors
    ///
    /// [`StoreError::StorageFull`] or [`StoreError::Io`] when the data cannot be made durable.
    pub fn finish(mut self) -> Result<StagedFile, StoreError> {
        let sha256 = self.hasher.take().map(|h| h.finalize().into());
        self.finish_inner(sha256)
    }

    /// Like [`StagedUpload::finish`], for an upload started with
    /// [`crate::Store::stage_unhashed`]: `sha256` is the digest the caller computed over
    /// exactly the bytes it wrote (hashing on another thread, beside the writes).
    ///
    /// # Errors
    ///
    /// As [`StagedUpload::finish`].
    pub fn finish_with_sha256(self, sha256: [u8; 32]) -> Result<StagedFile, StoreError> {
        self.finish_inner(Some(sha256))
    }

    fn finish_inner(mut self, sha256: Option<[u8; 32]>) -> Result<StagedFile, StoreError> {
        let sha256 = sha256.ok_or_else(|| {
            StoreError::io(
                "finish an unhashed upload without its sha256",
                &self.path,
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            )
        })?;
        let path = self.path;
        self.writeback
            .finish()
            .map_err(io_err("write back the staging file", &path))?;
        let file = self
            .file
            .into_inner()
            .map_err(|e| StoreError::io("flush the staging file", &path, e.into_error()))?;
        file.as_file()
            .sync_all()
            .map_err(io_err("fsync the staging file", &path))?;
        Ok(StagedFile {
            file,
            len: self.len,
            sha256,
            path,
        })
    }
}

impl StagedFile {
    /// Where the staged bytes are, for content checks before publishing.
    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Lower-case hex SHA-256 of the bytes.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}
