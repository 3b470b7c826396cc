//! Fleet mode: an S3-compatible bucket (SeaweedFS, MinIO, Ceph RGW, R2, AWS) is the
//! shared truth, and every GPU node keeps a complete local replica of it for its
//! diffusion pipeline.
//!
//! [`Fleet`] implements [`lora_store::Repository`], so the HTTP layer's routes, names,
//! versions, bin and content rules are the same as on one machine:
//!
//! * an upload streams to the bucket while it arrives (multipart parts cut from the body,
//!   a bounded number in flight) and gets its name by a write that cannot overwrite: a
//!   conditional completion at the name (`If-None-Match: *`) when the name was known
//!   before the bytes, else a conditional copy from a staging key; two nodes racing one
//!   name never overwrite each other (a versioned name each, or exactly one winner and
//!   409s);
//! * resumable (tus) uploads live in the bucket ([`lora_store::Repository::uploads`]), so
//!   any node goes on with any upload, one PATCH at a time fleet-wide (a lease object);
//! * deletes, restores and purges act on the bucket first, then on this node's replica,
//!   before the answer;
//! * [`Fleet::spawn_sync`] lists the bucket every interval and brings the replica in line
//!   (downloads checked against their SHA-256 and the content rules: the same
//!   [`lora_inspect::ContentCheck`] uploads pass; files whose objects are gone removed);
//! * a bucket that cannot be reached makes changes answer 503 with `Retry-After`
//!   (bounded timeouts), listings answer from the last index, and the replica keeps
//!   serving.
//!
//! ```no_run
//! use std::sync::Arc;
//! use lora_fleet::{Fleet, FleetConfig};
//! use lora_inspect::InspectCheck;
//! use lora_store::{Repository, Store};
//!
//! let store = Arc::new(Store::open("/srv/lora-data")?);
//! let mut config = FleetConfig::from_url("s3://loras/prod")?;
//! config.endpoint = Some("http://127.0.0.1:8333".into());
//! config.allow_http = true;
//! let fleet = Fleet::open(store, config, Arc::new(InspectCheck::default()))?;
//! fleet.spawn_sync()?;
//! println!("{} files", fleet.list(None, 0, 10)?.total);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod bin;
mod bucket;
mod config;
mod fleet;
mod flight;
mod index;
mod journal;
mod keys;
mod lease;
mod replica;
mod replicate;
mod repository;
mod resumable;
mod resumable_claim;
#[cfg(test)]
mod resumable_tests;
mod resumable_uploads;
mod stream;
mod sums;
mod sync;
mod sync_state;
#[cfg(test)]
mod tests;
mod upload;
#[cfg(test)]
mod upload_tests;
mod vitals;
mod working_set;

pub use config::{
    DEFAULT_ABANDONED_AFTER, DEFAULT_COPY_IF_NOT_EXISTS, DEFAULT_SYNC_INTERVAL, FleetConfig,
};
pub use fleet::Fleet;
pub use sync::SyncReport;

/// Why fleet mode cannot start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The configuration is unusable.
    #[error("fleet configuration: {0}")]
    Config(String),
    /// The I/O runtime cannot start.
    #[error("the fleet I/O threads cannot start")]
    Runtime(#[source] std::io::Error),
}
