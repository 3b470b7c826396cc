//! InstallError: why an install request or job action is refused.

use thiserror::Error;

/// Why an install request or job action is refused.
#[derive(Debug, Error)]
pub enum InstallError {
    /// The source is not something an install can fetch (400).
    #[error("Invalid install source: {reason}")]
    BadSource {
        /// What is wrong with it.
        reason: String,
    },
    /// The source is refused by the server's rules (400).
    #[error("Install source refused: {reason}")]
    Refused {
        /// The rule, and the setting that would allow it.
        reason: String,
    },
    /// A source could not be reached (a job's error; never an answer).
    #[error("{reason}")]
    Fetch {
        /// What happened.
        reason: String,
    },
    /// No such job (404).
    #[error("Install job not found: {id}")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The job has ended or is being stored: too late to cancel (409).
    #[error("Install job {id} is {status}: it can no longer be cancelled")]
    TooLate {
        /// The job.
        id: String,
        /// Its status (`checking`, `done`, `failed`, `cancelled`).
        status: &'static str,
    },
    /// The installs' folder could not be opened (503).
    #[error("Service unavailable: installs cannot be kept on this node")]
    Unavailable,
}
