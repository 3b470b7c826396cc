//! The tus 1.0.0 protocol, as this server speaks it: core, creation,
//! creation-with-upload, termination and expiration. Its versions, headers, metadata and
//! refusals live here, apart from the routes (`routes::tus`), which apply the upload rules
//! and hand the bytes to the one ingest path.

mod error;
mod headers;
mod version;

use std::time::Duration;

pub use error::TusError;
pub(crate) use headers::{
    Metadata, expires_header, has_body, header_u64, location, offset_stream, require_version,
    resumable,
};
pub(crate) use version::EXTENSIONS;
pub use version::TUS_VERSION;

/// Unfinished uploads one subject may have.
pub const MAX_UNFINISHED_PER_SUBJECT: usize = 32;
/// Default lifetime of an upload (`LORA_UPLOAD_EXPIRY_SECS`).
pub const DEFAULT_UPLOAD_EXPIRY: Duration = Duration::from_secs(86_400);
