//! The audit trail: one line per change (upload, delete, restore, purge, retention) at
//! target `lora_http::audit`, naming who (`sub`, role), what, the partial path, the
//! SHA-256 and the result. Inside the request's span, so it carries its request id.

use lora_auth::{Claims, Role};
use lora_core::Sha256;
use lora_store::StoreError;

use crate::ApiError;

/// Who acted: a token's subject and role, or the server itself (retention).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Actor<'a> {
    pub sub: &'a str,
    pub role: &'static str,
}

impl<'a> Actor<'a> {
    pub(crate) fn of(claims: &'a Claims) -> Self {
        Self {
            sub: claims.sub(),
            role: match claims.role() {
                Role::Admin => "admin",
                Role::User => "user",
            },
        }
    }

    pub(crate) const SERVER: Actor<'static> = Actor {
        sub: "lora-server",
        role: "server",
    };
}

/// Logs a change that took effect.
pub(crate) fn done(actor: Actor<'_>, action: &str, partial_path: &str, sha256: Option<&Sha256>) {
    tracing::info!(
        target: "lora_http::audit",
        sub = actor.sub,
        role = actor.role,
        action,
        partial_path,
        sha256 = sha256.map(Sha256::to_hex).unwrap_or_default(),
        result = "ok",
        "audit"
    );
}

/// Logs a change that was refused or failed, with the status it answered.
pub(crate) fn refused(actor: Actor<'_>, action: &str, partial_path: &str, error: &ApiError) {
    use actix_web::ResponseError;
    tracing::info!(
        target: "lora_http::audit",
        sub = actor.sub,
        role = actor.role,
        action,
        partial_path,
        result = error.status_code().as_u16(),
        reason = %error,
        "audit"
    );
}

/// Logs the outcome of a change, whichever it was.
pub(crate) fn outcome<T>(
    actor: Actor<'_>,
    action: &str,
    partial_path: &str,
    result: &Result<T, ApiError>,
    sha256: impl FnOnce(&T) -> Option<Sha256>,
) {
    match result {
        Ok(value) => done(actor, action, partial_path, sha256(value).as_ref()),
        Err(e) => refused(actor, action, partial_path, e),
    }
}

/// Logs a bulk purge (by time or retention).
pub(crate) fn purged(
    actor: Actor<'_>,
    action: &str,
    files: usize,
    bytes: u64,
    error: Option<&StoreError>,
) {
    tracing::info!(
        target: "lora_http::audit",
        sub = actor.sub,
        role = actor.role,
        action,
        files,
        bytes,
        result = if error.is_some() { "failed" } else { "ok" },
        "audit"
    );
}
