//! Installs from a URL: the server fetches a LoRA itself (an `https://` link, a Hugging
//! Face file, a Civitai model version), resumably and verified, then stores it through
//! the same ingest path as every upload.
//!
//! - [`source`]: what a request names, parsed into a [`source::Source`];
//! - [`guard`]: what an install may connect to (no SSRF: checked on every redirect and at
//!   connection time);
//! - [`fetch`]: one request for the bytes (redirects by hand, tokens for their own origin
//!   only, `Range` to go on);
//! - [`job`]: the job as clients see it and as it is kept across restarts;
//! - `jobs`: [`Installs`], every job of this node, and [`InstallConfig`];
//! - `start`: the request checked into a job, started now or after a restart;
//! - `run`: a job's life, from the queue to the upload answer; `expected`: the hash it
//!   must have, and who vouches for it.
//!
//! Jobs belong to the node they were posted to: their records and partial bytes live in
//! `DATA/.lora-server/installs/`, and a restart goes on with every unfinished one.

pub(crate) mod error;
mod expected;
pub(crate) mod fetch;
pub(crate) mod guard;
pub(crate) mod job;
mod jobs;
mod run;
pub(crate) mod source;
mod start;

pub use error::InstallError;
pub use fetch::Tokens;
pub use guard::PrivateAccess;
pub use job::{HashSource, InstallJob, InstallStatus};
pub use jobs::{DEFAULT_INSTALL_CONCURRENCY, FINISHED_JOBS_KEPT, InstallConfig, Installs};
pub use source::Endpoints;
pub use start::InstallRequest;
pub(crate) use start::{resume, start};
