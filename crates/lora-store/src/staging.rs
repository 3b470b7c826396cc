//! Receiving an upload: the staging file, its SHA-256, and its durability.

use std::io::{BufWriter, Write};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use bytes::Bytes;
use camino::{Utf8Path, Utf8PathBuf};
use lora_core::Sha256;
use sha2::Digest;
use tempfile::NamedTempFile;

use crate::error::io_err;
use crate::writeback::Writeback;
use crate::{Forward, StoreError};

/// Bytes are gathered into writes of this size: few syscalls, bounded memory.
const WRITE_BUFFER: usize = 1 << 20;
/// Past this size an upload is hashed on a thread of its own, beside the writes: SHA-256
/// then no longer sits between the socket and the disk. Smaller uploads are hashed inline,
/// which costs less than starting a thread.
const PARALLEL_HASH_FROM: u64 = 4 << 20;
/// Chunks queued for the hashing thread (bounded memory, back-pressure on the writer).
const HASH_QUEUE: usize = 16;

/// Reads an upload's bytes in order while they are written, on the thread that hashes
/// them (beside the writes for large uploads): a content scan that needs no second read
/// of the file.
pub trait Tap: Send + 'static {
    /// The next bytes.
    fn see(&mut self, chunk: &[u8]);
    /// Every byte went by: [`StagedUpload::finish`] calls it before it returns. An upload
    /// dropped before that never calls it.
    fn end(self: Box<Self>);
}

/// An upload being received into the staging folder.
///
/// Bytes are hashed (SHA-256) and buffered as they are written; large uploads are hashed
/// on a second thread, which also hands them to the [`Tap`], if any. Dropping it at any point before [`StagedUpload::finish`] removes
/// the staging file; a crash leaves it for [`crate::Store::open`] to remove.
#[derive(Debug)]
pub struct StagedUpload {
    file: BufWriter<NamedTempFile>,
    hasher: Hasher,
    len: u64,
    path: Utf8PathBuf,
    writeback: Writeback,
    /// Where the bytes are also sent as they arrive (fleet mode), if anywhere.
    forward: Option<Box<dyn Forward>>,
    /// Test hook: writes past this many bytes fail as if the disk were full.
    #[cfg(feature = "fault-injection")]
    pub(crate) fail_after: Option<u64>,
}

/// The SHA-256 state and the tap that read the same bytes.
#[derive(Default)]
pub(crate) struct Reader {
    sha: sha2::Sha256,
    tap: Option<Box<dyn Tap>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("tapped", &self.tap.is_some())
            .finish_non_exhaustive()
    }
}

impl Reader {
    fn update(&mut self, chunk: &[u8]) {
        self.sha.update(chunk);
        if let Some(tap) = &mut self.tap {
            tap.see(chunk);
        }
    }

    fn finish(self) -> [u8; 32] {
        if let Some(tap) = self.tap {
            tap.end();
        }
        self.sha.finalize().into()
    }
}

/// SHA-256 (and a tap) over bytes written in order: inline while small, then on a thread
/// of its own beside the writes. Staging files and downloads both hash through it.
#[derive(Debug)]
pub(crate) enum Hasher {
    Inline(Reader),
    Parallel {
        chunks: SyncSender<Bytes>,
        digest: JoinHandle<[u8; 32]>,
    },
}

impl Hasher {
    /// A fresh hash whose bytes also go to `tap`.
    pub(crate) fn tapped(tap: Option<Box<dyn Tap>>) -> Self {
        Hasher::Inline(Reader {
            tap,
            ..Reader::default()
        })
    }

