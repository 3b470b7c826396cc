//! The body-to-disk bridge of every way in: async body chunks to a blocking writer (a
//! multipart upload's staging file, a tus PATCH's part file), without holding a thread
//! while the client is slow.
//!
//! A blocking-pool thread is taken only when there are bytes to write: chunks gather here
//! (reference-counted `Bytes`, no copy) while the previous batch is being written, and the
//! next batch starts as soon as that write is done, so the network and the disk overlap.
//! An upload whose client sends nothing holds a few KiB and no thread, so stalled uploads
//! cannot drain the pool that health, listing and evaluation also need (each worker's pool
//! has a fixed size: 256 threads here, which 300 stalled uploads used to exhaust).

use bytes::Bytes;
use lora_store::{Append, StagedUpload, StoreError};
use tokio::task::{JoinHandle, spawn_blocking};

use crate::ApiError;

/// Bytes gathered while a write runs before the reader waits for it (back-pressure).
/// Measured on the 500 MiB upload: 1 MiB 0.63–0.68 s and 24–27 MiB RSS; 4 MiB 0.76–1.38 s
/// and 34–37 MiB (`python3 bench/run.py --only limits,uploads`).
const MAX_PENDING: usize = 1 << 20;

/// Where a sink's bytes go: a blocking writer that takes reference-counted chunks.
pub(crate) trait Target: Send + 'static {
    /// Appends `chunk`.
    fn write(&mut self, chunk: Bytes) -> Result<(), StoreError>;
}

impl Target for StagedUpload {
    fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.write_bytes(chunk)
    }
}

impl Target for Box<dyn Append> {
    fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        Append::write(self.as_mut(), chunk)
    }
}

/// Opens the target when the first batch is written.
type Open<T> = Box<dyn FnOnce() -> Result<T, StoreError> + Send>;

/// The target, before or after it is opened.
enum State<T> {
    Unopened(Open<T>),
    Open(T),
}

impl<T: Target> State<T> {
    fn write(self, chunks: Vec<Bytes>) -> Result<T, StoreError> {
        let mut target = match self {
            State::Unopened(open) => open()?,
            State::Open(target) => target,
        };
        for chunk in chunks {
            target.write(chunk)?;
        }
        Ok(target)
    }
}

/// A batch written on the blocking pool, handing the target back (or the error that ended
/// it; a staging file then went with it).
type Write<T> = JoinHandle<Result<T, StoreError>>;

/// A body being written. Dropping it without [`Sink::finish`] drops the target when its
/// write ends: a staging file is removed, a part file keeps what was written but not
/// committed.
pub(crate) struct Sink<T: Target> {
    /// `None` while a write owns it.
    state: Option<State<T>>,
    pending: Vec<Bytes>,
    pending_len: usize,
    running: Option<Write<T>>,
}

impl<T: Target> Sink<T> {
    /// A sink that opens its target (a new staging file, say) with its first batch.
    pub(crate) fn opening(open: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Self {
        Self::with_state(State::Unopened(Box::new(open)))
    }

    /// A sink into an open target.
    pub(crate) fn into_target(target: T) -> Self {
        Self::with_state(State::Open(target))
    }

    fn with_state(state: State<T>) -> Self {
        Self {
            state: Some(state),
            pending: Vec::new(),
            pending_len: 0,
            running: None,
        }
    }

    /// Takes one chunk; waits only when a write is running and enough has gathered.
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

    /// Writes what is left, then runs `then` on the target, in one trip to the blocking
    /// pool (the staging file's fsync, a part file's commit).
    pub(crate) async fn finish<R: Send + 'static>(
        mut self,
        then: impl FnOnce(T) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, ApiError> {
        self.settle().await?;
        let state = self
            .state
            .take()
            .ok_or(ApiError::Internal("sink without a target"))?;
        let chunks = std::mem::take(&mut self.pending);
        match spawn_blocking(move || state.write(chunks).and_then(then)).await {
            Ok(result) => Ok(result?),
            Err(e) => Err(ApiError::Task(Box::new(e))),
        }
    }

    /// Waits for the write in progress and hands the target back without writing what
    /// gathered since (bytes the caller refuses); `None` if it was never opened.
    pub(crate) async fn abandon(mut self) -> Result<Option<T>, ApiError> {
        self.settle().await?;
        Ok(match self.state.take() {
            Some(State::Open(target)) => Some(target),
            _ => None,
        })
    }

    /// Waits for the write in progress, if any, and takes the target back.
    async fn settle(&mut self) -> Result<(), ApiError> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        match running.await {
            Ok(written) => {
                self.state = Some(State::Open(written?));
                Ok(())
            }
            Err(e) => Err(ApiError::Task(Box::new(e))),
        }
    }

    /// Starts writing what has gathered.
    fn launch(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let Some(state) = self.state.take() else {
            return;
        };
        let chunks = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        self.running = Some(spawn_blocking(move || state.write(chunks)));
    }
}
