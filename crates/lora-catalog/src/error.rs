//! The catalogue's one error type.

use camino::Utf8PathBuf;
use lora_core::PartialPath;

/// Why a catalogue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The index could not be read or written.
    #[error("the catalogue index failed: {0}")]
    Index(#[from] rusqlite::Error),
    /// A metadata file could not be read or written.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Where.
        path: Utf8PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The catalogue knows no live file there.
    #[error("no such file: {path}")]
    NotFound {
        /// The path asked for.
        path: PartialPath,
    },
    /// User metadata beyond the limits ([`crate::Limits`]).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// The limit it broke.
        reason: String,
    },
}

impl CatalogError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<Utf8PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| CatalogError::Io { op, path, source }
    }
}