    /// Takes the bytes after the first `len_before` (`shared`, when given, is the same
    /// bytes reference-counted: no copy for the thread).
    pub(crate) fn update(&mut self, chunk: &[u8], shared: Option<&Bytes>, len_before: u64) {
        match self {
            Hasher::Inline(state) if len_before < PARALLEL_HASH_FROM => state.update(chunk),
            Hasher::Inline(state) => {
                state.update(chunk);
                let (chunks, queue) = sync_channel::<Bytes>(HASH_QUEUE);
                let (start, handoff) = sync_channel::<Reader>(1);
                let spawned = std::thread::Builder::new()
                    .name("upload-hasher".into())
                    .spawn(move || {
                        let mut state = handoff.recv().unwrap_or_default();
                        // The tap (a content scan with its own tensor hash) reads on a
                        // thread of its own: the two passes overlap instead of adding up.
                        let mut tap = state.tap.take().map(TapThread::start);
                        for chunk in queue {
                            state.sha.update(&chunk);
                            if let Some(tap) = &mut tap {
                                tap.see(chunk);
                            }
                        }
                        if let Some(tap) = tap {
                            tap.end();
                        }
                        state.finish()
                    });
                // Without a thread (resource limits), hashing simply stays inline.
                if let Ok(digest) = spawned {
                    match start.send(std::mem::take(state)) {
                        Ok(()) => *self = Hasher::Parallel { chunks, digest },
                        // The thread is gone already: keep the state, and hash inline.
                        Err(std::sync::mpsc::SendError(back)) => *state = back,
                    }
                }
            }
            Hasher::Parallel { chunks, .. } => {
                let chunk = shared
                    .cloned()
                    .unwrap_or_else(|| Bytes::copy_from_slice(chunk));
                // The thread only ends when `chunks` is dropped; a failed send means it
                // panicked, and `finish` reports that.
                let _ = chunks.send(chunk);
            }
        }
    }

    /// The digest (the tap has seen its end); `None` if the thread panicked.
    pub(crate) fn finish(self) -> Option<Sha256> {
        let bytes = match self {
            Hasher::Inline(state) => state.finish(),
            Hasher::Parallel { chunks, digest } => {
                drop(chunks);
                digest.join().ok()?
            }
        };
        Some(Sha256::from_bytes(bytes))
    }
}

/// A tap fed from the hashing thread: on a thread of its own, or inline when none can
/// start. Its end is awaited, so the tap has seen every byte when the digest is out.
enum TapThread {
    Thread {
        chunks: SyncSender<Bytes>,
        done: JoinHandle<()>,
    },
    Inline(Box<dyn Tap>),
}

impl TapThread {
    fn start(mut tap: Box<dyn Tap>) -> Self {
        let (chunks, queue) = sync_channel::<Bytes>(HASH_QUEUE);
        let (give, take) = sync_channel::<Box<dyn Tap>>(1);
        let spawned = std::thread::Builder::new()
            .name("upload-scan".into())
            .spawn(move || {
                if let Ok(mut tap) = take.recv() {
                    for chunk in queue {
                        tap.see(&chunk);
                    }
                    tap.end();
                }
            });
        match spawned {
            Ok(done) => match give.send(tap) {
                Ok(()) => TapThread::Thread { chunks, done },
                Err(std::sync::mpsc::SendError(back)) => {
                    tap = back;
                    TapThread::Inline(tap)
                }
            },
            Err(_) => TapThread::Inline(tap),
        }
    }

    fn see(&mut self, chunk: Bytes) {
        match self {
            // A failed send means the scan panicked: its result never arrives, and the
            // check then reads the file itself.
            TapThread::Thread { chunks, .. } => {
                let _ = chunks.send(chunk);
            }
            TapThread::Inline(tap) => tap.see(&chunk),
        }
    }

    fn end(self) {
        match self {
            TapThread::Thread { chunks, done } => {
                drop(chunks);
                let _ = done.join();
            }
            TapThread::Inline(tap) => tap.end(),
        }
    }
}

