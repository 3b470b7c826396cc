//! Bridges the async multipart stream to the blocking staging writer, without holding a
//! thread while the client is slow.
//!
//! A blocking-pool thread is taken only when there are bytes to write: chunks gather here
//! (reference-counted `Bytes`, no copy) while the previous batch is being written, and the
//! next batch starts as soon as that write is done. An upload whose client sends nothing
//! holds a few KiB and no thread, so stalled uploads cannot drain the pool that health,
//! listing and evaluation also need (each worker's pool has a fixed size: 256 threads here,
//! which 300 stalled uploads used to exhaust).

use std::sync::Arc;

use actix_web::rt::task::{JoinHandle, spawn_blocking};
use actix_web::web::Bytes;
use lora_store::{Repository, StagedFile, StagedUpload, StoreError};

use crate::ApiError;

/// Bytes gathered while a write runs before the reader waits for it (back-pressure).
/// Measured on the 500 MiB upload: 1 MiB 0.63–0.68 s and 24–27 MiB RSS; 4 MiB 0.76–1.38 s
/// and 34–37 MiB (`python3 bench/run.py --only limits,uploads`).
const MAX_PENDING: usize = 1 << 20;

/// A batch written on the blocking pool, handing the upload back (or the error that ended
/// it; the staging file then went with it).
type Write = JoinHandle<Result<StagedUpload, StoreError>>;

/// An upload being written to staging. Dropping it without [`Sink::finish`] aborts the
/// upload: the staging file goes with the last owner of the `StagedUpload`.
pub(crate) struct Sink {
    store: Arc<dyn Repository>,
    /// `None` before the first write, and while a write owns it.
    upload: Option<StagedUpload>,
    pending: Vec<Bytes>,
    pending_len: usize,
    running: Option<Write>,
}

impl Sink {
    pub(crate) fn start(store: Arc<dyn Repository>) -> Self {
        Self {
            store,
            upload: None,
            pending: Vec::new(),
            pending_len: 0,
            running: None,
        }
    }

    pub(crate) async fn write(&mut self, chunk: Bytes) -> Result<(), ApiError> {
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        let done = self.running.as_ref().is_none_or(JoinHandle::is_finished);
        if done || self.pending_len >= MAX_PENDING {
            self.settle().await?;
            self.launch();
        }
        Ok(())
    }

    pub(crate) async fn finish(mut self) -> Result<StagedFile, ApiError> {
        self.settle().await?;
        let store = Arc::clone(&self.store);
        let upload = self.upload.take();
        let chunks = std::mem::take(&mut self.pending);
        let finished = spawn_blocking(move || {
            write_batch(&store, upload, chunks).and_then(StagedUpload::finish)
        });
        match finished.await {
            Ok(result) => Ok(result?),
            Err(e) => Err(ApiError::Task(Box::new(e))),
        }
    }

    /// Waits for the write in progress, if any, and takes the upload back.
    async fn settle(&mut self) -> Result<(), ApiError> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        match running.await {
            Ok(written) => {
                self.upload = Some(written?);
                Ok(())
            }
            Err(e) => Err(ApiError::Task(Box::new(e))),
        }
    }

    /// Starts writing what has gathered (creating the staging file on the first batch).
    fn launch(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let store = Arc::clone(&self.store);
        let upload = self.upload.take();
        let chunks = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        self.running = Some(spawn_blocking(move || write_batch(&store, upload, chunks)));
    }
}

/// Writes `chunks` to `upload`, creating the staging file for the first batch.
fn write_batch(
    store: &Arc<dyn Repository>,
    upload: Option<StagedUpload>,
    chunks: Vec<Bytes>,
) -> Result<StagedUpload, StoreError> {
    let mut upload = match upload {
        Some(upload) => upload,
        None => store.store().stage()?,
    };
    for chunk in chunks {
        upload.write_bytes(chunk)?;
    }
    Ok(upload)
}
