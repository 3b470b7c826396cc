//! The one place where every error of every layer becomes an HTTP status and a body in
//! FastAPI's shapes.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use lora_auth::AuthError;
use lora_core::CoreError;
use lora_inspect::InspectError;
use lora_store::StoreError;

use crate::ContentRejection;
use crate::tus::TusError;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

/// One part of a 422 entry's location: a field name or a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LocItem {
    /// A field name (`"body"`, `"file"`).
    Name(String),
    /// A position (the column of a JSON syntax error).
    Index(u64),
}

/// The kinds of 422 issue this service answers with: pydantic's error types, so FastAPI
/// clients recognise them, each with its usual message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// A required field is absent.
    Missing,
    /// The body is not JSON.
    JsonInvalid,
    /// The body is JSON but not an object.
    ModelAttributesType,
    /// Not a string.
    StringType,
    /// Not a JSON boolean.
    BoolType,
    /// A form value that is no boolean spelling.
    BoolParsing,
    /// Not a list.
    ListType,
    /// A list with too few items.
    TooShort,
    /// A list with too many items.
    TooLong,
    /// Not an RFC 3339 datetime.
    DatetimeFromDateParsing,
    /// Not an integer.
    IntParsing,
    /// Below the minimum.
    GreaterThanEqual,
    /// Above the maximum.
    LessThanEqual,
    /// A text field longer than allowed.
    StringTooLong,
    /// A text field that is not UTF-8.
    StringUnicode,
    /// Not one of the allowed values.
    Enum,
    /// Any other bad value.
    ValueError,
}

impl IssueKind {
    /// pydantic's message for this kind, where it has a fixed one.
    pub const fn message(self) -> &'static str {
        match self {
            IssueKind::Missing => "Field required",
            IssueKind::JsonInvalid => "JSON decode error",
            IssueKind::ModelAttributesType => {
                "Input should be a valid dictionary or object to extract fields from"
            }
            IssueKind::StringType => "Input should be a valid string",
            IssueKind::BoolType => "Input should be a valid boolean",
            IssueKind::BoolParsing => "Input should be a valid boolean, unable to interpret input",
            IssueKind::ListType => "Input should be a valid list",
            IssueKind::TooShort => "List should have at least 1 item after validation, not 0",
            IssueKind::TooLong => "List should have fewer items after validation",
            IssueKind::DatetimeFromDateParsing => "Input should be a valid datetime (RFC 3339)",
            IssueKind::IntParsing => {
                "Input should be a valid integer, unable to parse string as an integer"
            }
            IssueKind::GreaterThanEqual => "Input should be greater than or equal to 0",
            IssueKind::LessThanEqual => "Input should be less than or equal to the maximum",
            IssueKind::StringTooLong => "String should be shorter",
            IssueKind::StringUnicode => {
                "Input should be a valid string, unable to parse raw data as a unicode string"
            }
            IssueKind::Enum => "Input should be one of the allowed values",
            IssueKind::ValueError => "Value error",
        }
    }
}

/// One entry of a 422 body: `{"loc": [...], "msg": "...", "type": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = ValidationError)]
pub struct ValidationIssue {
    /// Where: `["body", "file"]`, `["query", "limit"]`, …
    pub loc: Vec<LocItem>,
    /// What is wrong, for people.
    pub msg: String,
    /// What is wrong, for programs (pydantic's error types).
    #[serde(rename = "type")]
    pub kind: IssueKind,
}

impl ValidationIssue {
    /// An issue of `kind` at `loc` (`"body"`, then field names), with its usual message.
    pub fn new(loc: &[&str], kind: IssueKind) -> Self {
        Self::with_message(loc, kind, kind.message())
    }

    /// An issue of `kind` at `loc` with a message naming the value's bounds.
    pub fn with_message(loc: &[&str], kind: IssueKind, msg: impl Into<String>) -> Self {
        Self {
            loc: loc.iter().map(|s| LocItem::Name((*s).to_owned())).collect(),
            msg: msg.into(),
            kind,
        }
    }

