//! How many uploads run at once, and what the limits did: a cap with slots freed the
//! moment an upload ends, fails or loses its client, and counters for health.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Default cap on uploads in flight. Each costs at most ~3 MiB of buffers while it
/// streams (a 1 MiB write buffer, a 1 MiB batch being written, up to 1 MiB gathered
/// meanwhile) and no thread while its client is silent; 64 keeps the worst case near
/// 200 MiB. See the operator's guide to size it.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 64;

/// The upload counters shared by every worker.
#[derive(Debug)]
pub(crate) struct UploadLoad {
    cap: usize,
    in_flight: AtomicUsize,
    refused: AtomicU64,
    idle_drops: AtomicU64,
}

/// One upload's place under the cap; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot(Arc<UploadLoad>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What health reports about uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadSnapshot {
    pub(crate) in_flight: usize,
    pub(crate) cap: usize,
    pub(crate) refused: u64,
    pub(crate) idle_drops: u64,
}

impl UploadLoad {
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            in_flight: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            idle_drops: AtomicU64::new(0),
        })
    }

    /// A place for one more upload, or `None` (and one more refusal counted) at the cap.
    pub(crate) fn try_take(self: &Arc<Self>) -> Option<Slot> {
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.cap).then_some(n + 1)
            })
            .is_ok();
        if taken {
            Some(Slot(Arc::clone(self)))
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Whether a new upload would be refused now (for the `Expect: 100-continue` gate,
    /// which answers before the handler takes its slot).
    pub(crate) fn is_full(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) >= self.cap
    }

    /// Counts a refusal decided from the headers.
    pub(crate) fn refused_one(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an upload dropped for sending nothing.
    pub(crate) fn idle_drop(&self) {
        self.idle_drops.fetch_add(1, Ordering::Relaxed);
    }

    /// The cap on uploads in flight.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    pub(crate) fn snapshot(&self) -> LoadSnapshot {
        LoadSnapshot {
            in_flight: self.in_flight.load(Ordering::Acquire),
            cap: self.cap,
            refused: self.refused.load(Ordering::Relaxed),
            idle_drops: self.idle_drops.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_come_back_when_dropped() {
        let load = UploadLoad::new(2);
        let a = load.try_take().unwrap();
        let _b = load.try_take().unwrap();
        assert!(load.is_full());
        assert!(load.try_take().is_none());
        drop(a);
        assert!(load.try_take().is_some());
        let s = load.snapshot();
        assert_eq!((s.cap, s.refused), (2, 1));
    }
}
