use thiserror::Error;

/// Why a value was refused by one of this crate's parsers.
///
/// Every variant is a client mistake: the HTTP layer answers all of them with 400.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// The entity type is not one this service knows.
    #[error("Invalid entity_type '{given}'. Allowed values: {allowed}")]
    UnknownEntityType {
        /// What the client sent, after trimming and lower-casing.
        given: String,
        /// The allowed values, comma-separated, for the message.
        allowed: String,
    },
    /// The entity type exists but the route does not accept it (`faces` on the user route).
    #[error("entity_type '{given}' is not allowed on this route. Allowed values: {allowed}")]
    EntityTypeNotAllowed {
        /// The refused entity type.
        given: String,
        /// The allowed values on this route, comma-separated.
        allowed: String,
    },
    /// The filename's extension is not a LoRA weight format.
    #[error(
        "Unsupported file extension '{given}'. Allowed extensions: .safetensors, .ckpt, .pt, .pth, .bin"
    )]
    BadExtension {
        /// The extension found (with its dot), or an empty string when there was none.
        given: String,
    },
    /// Nothing usable is left of the filename once it is made safe.
    #[error("Invalid filename '{given}': nothing is left of it once made safe")]
    EmptyName {
        /// The client's filename.
        given: String,
    },
    /// A partial path that is not of the form `{entity_type}/{filename}` inside the root.
    #[error("Invalid partial_path '{given}': {reason}")]
    BadPartialPath {
        /// The path as sent (control characters escaped).
        given: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A SHA-256 that is not 64 hex digits.
    #[error("Invalid sha256 '{given}': expected 64 hex digits")]
    BadSha256 {
        /// The value found (at most 80 characters of it).
        given: String,
    },
}
