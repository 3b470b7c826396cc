//! The error table: one row per way a request fails, with everything a client or an
//! operator sees of it. A typo in a code is a compile error, and a status is decided here
//! and nowhere else (a test walks the table against the OpenAPI document).

use actix_web::http::StatusCode;

use crate::tus::TUS_VERSION;

/// What the body's `detail` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The error's own message (client errors: it names what was wrong with the request).
    Own,
    /// A fixed message: the error's cause can name server paths, so it goes to the log.
    Fixed(&'static str),
}

const INTERNAL: Detail = Detail::Fixed("Internal server error");
const TUS: (&str, &str) = ("Tus-Resumable", TUS_VERSION);

macro_rules! codes {
    ($(
        $(#[$doc:meta])*
        $code:ident => $status:ident, $reason:literal, $detail:expr, [$($header:expr),*];
    )*) => {
        /// Every way a request fails, as clients and operators see it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $code,)*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$code,)*];

            /// The HTTP status.
            pub fn status(self) -> StatusCode {
                match self {
                    $(Code::$code => StatusCode::$status,)*
                }
            }

            /// A stable, label-safe name for the metrics' `reason` label.
            pub const fn reason(self) -> &'static str {
                match self {
                    $(Code::$code => $reason,)*
                }
            }

            /// What the body's `detail` says.
            pub const fn detail(self) -> Detail {
                match self {
                    $(Code::$code => $detail,)*
                }
            }

            /// Headers every answer of this code carries.
            pub const fn headers(self) -> &'static [(&'static str, &'static str)] {
                match self {
                    $(Code::$code => &[$($header),*],)*
                }
            }
        }
    };
}

