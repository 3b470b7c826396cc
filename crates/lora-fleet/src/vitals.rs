//! How this node's link to the bucket is doing: failures, refusals, reachability and the
//! last sync, for the health route and `/metrics`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use lora_store::{RemoteHealth, StoreError};
use time::OffsetDateTime;

use crate::FleetConfig;

/// The counters and clocks health reports.
#[derive(Debug)]
pub(crate) struct Vitals {
    errors: AtomicU64,
    rejected: AtomicU64,
    reachable: AtomicBool,
    last_sync: Mutex<Option<(Instant, OffsetDateTime)>>,
    started: Instant,
}

impl Vitals {
    pub(crate) fn new() -> Self {
        Self {
            errors: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            reachable: AtomicBool::new(true),
            last_sync: Mutex::new(None),
            started: Instant::now(),
        }
    }

    /// A bucket failure as the routes see it, counted: the bucket is unreachable.
    pub(crate) fn failed(&self, op: &'static str, e: impl std::fmt::Display) -> StoreError {
        self.failure();
        StoreError::Remote {
            op,
            reason: e.to_string(),
        }
    }

    /// Counts a bucket failure the caller reports itself (a sweep, say).
    pub(crate) fn failure(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.reachable.store(false, Ordering::Relaxed);
    }

    /// The bucket answered.
    pub(crate) fn reached(&self) {
        self.reachable.store(true, Ordering::Relaxed);
    }

    /// An object the content rules or its hash kept off disk.
    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// A sync pass ended now.
    pub(crate) fn synced(&self) {
        *self
            .last_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), OffsetDateTime::now_utc()));
    }

    /// The health route's view.
    pub(crate) fn health(&self, config: &FleetConfig) -> RemoteHealth {
        let last = *self
            .last_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let since = last.map_or(self.started, |(at, _)| at);
        RemoteHealth {
            backend: "s3",
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
            last_sync: last.map(|(_, t)| t),
            lag_seconds: since.elapsed().as_secs(),
            errors: self.errors.load(Ordering::Relaxed),
            rejected_objects: self.rejected.load(Ordering::Relaxed),
            reachable: self.reachable.load(Ordering::Relaxed),
            replica: lora_store::ReplicaHealth::default(),
        }
    }
}
