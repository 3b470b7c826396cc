//! Bridges the async multipart stream to blocking work: one task writes the staging file,
//! another hashes the same bytes beside it.
//!
//! The chunks are reference-counted (`Bytes`), so both tasks get them without a copy, and
//! SHA-256 no longer sits between the socket and the disk. The async workers never block
//! on either; memory stays bounded by two small channels.

use std::sync::Arc;

use actix_web::rt::task::{JoinHandle, spawn_blocking};
use actix_web::web::Bytes;
use lora_store::{StagedFile, Store, StoreError};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::ApiError;

const CHANNEL_DEPTH: usize = 16;

enum Msg {
    Chunk(Bytes),
    /// All chunks sent; for the writer, with the digest the hasher computed.
    Finish([u8; 32]),
}

/// An upload being written to staging. Dropping it without [`Sink::finish`] aborts the
/// upload and removes the staging file.
pub(crate) struct Sink {
    to_writer: mpsc::Sender<Msg>,
    to_hasher: mpsc::Sender<Msg>,
    writer: Option<JoinHandle<Result<Option<StagedFile>, StoreError>>>,
    hasher: Option<JoinHandle<Option<[u8; 32]>>>,
}

impl Sink {
    pub(crate) fn start(store: Arc<Store>) -> Self {
        let (to_writer, mut writer_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (to_hasher, mut hasher_rx) = mpsc::channel::<Msg>(CHANNEL_DEPTH);
        let writer = spawn_blocking(move || {
            let mut upload = store.stage_unhashed()?;
            while let Some(msg) = writer_rx.blocking_recv() {
                match msg {
                    Msg::Chunk(bytes) => upload.write(&bytes)?,
                    Msg::Finish(sha256) => return upload.finish_with_sha256(sha256).map(Some),
                }
            }
            // The sender went away without finishing: the request failed or the client
            // left. Dropping `upload` removes the staging file.
            Ok(None)
        });
        let hasher = spawn_blocking(move || {
            let mut sha = Sha256::new();
            while let Some(msg) = hasher_rx.blocking_recv() {
                match msg {
                    Msg::Chunk(bytes) => sha.update(&bytes),
                    Msg::Finish(_) => return Some(sha.finalize().into()),
                }
            }
            None
        });
        Self {
            to_writer,
            to_hasher,
            writer: Some(writer),
            hasher: Some(hasher),
        }
    }

    pub(crate) async fn write(&mut self, chunk: Bytes) -> Result<(), ApiError> {
        if self
            .to_hasher
            .send(Msg::Chunk(chunk.clone()))
            .await
            .is_err()
        {
            return Err(ApiError::Internal("the hashing task stopped early".into()));
        }
        if self.to_writer.send(Msg::Chunk(chunk)).await.is_err() {
            // The writer stopped early: it failed. Its error says why.
            return Err(self.writer_failure().await);
        }
        Ok(())
    }

    pub(crate) async fn finish(mut self) -> Result<StagedFile, ApiError> {
        let hasher = self.hasher.take();
        let digest = match hasher {
            Some(task) if self.to_hasher.send(Msg::Finish([0; 32])).await.is_ok() => {
                task.await.ok().flatten()
            }
            _ => None,
        };
        let Some(digest) = digest else {
            return Err(ApiError::Internal("the hashing task stopped early".into()));
        };
        if self.to_writer.send(Msg::Finish(digest)).await.is_err() {
            return Err(self.writer_failure().await);
        }
        let Some(task) = self.writer.take() else {
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

    async fn writer_failure(&mut self) -> ApiError {
        let Some(task) = self.writer.take() else {
            return ApiError::Internal("staging writer already gone".into());
        };
        match task.await {
            Ok(Err(e)) => e.into(),
            Ok(Ok(_)) => ApiError::Internal("staging writer stopped early".into()),
            Err(e) => ApiError::Internal(format!("staging writer panicked: {e}")),
        }
    }
}
