//! Handlers, one module per resource.

pub(crate) mod bin;
pub(crate) mod evaluation;
pub(crate) mod fallback;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod tus;
pub(crate) mod upload;

use actix_web::web;

use crate::ApiError;

/// Runs blocking store work on the blocking pool.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    web::block(work)
        .await
        .map_err(|e| ApiError::Task(Box::new(e)))?
}
