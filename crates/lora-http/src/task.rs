//! Blocking work (files, hashing, the bucket) runs on the blocking pool, never on an
//! async worker, so a slow disk cannot stall the requests a worker is serving.

use crate::ApiError;

/// Runs `work` on the blocking pool; a task that panics or is cancelled is a 500.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Task(Box::new(e)))?
}
