//! What the tus protocol refuses. Statuses and headers are decided with every other
//! error's, in `crate::error`.

use thiserror::Error;

/// What the resumable-upload (tus 1.0.0) routes refuse.
#[derive(Debug, Error)]
pub enum TusError {
    /// `Tus-Resumable` is missing or not `1.0.0` (412, with `Tus-Version`).
    #[error("Precondition Failed: this server speaks tus 1.0.0 (send Tus-Resumable: 1.0.0)")]
    Version,
    /// A PATCH body that is not `application/offset+octet-stream` (415).
    #[error("Unsupported Media Type: PATCH bodies must be application/offset+octet-stream")]
    MediaType,
    /// A header is missing or malformed (400).
    #[error("{0}")]
    Header(String),
    /// No such upload for this subject (or it expired) (404).
    #[error("Upload not found")]
    UnknownUpload,
    /// `Upload-Offset` is not the upload's offset (409).
    #[error("Conflict: Upload-Offset must be {current}")]
    Offset {
        /// The upload's offset.
        current: u64,
    },
    /// Another PATCH is writing to this upload (423).
    #[error("Locked: another PATCH is writing to this upload")]
    Busy,
    /// The subject has too many unfinished uploads (429).
    #[error("Too many unfinished uploads (the limit is {limit}); finish or delete one")]
    TooMany {
        /// The limit.
        limit: usize,
    },
}