    /// `Field required` at `loc`.
    pub fn missing(loc: &[&str]) -> Self {
        Self::new(loc, IssueKind::Missing)
    }
}

/// `HTTPValidationError`: the 422 body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct HttpValidationError {
    /// What is wrong, one entry per problem.
    pub detail: Vec<ValidationIssue>,
}

/// `HTTPError`: every other error body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = HTTPError)]
pub struct HttpError {
    /// A human-readable message.
    pub detail: String,
}

/// Every way a request can fail.
#[derive(Debug, Error)]
pub enum ApiError {
    /// Authentication or authorization failed (401 / 403).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request does not match the schema (422).
    #[error("request validation failed")]
    Validation(Vec<ValidationIssue>),
    /// A domain rule refused a value (400).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The store refused or failed (status by kind).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The upload's content check refused the file (400) or could not run (500).
    #[error(transparent)]
    Content(#[from] ContentRejection),
    /// The inspector refused a file (400) or could not read it (500).
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// A domain type refused a value of a JSON body (400), with the domain's message
    /// (the typed error does not survive serde; see `json.rs`).
    #[error("{0}")]
    BadRequest(String),
    /// The upload's file part is empty (400).
    #[error("Empty file: the uploaded file has no content")]
    EmptyFile,
    /// The multipart form is malformed (400). (Its text only: `MultipartError` is not
    /// `Send`, and errors cross to the blocking pool.)
    #[error("There was an error parsing the body: {0}")]
    Multipart(String),
    /// The request body broke off or could not be read (400).
    #[error("The request body could not be read: {0}")]
    Body(#[source] actix_web::error::PayloadError),
    /// The client sent nothing of its body for the idle timeout (408).
    #[error("Request Timeout: the client sent nothing for {} s", .idle.as_secs_f64())]
    BodyIdle {
        /// The idle timeout.
        idle: std::time::Duration,
    },
    /// The upload or body is over the limit (413).
    #[error("File too large. Maximum size is {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// No route has this path (404).
    #[error("Not Found")]
    RouteNotFound,
    /// A resumable-upload (tus) request the protocol refuses.
    #[error("{0}")]
    Tus(#[from] TusError),
    /// The route exists but not with this method (405, with an `Allow` header).
    #[error("Method Not Allowed")]
    MethodNotAllowed {
        /// The methods the route answers, for the `Allow` header (`"GET, DELETE"`).
        allow: &'static str,
    },
    /// Too many uploads are in flight (503, with `Retry-After`).
    #[error("Too many uploads in progress (the limit is {cap}); retry in a few seconds")]
    Busy {
        /// The cap on uploads in flight.
        cap: usize,
    },
    /// A blocking or background task failed to run to its end (500).
    #[error("a background task failed")]
    Task(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A broken invariant (500); the text goes to the log, not to the client.
    #[error("{0}")]
    Internal(&'static str),
}

impl ApiError {
    /// A stable, label-safe name for why a request was refused (metrics).
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Auth(_) => "auth",
            ApiError::Validation(_) => "validation",
            ApiError::Core(_) => "name_or_entity",
            ApiError::Store(StoreError::AlreadyExists { .. }) => "name_taken",
            ApiError::Store(StoreError::NotFound { .. }) => "not_found",
            ApiError::Store(StoreError::InvalidPath { .. }) => "invalid_path",
            ApiError::Store(StoreError::StorageFull { .. }) => "storage_full",
            ApiError::Store(StoreError::Remote { .. }) => "shared_storage",
            ApiError::Store(_) => "storage",
            ApiError::Content(ContentRejection::NotAdmitted(lora_inspect::Refusal::NotALora {
                ..
            })) => "not_a_lora",
            ApiError::Content(ContentRejection::NotAdmitted(_)) => "base_model",
            ApiError::Content(_) | ApiError::Inspect(_) => "content",
            ApiError::BadRequest(_) | ApiError::Multipart(_) | ApiError::Body(_) => "bad_request",
            ApiError::EmptyFile => "empty_file",
            ApiError::BodyIdle { .. } => "idle",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Busy { .. } => "busy",
            ApiError::Tus(_) => "tus",
            ApiError::Task(_) | ApiError::Internal(_) => "internal",
        }
    }

    /// A single 422 issue.
    pub fn invalid(issue: ValidationIssue) -> Self {
        ApiError::Validation(vec![issue])
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Auth(AuthError::Forbidden) => StatusCode::FORBIDDEN,
            ApiError::Auth(e) if e.is_client_error() => StatusCode::UNAUTHORIZED,
            ApiError::Auth(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Core(_)
            | ApiError::BadRequest(_)
            | ApiError::EmptyFile
            | ApiError::Multipart(_)
            | ApiError::Body(_) => StatusCode::BAD_REQUEST,
            ApiError::Store(e) => match e {
                StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
                StoreError::AlreadyExists { .. } => StatusCode::CONFLICT,
                StoreError::InvalidPath { .. } => StatusCode::BAD_REQUEST,
                StoreError::StorageFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
                StoreError::Locked { .. }
                | StoreError::Unavailable { .. }
                | StoreError::NotInitialised { .. }
                | StoreError::Remote { .. } => StatusCode::SERVICE_UNAVAILABLE,
                StoreError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Content(e) if e.is_refusal() => StatusCode::BAD_REQUEST,
            ApiError::Inspect(e) if e.is_content_error() => StatusCode::BAD_REQUEST,
            ApiError::Content(_) | ApiError::Inspect(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyIdle { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::Tus(e) => match e {
                TusError::Version => StatusCode::PRECONDITION_FAILED,
                TusError::MediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                TusError::Header(_) => StatusCode::BAD_REQUEST,
                TusError::UnknownUpload => StatusCode::NOT_FOUND,
                TusError::Offset { .. } => StatusCode::CONFLICT,
                TusError::Busy => StatusCode::LOCKED,
                TusError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            },
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Task(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let ApiError::Tus(e) = self {
            response.insert_header(("Tus-Resumable", crate::tus::TUS_VERSION));
            if matches!(e, TusError::Version) {
                response.insert_header(("Tus-Version", crate::tus::TUS_VERSION));
            }
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        match self {
            ApiError::Validation(issues) => response.json(HttpValidationError {
                detail: issues.clone(),
            }),
            // A refusal for load is the one 5xx whose reason (no server path) the client reads.
            ApiError::Busy { .. } => response
                .insert_header((header::RETRY_AFTER, crate::ingest::load::RETRY_AFTER_SECS))
                .json(HttpError {
                    detail: self.to_string(),
                }),
            // The shared storage is away: nothing took effect, so a retry is safe.
            ApiError::Store(StoreError::Remote { .. }) => {
                tracing::warn!(error = %chain(self), "shared storage unreachable");
                response
                    .insert_header((header::RETRY_AFTER, REMOTE_RETRY_AFTER_SECS))
                    .json(HttpError {
                        detail: "Service unavailable: the shared storage cannot be reached; nothing was changed, retry later"
                            .to_owned(),
                    })
            }
            _ if status.is_server_error() => {
                // The cause chain can name server paths: it goes to the log only.
                tracing::error!(error = %chain(self), "request failed");
                let detail = match status {
                    StatusCode::INSUFFICIENT_STORAGE => {
                        "Insufficient storage: the data directory is full"
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        "Service unavailable: the data directory cannot be written to"
                    }
                    _ => "Internal server error",
                };
                response.json(HttpError {
                    detail: detail.to_owned(),
                })
            }
            _ => response.json(HttpError {
                detail: self.to_string(),
            }),
        }
    }
}

/// Seconds a client is asked to wait when the shared storage (fleet mode) is away.
pub const REMOTE_RETRY_AFTER_SECS: &str = "10";

/// `error: cause: cause`, for logs.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
