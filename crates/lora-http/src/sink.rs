//! Bridges the async multipart stream to a blocking staging writer.
//!
//! One blocking task per upload owns the staging file and does the hashing and writing;
//! the request's task only forwards chunks through a small bounded channel. The async
//! workers therefore never block on the disk, and memory stays bounded however large the
//! upload (at most `CHANNEL_DEPTH` chunks in flight plus the writer's buffer).

use std::sync::Arc;

use actix_web::rt::task::{JoinHandle, spawn_blocking};
use actix_web::web::Bytes;
use lora_store::{StagedFile, Store, StoreError};
use tokio::sync::mpsc;

use crate::ApiError;

const CHANNEL_DEPTH: usize = 16;

enum Msg {
    Chunk(Bytes),
    Finish,
}

/// An upload being written to staging. Dropping it without [`Sink::finish`] aborts the
/// upload and removes the staging file.
pub(crate) struct Sink {
    tx: mpsc::Sender<Msg>,
    task: Option<JoinHandle<Result<Option<StagedFile>, StoreError>>>,
}

impl Sink {
    pub(crate) fn start(store: Arc<Store>) -> Self {
        let (tx, mut rx) = mpsc::channel(CHANNEL_DEPTH);
        let task = spawn_blocking(move || {
            let mut upload = store.stage()?;
            while let Some(msg) = rx.blocking_recv() {
                match msg {
                    Msg::Chunk(bytes) => upload.write(&bytes)?,
                    Msg::Finish => return upload.finish().map(Some),
                }
            }
            // The sender went away without finishing: the request failed or the client
            // left. Dropping `upload` removes the staging file.
            Ok(None)
        });
        Self {
            tx,
            task: Some(task),
        }
    }

    pub(crate) async fn write(&mut self, chunk: Bytes) -> Result<(), ApiError> {
        if self.tx.send(Msg::Chunk(chunk)).await.is_err() {
            // The writer stopped early: it failed. Its error says why.
            return Err(self.failure().await);
        }
        Ok(())
    }

    pub(crate) async fn finish(mut self) -> Result<StagedFile, ApiError> {
        if self.tx.send(Msg::Finish).await.is_err() {
            return Err(self.failure().await);
        }
        let Some(task) = self.task.take() else {
            return Err(ApiError::Internal("staging writer already gone".into()));
        };
        match task.await {
            Ok(Ok(Some(staged))) => Ok(staged),
            Ok(Ok(None)) => Err(ApiError::Internal(
                "staging writer ended without a file".into(),
            )),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(ApiError::Internal(format!("staging writer panicked: {e}"))),
        }
    }

    async fn failure(&mut self) -> ApiError {
        let Some(task) = self.task.take() else {
            return ApiError::Internal("staging writer already gone".into());
        };
        match task.await {
            Ok(Err(e)) => e.into(),
            Ok(Ok(_)) => ApiError::Internal("staging writer stopped early".into()),
            Err(e) => ApiError::Internal(format!("staging writer panicked: {e}")),
        }
    }
}
