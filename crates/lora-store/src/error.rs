use std::io;

use camino::Utf8PathBuf;
use lora_core::PartialPath;
use thiserror::Error;

/// Everything the store can refuse or fail at.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The partial path names no file.
    #[error("LoRA file not found: {path}")]
    NotFound {
        /// The partial path asked for.
        path: PartialPath,
    },
    /// The name is taken and the caller asked not to version it.
    #[error("A file named '{path}' already exists")]
    AlreadyExists {
        /// The partial path that is taken.
        path: PartialPath,
    },
    /// The partial path exists but is not something the store may act on: a directory, a
    /// special file, or a symlink that leads outside the LoRA folder.
    #[error("Invalid partial_path '{path}': {reason}")]
    InvalidPath {
        /// The partial path asked for.
        path: PartialPath,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The directory holds no initialised store, and the caller asked not to create one
    /// (an unmounted disk must not be mistaken for a new, empty store).
    #[error(
        "{data_dir} holds no initialised LoRA store (no .lora-server/store marker): if this is \
         the right directory, run `lora-server init` once; if its disk is not mounted, mount it"
    )]
    NotInitialised {
        /// The data directory.
        data_dir: Utf8PathBuf,
    },
    /// Another process holds the data directory's lock.
    #[error("the data directory is in use by another lora-server (lock held on {lock})")]
    Locked {
        /// The lock file.
        lock: Utf8PathBuf,
    },
    /// The filesystem is full or the quota is used up.
    #[error("no space left on the storage device while trying to {op}")]
    StorageFull {
        /// What was being done.
        op: &'static str,
        /// The error the operating system gave.
        #[source]
        source: io::Error,
    },
    /// The data directory cannot take writes now (read-only, permissions, or gone).
    #[error("the data directory cannot be written to while trying to {op}")]
    Unavailable {
        /// What was being done.
        op: &'static str,
        /// The error the operating system gave.
        #[source]
        source: io::Error,
    },
    /// The shared object store (fleet mode) did not answer in time or refused the
    /// request: the operation did not take effect and may be retried.
    #[error("the shared storage cannot be reached while trying to {op}: {reason}")]
    Remote {
        /// What was being done.
        op: &'static str,
        /// What went wrong, for the log (it names no secret).
        reason: String,
    },
    /// The content rules refused a file the store was asked to take in from elsewhere (in
    /// fleet mode, an object downloaded from the bucket).
    #[error("Invalid file content: {path}: {reason}")]
    ContentRefused {
        /// Where it would have gone.
        path: PartialPath,
        /// What the content check said.
        reason: String,
    },
    /// Any other I/O failure. Its text names a server path: log it, never send it.
    #[error("could not {op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: Utf8PathBuf,
        /// The error the operating system gave.
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// Whether the path names nothing (a 404 in HTTP terms).
    pub const fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// Wraps an I/O error, telling a full disk apart from other failures.
    pub(crate) fn io(op: &'static str, path: impl Into<Utf8PathBuf>, source: io::Error) -> Self {
        if matches!(
            source.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        ) {
            StoreError::StorageFull { op, source }
        } else if matches!(
            source.kind(),
            io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
        ) {
            StoreError::Unavailable { op, source }
        } else {
            StoreError::Io {
                op,
                path: path.into(),
                source,
            }
        }
    }
}

/// `map_err` helper: `.map_err(io_err("read", &path))`.
pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a camino::Utf8Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |e| StoreError::io(op, path, e)
}
