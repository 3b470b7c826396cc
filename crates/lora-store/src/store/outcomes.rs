//! What the store's operations hand back: a published file, a live file as listed or
//! examined, the storage's health, and what opening repaired.

use camino::Utf8PathBuf;
use lora_core::{PartialPath, Sha256};
use time::OffsetDateTime;

use crate::hashes::Stamp;
use crate::listing::Page;

/// A file that was published.
#[derive(Debug, Clone)]
pub struct Published {
    /// Where it is, relative to the LoRA folder.
    pub partial_path: PartialPath,
    /// Its absolute path.
    pub path: Utf8PathBuf,
    /// Size in bytes.
    pub len: u64,
    /// SHA-256 of its bytes.
    pub sha256: Sha256,
    /// SHA-256 of its tensor data, when the content check computed it
    /// ([`StagedFile::with_tensor_sha256`](crate::StagedFile::with_tensor_sha256)).
    pub tensor_sha256: Option<Sha256>,
}

/// One live LoRA file, as listed.
#[derive(Debug, Clone)]
pub struct LiveFile {
    /// `{entity}/{name}`.
    pub partial_path: PartialPath,
    /// Size in bytes.
    pub len: u64,
    /// Last modification time.
    pub modified: OffsetDateTime,
    /// SHA-256, when known without rehashing (uploaded or evaluated through the service, and
    /// unchanged since).
    pub sha256: Option<Sha256>,
    /// Whether its bytes are on this node's disk: `None` where every listed file is (one
    /// machine); fleet mode says per file.
    pub local: Option<bool>,
}

/// A live file as [`Store::examine`](crate::Store::examine) saw it: its place, and the SHA-256 the store
/// remembers for exactly that version of it (same inode, size and mtime), if any.
#[derive(Debug, Clone)]
pub struct Examined {
    /// Its absolute path.
    pub path: Utf8PathBuf,
    /// Size in bytes.
    pub len: u64,
    /// The remembered SHA-256 of this version: known when the store wrote it and nothing
    /// has changed it since, or when a caller hashed it ([`Store::remember_sha256`](crate::Store::remember_sha256)).
    pub sha256: Option<Sha256>,
    /// The remembered SHA-256 of its tensor data, when it was checked on the way in.
    pub tensor_sha256: Option<Sha256>,
    pub(crate) stamp: Stamp,
}

/// A page of the live listing, sorted by partial path.
pub type Listing = Page<LiveFile>;

/// The state of the storage, for health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageHealth {
    /// Whether a file can be created in the data directory right now.
    pub writable: bool,
    /// Bytes available to the service on the data directory's filesystem.
    pub free_bytes: u64,
    /// Folder fsyncs that failed after an operation had taken effect, since the store was
    /// opened: those operations may not survive a power cut. Anything but 0 needs an
    /// operator (see the operator's guide).
    pub durability_errors: u64,
}

/// What [`Store::open`](crate::Store::open) found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Staging files left by a crash or a kill, now removed.
    pub staging_removed: usize,
    /// Hash records dropped because their file is gone or was changed by other means, or
    /// because the record was damaged.
    pub stale_hashes: usize,
    /// Bin journal records dropped because their bin file is gone or was replaced, or
    /// because the record was damaged.
    pub stale_bin_records: usize,
}

/// A live file on this node's disk, handed out for a pipeline to open
/// ([`crate::Repository::ensure`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Ensured {
    /// `{entity}/{name}`.
    pub partial_path: PartialPath,
    /// Its absolute path on this node.
    pub path: Utf8PathBuf,
    /// Size in bytes.
    pub len: u64,
    /// SHA-256 of its bytes.
    pub sha256: Sha256,
    /// Whether this call brought it onto this disk (fleet mode).
    pub fetched: bool,
    /// How long that took, in seconds (0 when it was here already).
    pub fetch_seconds: f64,
}
