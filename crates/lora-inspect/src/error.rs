use std::io;

use thiserror::Error;

/// Why a file is refused, or could not be read.
#[derive(Debug, Error)]
pub enum InspectError {
    /// The bytes are not a valid file of the format they claim to be.
    #[error("invalid {format} file: {reason}")]
    Invalid {
        /// The format that was being read.
        format: &'static str,
        /// The rule that was broken.
        reason: String,
    },
    /// The content is of another format than the extension says.
    #[error("the content is {found} but the extension is .{extension}")]
    FormatMismatch {
        /// What the content is.
        found: &'static str,
        /// The extension it was uploaded with.
        extension: String,
    },
    /// A pickle imports globals a weights-only state dict never needs.
    #[error("unsafe pickle: it imports {}", .globals.join(", "))]
    UnsafePickle {
        /// The offending globals, `module.name`.
        globals: Vec<String>,
    },
    /// A tensor holds NaN or Inf values: a pipeline that loads the file renders garbage
    /// (black images), so upload gates refuse it unless told otherwise.
    #[error("tensor '{tensor}' holds {nan_count} NaN and {inf_count} Inf values")]
    UnhealthyWeights {
        /// The first such tensor, in file order.
        tensor: String,
        /// Its NaN elements.
        nan_count: u64,
        /// Its ±Inf elements.
        inf_count: u64,
    },
    /// Reading the file failed.
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
}

impl InspectError {
    pub(crate) fn invalid(format: &'static str, reason: impl Into<String>) -> Self {
        InspectError::Invalid {
            format,
            reason: reason.into(),
        }
    }

    /// Whether the file's content is at fault (a 400), rather than the reading of it (a
    /// 500). Callers ask this rather than match on [`InspectError::Io`], so the line between
    /// the two is drawn in one place.
    pub fn is_content_error(&self) -> bool {
        !matches!(self, InspectError::Io(_))
    }
}
