//! What the sync keeps between passes: the objects it learnt to leave alone, and its
//! running thread with the way to stop it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

/// Called after every sync pass (a catalogue that follows the bucket).
pub(crate) type Listener = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The sync's own state: what it learnt to leave alone, its thread, and who to tell
/// when a pass is done.
#[derive(Default)]
pub(crate) struct SyncState {
    /// Told after each pass.
    pub(crate) listeners: Mutex<Vec<Listener>>,
    /// Objects the content rules refused, by key and ETag: not downloaded again until
    /// they change.
    pub(crate) refused: Mutex<BTreeMap<String, Option<String>>>,
    /// The running thread and the way to stop it.
    pub(crate) thread: Mutex<Option<SyncThread>>,
}

impl std::fmt::Debug for SyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncState")
            .field("refused", &self.refused)
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

impl SyncState {
    /// Whether no sync thread runs (never started, or stopped and joined).
    #[cfg(test)]
    pub(crate) fn thread_finished(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_none_or(|t| t.handle.is_finished())
    }
}

/// A running sync thread: dropping `stop` (or sending on it) ends it at its next wait.
#[derive(Debug)]
pub(crate) struct SyncThread {
    pub(crate) stop: Sender<()>,
    pub(crate) handle: JoinHandle<()>,
}
