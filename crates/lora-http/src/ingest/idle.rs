//! Reading request bodies with an idle timeout: a client that sends nothing for that long
//! is dropped (408), so a stalled upload frees its staging file and memory instead of
//! holding them until the connection dies. A slow but steady client is never cut: the
//! clock restarts with every chunk.

use std::time::Duration;

use futures_util::{Stream, StreamExt};

use crate::ApiError;

/// Default idle timeout of request bodies.
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The next item of a body stream, or [`ApiError::BodyIdle`] when nothing arrives within
/// `idle`.
pub(crate) async fn next<S: Stream + Unpin>(
    stream: &mut S,
    idle: Duration,
) -> Result<Option<S::Item>, ApiError> {
    actix_web::rt::time::timeout(idle, stream.next())
        .await
        .map_err(|_| ApiError::BodyIdle { idle })
}
