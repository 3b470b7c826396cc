//! The audit trail: one line per change (upload, delete, restore, purge, retention) at
//! target `lora_http::audit`, naming who (`sub`, role), what, the partial path, the
//! SHA-256 and the result. Inside the request's span, so it carries its request id.

use lora_auth::{Claims, Role};
use lora_core::Sha256;
use lora_store::StoreError;

use crate::ApiError;

/// Who acted: a token's subject and role, or the server itself (retention).
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    sub: String,
    role: &'static str,
}

impl Actor {
    /// The token's subject and role (never the route's: an admin on the user route is an
    /// admin).
    pub(crate) fn of(claims: &Claims) -> Self {
        Self {
            sub: claims.sub().to_owned(),
            role: match claims.role() {
                Role::Admin => "admin",
                Role::User => "user",
            },
        }
    }

    /// An admin known by `sub` alone (an install, which outlives its request).
    pub(crate) fn admin(sub: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            role: "admin",
        }
    }

    /// The server's own changes (retention).
    pub(crate) fn server() -> Self {
        Self {
            sub: "lora-server".to_owned(),
            role: "server",
        }
    }
}

/// What changed: the `action` field of an audit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// A multipart upload.
    Upload,
    /// A resumable (tus) upload's completing PATCH.
    UploadTus,
    /// A file fetched from a URL (an install job).
    Install,
    /// A live file moved to the bin.
    Delete,
    /// A bin entry moved back.
    Restore,
    /// One bin entry removed for good.
    Purge,
    /// Bin entries deleted before a time removed for good.
    PurgeBefore,
    /// Bin entries past the retention period removed by the server.
    Retention,
}

impl Action {
    /// The name in the log line.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Action::Upload => "upload",
            Action::UploadTus => "upload (tus)",
            Action::Install => "install",
            Action::Delete => "delete",
            Action::Restore => "restore",
            Action::Purge => "purge",
            Action::PurgeBefore => "purge_before",
            Action::Retention => "retention",
        }
    }
}

/// Logs a change that took effect.
pub(crate) fn done(actor: &Actor, action: Action, partial_path: &str, sha256: Option<&Sha256>) {
    tracing::info!(
        target: "lora_http::audit",
        sub = actor.sub,
        role = actor.role,
        action = action.as_str(),
        partial_path,
        sha256 = sha256.map(Sha256::to_hex).unwrap_or_default(),
        result = "ok",
        "audit"
    );
}

/// Logs a change that was refused or failed, with the status it answered.
pub(crate) fn refused(actor: &Actor, action: Action, partial_path: &str, error: &ApiError) {
    use actix_web::ResponseError;
    tracing::info!(
        target: "lora_http::audit",
        sub = actor.sub,
        role = actor.role,
        action = action.as_str(),
        partial_path,
        result = error.status_code().as_u16(),
        reason = %error,
        "audit"
    );
}

/// Logs the outcome of a change, whichever it was.
pub(crate) fn outcome<T>(
    actor: &Actor,
    action: Action,
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
    actor: &Actor,
    action: Action,
    files: usize,
    bytes: u64,
    error: Option<&StoreError>,
) {
    tracing::info!(
        target: "lora_http::audit",
        sub = actor.sub,
        role = actor.role,
        action = action.as_str(),
        files,
        bytes,
        result = if error.is_some() { "failed" } else { "ok" },
        "audit"
    );
}