/// A complete, fsynced upload in the staging folder, ready for [`crate::Store::publish`].
///
/// Dropping it removes the staging file.
#[derive(Debug)]
pub struct StagedFile {
    pub(crate) file: NamedTempFile,
    pub(crate) len: u64,
    pub(crate) sha256: Sha256,
    pub(crate) tensor_sha256: Option<Sha256>,
    pub(crate) path: Utf8PathBuf,
    pub(crate) forwarded: Option<Box<dyn Forward>>,
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
            hasher: Hasher::Inline(Reader::default()),
            len: 0,
            path,
            writeback: Writeback::default(),
            forward: None,
            #[cfg(feature = "fault-injection")]
            fail_after: None,
        })
    }

    /// Sends every chunk written from now on to `forward` as well (a repository that
    /// streams uploads on while they arrive); it is finished with the file, and handed
    /// on with the [`StagedFile`].
    #[must_use]
    pub fn forwarding(mut self, forward: Box<dyn Forward>) -> Self {
        self.forward = Some(forward);
        self
    }

    /// Hands every byte written from now on to `tap` as well, on the hashing thread; call
    /// it before the first write (bytes written before are not seen, and once a large
    /// upload's hashing moved to its own thread the tap is dropped unseen).
    #[must_use]
    pub fn tapped(mut self, tap: Box<dyn Tap>) -> Self {
        if let Hasher::Inline(reader) = &mut self.hasher {
            reader.tap = Some(tap);
        }
        self
    }

    /// Appends a chunk.
    ///
    /// # Errors
    ///
    /// [`StoreError::StorageFull`] when the disk is full, [`StoreError::Io`] otherwise.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.write_inner(chunk, None)
    }

    /// Appends a reference-counted chunk: a large upload's hashing thread gets it without
    /// a copy.
    ///
    /// # Errors
    ///
    /// As [`StagedUpload::write`].
    pub fn write_bytes(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.write_inner(&chunk, Some(&chunk))
    }

    fn write_inner(&mut self, chunk: &[u8], shared: Option<&Bytes>) -> Result<(), StoreError> {
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
        self.hasher.update(chunk, shared, self.len);
        self.file
            .write_all(chunk)
            .map_err(io_err("write the staging file", &self.path))?;
        self.len += chunk.len() as u64;
        self.writeback
            .wrote(self.file.get_ref().as_file(), self.len);
        if let Some(forward) = &mut self.forward {
            forward.send(
                shared
                    .cloned()
                    .unwrap_or_else(|| Bytes::copy_from_slice(chunk)),
            )?;
        }
        Ok(())
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
    pub fn finish(self) -> Result<StagedFile, StoreError> {
        let path = self.path;
        let sha256 = self.hasher.finish().ok_or_else(|| {
            StoreError::io(
                "hash the staging file",
                &path,
                std::io::Error::other("the hashing thread panicked"),
            )
        })?;
        let mut writeback = self.writeback;
        writeback
            .finish()
            .map_err(io_err("write back the staging file", &path))?;
        let file = self
            .file
            .into_inner()
            .map_err(|e| StoreError::io("flush the staging file", &path, e.into_error()))?;
        file.as_file()
            .sync_all()
            .map_err(io_err("fsync the staging file", &path))?;
        let mut forwarded = self.forward;
        if let Some(forward) = &mut forwarded {
            forward.finish()?;
        }
        Ok(StagedFile {
            file,
            len: self.len,
            sha256,
            tensor_sha256: None,
            path,
            forwarded,
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

    /// SHA-256 of the bytes.
    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }

    /// Records the SHA-256 of its tensor data (a content check computed it), for the
    /// store to remember beside the file's own hash.
    #[must_use]
    pub fn with_tensor_sha256(mut self, tensor_sha256: Option<Sha256>) -> Self {
        self.tensor_sha256 = tensor_sha256;
        self
    }

    /// Says where the bytes are besides this file (a repository's own record of them,
    /// taken back at publish with [`StagedFile::take_forwarded`]).
    #[must_use]
    pub fn with_forwarded(mut self, forward: Box<dyn Forward>) -> Self {
        self.forwarded = Some(forward);
        self
    }

    /// What the bytes were also sent to while they arrived, for the repository that
    /// asked for it to complete (dropping it abandons what was sent).
    pub fn take_forwarded(&mut self) -> Option<Box<dyn Forward>> {
        self.forwarded.take()
    }
}
