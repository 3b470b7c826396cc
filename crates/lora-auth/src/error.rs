use thiserror::Error;

/// Everything that can go wrong when setting up or checking authentication.
///
/// The `Display` text of the request-time variants is safe to show to a client; it never
/// contains the token or key material.
#[derive(Debug, Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("Not authenticated")]
    MissingCredentials,
    /// An `Authorization` header that is not `Bearer <token>`.
    #[error("Invalid authentication credentials")]
    InvalidScheme,
    /// The token is malformed, badly signed, uses another algorithm, or misses a claim.
    #[error("Invalid token: {0}")]
    InvalidToken(String),
    /// The token's `exp` is in the past (beyond the leeway).
    #[error("Token has expired")]
    Expired,
    /// A valid token whose role may not use this route.
    #[error("Admin privileges required")]
    Forbidden,
    /// The configured key could not be used (unreadable PEM, wrong key type, empty secret).
    #[error("invalid JWT key configuration: {0}")]
    InvalidKey(String),
    /// Minting asked of a verifier that has no HS256 secret, or signing failed.
    #[error("cannot mint tokens: {0}")]
    CannotMint(String),
}

impl AuthError {
    /// Whether this is the client's fault at request time (401/403) rather than a
    /// configuration problem.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, AuthError::InvalidKey(_) | AuthError::CannotMint(_))
    }
}
