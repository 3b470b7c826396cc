//! What this server speaks of tus.

/// The protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions supported.
pub(crate) const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration";
