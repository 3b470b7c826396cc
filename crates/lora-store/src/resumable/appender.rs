//! Appending a PATCH's bytes to a part file, hashing them on a thread of their own.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use bytes::Bytes;
use camino::Utf8PathBuf;
use sha2::Digest;

use super::info::UploadId;
use crate::StoreError;
use crate::error::io_err;
use crate::writeback::Writeback;

/// A PATCH's bytes are flushed to disk every this many bytes while they arrive, so the
/// fsync that acknowledges them only waits for the last piece.
const WRITEBACK_EVERY: u64 = 2 << 20;

/// Appends a PATCH's bytes to a part file: written back to disk while they arrive (so
/// the PATCH's closing fsync waits only for the tail) and hashed on a thread of their own.
///
/// Only a PATCH that holds the upload's claim ([`super::PatchGuard`]) gets one.
#[derive(Debug)]
pub struct Appender {
    pub(super) id: UploadId,
    pub(super) file: File,
    pub(super) path: Utf8PathBuf,
    pub(super) offset: u64,
    written: u64,
    pub(super) writeback: Writeback,
    pub(super) hasher: Option<HashThread>,
}

impl Appender {
    pub(super) fn new(
        id: UploadId,
        file: File,
        path: Utf8PathBuf,
        offset: u64,
        hasher: Option<HashThread>,
    ) -> Self {
        Self {
            id,
            file,
            path,
            offset,
            written: 0,
            writeback: Writeback::every(WRITEBACK_EVERY),
            hasher,
        }
    }

    /// Appends `bytes`.
    ///
    /// # Errors
    ///
    /// [`StoreError::StorageFull`] or [`StoreError::Io`] when the write fails.
    pub fn write(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        self.file
            .write_all(&bytes)
            .map_err(io_err("write to an upload", &self.path))?;
        self.offset += bytes.len() as u64;
        self.written += bytes.len() as u64;
        self.writeback.wrote(&self.file, self.written);
        if let Some(h) = &self.hasher
            && h.chunks.send(bytes).is_err()
        {
            // The thread is gone: the hash will be recomputed at the end.
            self.hasher = None;
        }
        Ok(())
    }

    /// The offset reached so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The offset it started from.
    pub fn start(&self) -> u64 {
        self.offset - self.written
    }
}

/// SHA-256 on its own thread: the state goes in, chunks follow, the state comes back.
#[derive(Debug)]
pub(super) struct HashThread {
    chunks: SyncSender<Bytes>,
    state: JoinHandle<sha2::Sha256>,
}

impl HashThread {
    /// A thread hashing from the empty state; `None` when no thread can be started (the
    /// file is then hashed in one pass at the end).
    pub(super) fn start() -> Option<Self> {
        let (chunks, queue) = sync_channel::<Bytes>(16);
        let mut state = sha2::Sha256::new();
        let state = std::thread::Builder::new()
            .name("upload-hasher".into())
            .spawn(move || {
                for chunk in queue {
                    state.update(&chunk);
                }
                state
            })
            .ok()?;
        Some(Self { chunks, state })
    }

    /// Waits for the thread to hash what it was sent; the state.
    pub(super) fn finish(self) -> Option<sha2::Sha256> {
        drop(self.chunks);
        self.state.join().ok()
    }
}
