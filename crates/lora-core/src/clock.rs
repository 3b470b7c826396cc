//! Where "now" comes from.
//!
//! Rules that depend on time (a resumable upload expires; a bin entry is old enough to
//! purge) take their time from a [`Clock`], so tests move time forward instead of
//! sleeping through it.
//!
//! ```
//! use std::time::Duration;
//! use lora_core::{Clock, ManualClock};
//!
//! let clock = ManualClock::starting_at(time::macros::datetime!(2026-01-01 00:00 UTC));
//! clock.advance(Duration::from_secs(90));
//! assert_eq!(clock.now(), time::macros::datetime!(2026-01-01 00:01:30 UTC));
//! ```

use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until it is moved: for tests.
#[derive(Debug)]
pub struct ManualClock {
    at: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock showing `at`.
    pub fn starting_at(at: OffsetDateTime) -> Self {
        Self { at: Mutex::new(at) }
    }

    /// A clock showing the system's time now (and standing still from then on).
    pub fn now_utc() -> Self {
        Self::starting_at(OffsetDateTime::now_utc())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut at = self
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *at = at.saturating_add(time::Duration::try_from(by).unwrap_or(time::Duration::MAX));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
