//! The working set: with a disk budget (`LORA_REPLICA_BUDGET_BYTES`) a node keeps only the
//! bucket's files it uses, evicting the least recently used first, never one under lease
//! and never a pinned type (`LORA_REPLICA_PIN_TYPES`, kept complete and counted first).
//! Without a budget nothing is evicted: a complete replica, as before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lora_core::{EntityType, PartialPath};

use crate::replica::Manifest;

/// The budget, the pins, the leases and what they did.
#[derive(Debug)]
pub(crate) struct WorkingSet {
    budget: Option<u64>,
    pins: BTreeSet<EntityType>,
    leases: Mutex<BTreeMap<PartialPath, Instant>>,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) evictions: AtomicU64,
    /// Bytes of downloads under way, counted as taken.
    reserved: AtomicU64,
}

/// Room held for a download under way; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    set: &'a WorkingSet,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.set.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Why room could not be made.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Shortfall {
    /// Bytes over the budget once everything evictable is gone.
    pub over: u64,
}

impl WorkingSet {
    pub(crate) fn new(budget: Option<u64>, pins: &[EntityType]) -> Self {
        Self {
            budget,
            pins: pins.iter().copied().collect(),
            leases: Mutex::new(BTreeMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
        }
    }

    /// Bytes held for downloads under way.
    pub(crate) fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::Acquire)
    }

    /// Holds `bytes` for a download until the reservation is dropped.
    pub(crate) fn reserve(&self, bytes: u64) -> Reservation<'_> {
        self.reserved.fetch_add(bytes, Ordering::AcqRel);
        Reservation { set: self, bytes }
    }

    /// The budget, if the node keeps a working set.
    pub(crate) fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// Whether `path`'s type is kept complete on every node.
    pub(crate) fn pinned(&self, path: &PartialPath) -> bool {
        self.pins.contains(&path.entity())
    }

    /// Whether a sync brings `path` here unasked: always without a budget; with one,
    /// pinned types only (and what is here already, kept current).
    pub(crate) fn syncs(&self, path: &PartialPath, here: bool) -> bool {
        self.budget.is_none() || here || self.pinned(path)
    }

    /// Keeps `path` from eviction for `lease` (a longer lease already held stays).
    pub(crate) fn lease(&self, path: &PartialPath, lease: Duration) {
        if lease.is_zero() {
            return;
        }
        let now = Instant::now();
        let until = now + lease;
        let mut leases = self.lock_leases();
        // Ended leases go as new ones come: the map holds only what protects a file now.
        leases.retain(|_, held| *held > now);
        let held = leases.entry(path.clone()).or_insert(until);
        *held = (*held).max(until);
    }

    /// Gives up the lease on `path` (a file that turned out not to exist).
    pub(crate) fn release(&self, path: &PartialPath) {
        self.lock_leases().remove(path);
    }

    /// Files under lease now (expired leases are dropped on the way).
    pub(crate) fn leases(&self) -> usize {
        let now = Instant::now();
        let mut leases = self.lock_leases();
        leases.retain(|_, until| *until > now);
        leases.len()
    }

    fn leased(&self, path: &PartialPath, now: Instant) -> bool {
        self.lock_leases()
            .get(path)
            .is_some_and(|until| *until > now)
    }

    fn lock_leases(&self) -> std::sync::MutexGuard<'_, BTreeMap<PartialPath, Instant>> {
        self.leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The files to evict so that `need` more bytes fit the budget besides `keep`: the
    /// least recently used first, never pinned, leased or `keep` itself. Nothing without
    /// a budget. `Err` when even all of them would not make room.
    pub(crate) fn victims(
        &self,
        manifest: &Manifest,
        keep: &PartialPath,
        need: u64,
    ) -> Result<Vec<PartialPath>, Shortfall> {
        let Some(budget) = self.budget else {
            return Ok(Vec::new());
        };
        let mut total: u64 = manifest
            .entries()
            .filter(|(p, _)| *p != keep)
            .map(|(_, r)| r.size)
            .sum::<u64>()
            + need;
        if total <= budget {
            return Ok(Vec::new());
        }
        let now = Instant::now();
        let mut candidates: Vec<(&PartialPath, u64, u64)> = manifest
            .entries()
            .filter(|(p, _)| *p != keep && !self.pinned(p) && !self.leased(p, now))
            .map(|(p, r)| (p, r.used, r.size))
            .collect();
        candidates.sort_by_key(|(p, used, _)| (*used, (*p).clone()));
        let mut victims = Vec::new();
        for (path, _, size) in candidates {
            if total <= budget {
                break;
            }
            total -= size;
            victims.push(path.clone());
        }
        if total <= budget {
            Ok(victims)
        } else {
            Err(Shortfall {
                over: total - budget,
            })
        }
    }

    /// Counts an eviction.
    pub(crate) fn evicted(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use lora_core::Sha256;

    use super::*;

    fn pp(s: &str) -> PartialPath {
        PartialPath::parse(s).unwrap()
    }

    fn manifest(files: &[(&str, u64)]) -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::load(camino::Utf8Path::from_path(dir.path()).unwrap());
        let sha = Sha256::parse_hex(&"ab".repeat(32)).unwrap();
        for (path, size) in files {
            m.insert(&pp(path), sha, *size);
            // Distinct use times, in the order given.
            std::thread::sleep(Duration::from_millis(2));
        }
        (dir, m)
    }

    #[test]
    fn least_recently_used_go_first_never_pinned_or_leased() {
        let (_d, mut m) = manifest(&[
            ("styles/old.pt", 40),
            ("identities/a.pt", 40),
            ("identities/b.pt", 40),
        ]);
        let ws = WorkingSet::new(Some(100), &[EntityType::Styles]);
        // 120 here + 30 wanted: 50 over; the oldest unpinned (a) goes, then b.
        let victims = ws.victims(&m, &pp("identities/new.pt"), 30).unwrap();
        assert_eq!(victims, [pp("identities/a.pt"), pp("identities/b.pt")]);
        // a used again: b goes first now.
        std::thread::sleep(Duration::from_millis(2));
        m.touch(&pp("identities/a.pt"));
        let victims = ws.victims(&m, &pp("identities/new.pt"), 10).unwrap();
        assert_eq!(victims, [pp("identities/b.pt")]);
        // Leased, b cannot go; a alone is not enough for 50 (170 - 40 = 130).
        ws.lease(&pp("identities/b.pt"), Duration::from_secs(60));
        assert_eq!(ws.leases(), 1);
        assert_eq!(
            ws.victims(&m, &pp("identities/new.pt"), 50),
            Err(Shortfall { over: 30 })
        );
    }

    #[test]
    fn without_a_budget_nothing_is_evicted_and_everything_syncs() {
        let (_d, m) = manifest(&[("styles/a.pt", 1 << 40)]);
        let ws = WorkingSet::new(None, &[]);
        assert!(
            ws.victims(&m, &pp("styles/b.pt"), 1 << 40)
                .unwrap()
                .is_empty()
        );
        assert!(ws.syncs(&pp("styles/b.pt"), false));
        let budgeted = WorkingSet::new(Some(1), &[EntityType::Clothes]);
        assert!(!budgeted.syncs(&pp("styles/b.pt"), false));
        assert!(budgeted.syncs(&pp("styles/b.pt"), true));
        assert!(budgeted.syncs(&pp("clothes/b.pt"), false));
    }
}
