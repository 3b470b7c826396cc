//! What a store holds: its layout, its caches and logs, its bin, its resumable uploads,
//! and the lock that keeps a second server out.

use std::fs::File;

use crate::Layout;
use crate::durability::Durability;
use crate::hashes::HashLog;
use crate::listing::DirCache;
use crate::recycle_bin::RecycleBin;
use crate::resolve::Resolver;
use crate::resumable::Resumable;
use crate::versions::VersionHints;

use super::outcomes::Recovery;

/// The LoRA repository on one data directory.
///
/// All methods block on the filesystem; async callers run them on a blocking thread pool.
/// The store is `Sync`: share one behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    pub(crate) layout: Layout,
    pub(super) live: Resolver,
    pub(crate) hashes: HashLog,
    pub(crate) dirs: DirCache,
    pub(crate) versions: VersionHints,
    pub(crate) bin: RecycleBin,
    pub(crate) durability: Durability,
    pub(super) resumable: Resumable,
    /// The permission bits published and restored files get.
    pub(crate) file_mode: u32,
    pub(super) recovery: Recovery,
    #[cfg(feature = "fault-injection")]
    pub(super) fail_after: std::sync::Mutex<Option<u64>>,
    pub(super) _lock: File,
}