codes! {
    /// No token, or one that does not verify.
    Unauthorized => UNAUTHORIZED, "auth", Detail::Own, [("WWW-Authenticate", "Bearer")];
    /// A valid token of the wrong role.
    Forbidden => FORBIDDEN, "auth", Detail::Own, [];
    /// The verifier itself failed.
    AuthFailed => INTERNAL_SERVER_ERROR, "auth", INTERNAL, [];
    /// The request does not match the schema (a FastAPI 422 body).
    Validation => UNPROCESSABLE_ENTITY, "validation", Detail::Own, [];
    /// An entity type or file name the domain rules refuse.
    NameOrEntity => BAD_REQUEST, "name_or_entity", Detail::Own, [];
    /// No such file.
    NotFound => NOT_FOUND, "not_found", Detail::Own, [];
    /// The name is taken and versioning was declined.
    NameTaken => CONFLICT, "name_taken", Detail::Own, [];
    /// A path the store may not act on.
    InvalidPath => BAD_REQUEST, "invalid_path", Detail::Own, [];
    /// The disk is full.
    StorageFull => INSUFFICIENT_STORAGE, "storage_full",
        Detail::Fixed("Insufficient storage: the data directory is full"), [];
    /// Fleet mode's bucket cannot be reached: nothing changed, a retry is safe.
    SharedStorage => SERVICE_UNAVAILABLE, "shared_storage",
        Detail::Fixed("Service unavailable: the shared storage cannot be reached; nothing was changed, retry later"),
        [("Retry-After", "10")];
    /// The data directory is read-only, gone, uninitialised or locked.
    StorageUnavailable => SERVICE_UNAVAILABLE, "storage",
        Detail::Fixed("Service unavailable: the data directory cannot be written to"), [];
    /// Any other storage failure.
    StorageFailed => INTERNAL_SERVER_ERROR, "storage", INTERNAL, [];
    /// Another kind of file than a LoRA, not admitted.
    NotALora => BAD_REQUEST, "not_a_lora", Detail::Own, [];
    /// A base model the allowlist does not admit.
    BaseModel => BAD_REQUEST, "base_model", Detail::Own, [];
    /// Content the inspector refuses.
    Content => BAD_REQUEST, "content", Detail::Own, [];
    /// The content check could not run.
    ContentCheckFailed => INTERNAL_SERVER_ERROR, "content", INTERNAL, [];
    /// A body that cannot be read, or a malformed form.
    BadRequest => BAD_REQUEST, "bad_request", Detail::Own, [];
    /// An upload with no bytes.
    EmptyFile => BAD_REQUEST, "empty_file", Detail::Own, [];
    /// A body that sent nothing for the idle timeout.
    Idle => REQUEST_TIMEOUT, "idle", Detail::Own, [];
    /// A body or upload over the limit.
    TooLarge => PAYLOAD_TOO_LARGE, "too_large", Detail::Own, [];
    /// No route has this path.
    RouteNotFound => NOT_FOUND, "route_not_found", Detail::Own, [];
    /// The route has no operation for this method (`Allow` names those it has).
    MethodNotAllowed => METHOD_NOT_ALLOWED, "method_not_allowed", Detail::Own, [];
    /// The same bytes are live and the upload refused duplicates.
    Duplicate => CONFLICT, "duplicate", Detail::Own, [];
    /// The catalogue's index failed.
    CatalogFailed => INTERNAL_SERVER_ERROR, "catalogue", INTERNAL, [];
    /// The catalogue's index could not be opened at start.
    NoCatalogue => SERVICE_UNAVAILABLE, "catalogue",
        Detail::Fixed("Service unavailable: the catalogue is not available"), [];
    /// Too many uploads in flight: the one 5xx whose reason (no server path) is shown.
    Busy => SERVICE_UNAVAILABLE, "busy", Detail::Own, [("Retry-After", "5")];
    /// `Tus-Resumable` missing or not 1.0.0.
    TusVersion => PRECONDITION_FAILED, "tus", Detail::Own, [TUS, ("Tus-Version", TUS_VERSION)];
    /// A PATCH body that is not `application/offset+octet-stream`.
    TusMediaType => UNSUPPORTED_MEDIA_TYPE, "tus", Detail::Own, [TUS];
    /// A tus header missing or malformed.
    TusHeader => BAD_REQUEST, "tus", Detail::Own, [TUS];
    /// No such upload for this subject, or it expired.
    TusUnknownUpload => NOT_FOUND, "tus", Detail::Own, [TUS];
    /// `Upload-Offset` is not the upload's offset.
    TusOffset => CONFLICT, "tus", Detail::Own, [TUS];
    /// Another PATCH is writing to the upload.
    TusLocked => LOCKED, "tus", Detail::Own, [TUS];
    /// Too many unfinished uploads for one subject.
    TusTooMany => TOO_MANY_REQUESTS, "tus", Detail::Own, [TUS];
    /// An install source that cannot or may not be fetched.
    InstallSource => BAD_REQUEST, "install_source", Detail::Own, [];
    /// No such install job.
    InstallNotFound => NOT_FOUND, "not_found", Detail::Own, [];
    /// An install job that has ended or is being stored cannot be cancelled.
    InstallTooLate => CONFLICT, "install_too_late", Detail::Own, [];
    /// The installs' folder could not be opened.
    InstallUnavailable => SERVICE_UNAVAILABLE, "install",
        Detail::Fixed("Service unavailable: installs cannot be kept on this node"), [];
    /// A broken invariant or a task that did not finish.
    Internal => INTERNAL_SERVER_ERROR, "internal", INTERNAL, [];
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::OpenApi;

    use super::*;

    /// The table and the document agree: every status a code answers is documented on some
    /// route (405 is each path's fallback, which utoipa does not document per operation),
    /// and every error status the document names is some code's.
    #[test]
    fn every_code_is_in_the_openapi_document_and_every_documented_error_is_a_code() {
        let doc = serde_json::to_value(crate::ApiDoc::openapi()).unwrap();
        let documented: BTreeSet<u16> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|ops| ops.as_object().unwrap().values())
            .filter_map(|op| op.get("responses").and_then(|r| r.as_object()))
            .flat_map(|responses| responses.keys().filter_map(|s| s.parse().ok()))
            .collect();
        let answered: BTreeSet<u16> = Code::ALL.iter().map(|c| c.status().as_u16()).collect();
        for code in Code::ALL {
            let status = code.status().as_u16();
            if *code == Code::MethodNotAllowed {
                continue;
            }
            assert!(
                documented.contains(&status),
                "{code:?} answers {status}, documented nowhere"
            );
            assert!(!code.reason().is_empty());
            if code.status().is_server_error() && *code != Code::Busy {
                assert!(
                    matches!(code.detail(), Detail::Fixed(_)),
                    "{code:?} would show its cause"
                );
            }
        }
        for status in documented.iter().filter(|s| **s >= 400) {
            assert!(
                answered.contains(status),
                "{status} is documented but no code answers it"
            );
        }
    }

    #[test]
    fn tus_codes_carry_the_protocol_version() {
        for code in Code::ALL.iter().filter(|c| c.reason() == "tus") {
            assert!(code.headers().contains(&TUS), "{code:?}");
        }
    }
}
