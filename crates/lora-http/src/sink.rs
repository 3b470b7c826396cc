//! Bridges the async multipart stream to the blocking staging writer.
//!
//! The chunks are reference-counted (`Bytes`): the store's staging upload writes them and,
//! for large uploads, hands the same chunks to its hashing thread without a copy. The
//! async workers never block; memory stays bounded by a small channel.

use std::sync::Arc;

use actix_web::rt::task::{JoinHandle, spawn_blocking};
use actix_web::web::Bytes;
use lora_store::{StagedFile, Store, StoreError};
use tokio::sync::mpsc;

use crate::ApiError;

const CHANNEL_DEPTH: usize = 16;

enum Msg {
    Chunk(Bytes),
    /// Every chunk was sent: make the file durable.
    Finish,
}

/// An upload being written to staging. Dropping it without [`Sink::finish`] aborts the
/// upload: the writer sees the channel close and drops the staging file.
pub(crate) struct Sink {
    to_writer: mpsc::Sender<Msg>,
    writer: JoinHandle<Result<Option<StagedFile>, StoreError>>,
}

impl Sink {
    pub(crate) fn start(store: Arc<Store>) -> Self {
        let (to_writer, mut messages) = mpsc::channel(CHANNEL_DEPTH);
        let writer = spawn_blocking(move || {
            let mut upload = store.stage()?;
            while let Some(msg) = messages.blocking_recv() {
                match msg {
                    Msg::Chunk(bytes) => upload.write_bytes(bytes)?,
                    Msg::Finish => return upload.finish().map(Some),
                }
            }
            // The sender went away without finishing: the request failed or the client
            // left. Dropping `upload` removes the staging file.
            Ok(None)
        });
        Self { to_writer, writer }
    }

    pub(crate) async fn write(&mut self, chunk: Bytes) -> Result<(), ApiError> {
        if self.to_writer.send(Msg::Chunk(chunk)).await.is_err() {
            // The writer stopped early: it failed. Its error says why.
            return Err(self
                .outcome()
                .await
                .err()
                .unwrap_or(ApiError::Internal("the staging writer stopped early")));
        }
        Ok(())
    }

    pub(crate) async fn finish(self) -> Result<StagedFile, ApiError> {
        // A failed send means the writer already ended; its outcome says how.
        let _ = self.to_writer.send(Msg::Finish).await;
        let mut this = self;
        this.outcome().await
    }

    async fn outcome(&mut self) -> Result<StagedFile, ApiError> {
        match (&mut self.writer).await {
            Ok(Ok(Some(staged))) => Ok(staged),
            Ok(Ok(None)) => Err(ApiError::Internal(
                "the staging writer ended without a file",
            )),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(ApiError::Task(Box::new(e))),
        }
    }
}
