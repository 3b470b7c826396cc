//! Durability work that comes after the point of no return.
//!
//! Once a rename has moved a file into place, the operation has taken effect: the file is
//! live (or binned, restored, purged) whatever happens next. Fsyncing the folders after it
//! makes the rename survive a power cut, but if that fsync fails the rename cannot be
//! undone, and answering the client with an error would be false (a retry of an upload
//! would then make `_v2`). So such failures are logged, counted, and shown by the health
//! check ([`crate::StorageHealth::durability_errors`]) for an operator to act on.

use std::sync::atomic::{AtomicU64, Ordering};

use camino::Utf8Path;

use crate::fsops::sync_dir;

#[derive(Debug, Default)]
pub(crate) struct Durability {
    failures: AtomicU64,
    /// Test hook: every folder fsync fails with EIO.
    #[cfg(feature = "fault-injection")]
    pub(crate) fail_syncs: std::sync::atomic::AtomicBool,
}

impl Durability {
    /// Fsyncs `dir` after `what` took effect; a failure is logged and counted.
    pub(crate) fn sync_dir_after(&self, dir: &Utf8Path, what: &'static str) {
        if let Err(error) = self.sync(dir) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                dir = %dir,
                error = %error,
                "{what} took effect, but its folder could not be fsynced: it may not survive a power cut"
            );
        }
    }

    fn sync(&self, dir: &Utf8Path) -> std::io::Result<()> {
        #[cfg(feature = "fault-injection")]
        if self.fail_syncs.load(Ordering::Relaxed) {
            return Err(std::io::Error::from_raw_os_error(5));
        }
        sync_dir(dir)
    }

    /// How many fsyncs after the point of no return failed since the store was opened.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}
