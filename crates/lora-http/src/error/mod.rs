//! The one place where every error of every layer becomes an HTTP status and a body in
//! FastAPI's shapes: each error maps to one [`Code`], and the code's row in the table
//! (`code.rs`) gives the status, the metrics reason, the public message and any extra
//! headers.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use lora_auth::AuthError;
use lora_catalog::CatalogError;
use lora_core::CoreError;
use lora_inspect::InspectError;
use lora_store::StoreError;

use thiserror::Error;

use crate::ContentRejection;
use crate::install::error::InstallError;
use crate::tus::TusError;
pub use body::{HttpError, HttpValidationError, IssueKind, LocItem, ValidationIssue};
pub use code::{Code, Detail};

mod body;
mod code;

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
    /// The catalogue refused a value (404 for a file it does not know) or failed (500).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The same bytes are live and the upload said `if_duplicate=refuse` (409).
    #[error("Duplicate: the same bytes are already stored as {of} (if_duplicate=refuse)")]
    Duplicate {
        /// The live file.
        of: lora_core::PartialPath,
    },
    /// The catalogue's index could not be opened: filters cannot run (503).
    #[error("Service unavailable: the catalogue is not available")]
    NoCatalogue,
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
    /// An install request or job action refused (400 source, 404 job, 409 too late, 503).
    #[error(transparent)]
    Install(#[from] InstallError),
    /// A blocking or background task failed to run to its end (500).
    #[error("a background task failed")]
    Task(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A broken invariant (500); the text goes to the log, not to the client.
    #[error("{0}")]
    Internal(&'static str),
}

impl ApiError {
    /// Which row of the error table this error is: its status, metrics reason, public
    /// message and extra headers all come from there ([`Code`]).
    pub fn code(&self) -> Code {
        match self {
            ApiError::Auth(AuthError::Forbidden) => Code::Forbidden,
            ApiError::Auth(e) if e.is_client_error() => Code::Unauthorized,
            ApiError::Auth(_) => Code::AuthFailed,
            ApiError::Validation(_) => Code::Validation,
            ApiError::Core(_) => Code::NameOrEntity,
            ApiError::Store(e) => match e {
                StoreError::NotFound { .. } => Code::NotFound,
                StoreError::AlreadyExists { .. } => Code::NameTaken,
                StoreError::InvalidPath { .. } => Code::InvalidPath,
                StoreError::ContentRefused { .. } => Code::Content,
                StoreError::StorageFull { .. } => Code::StorageFull,
                StoreError::Remote { .. } => Code::SharedStorage,
                StoreError::Locked { .. }
                | StoreError::Unavailable { .. }
                | StoreError::NotInitialised { .. } => Code::StorageUnavailable,
                StoreError::Io { .. } => Code::StorageFailed,
            },
            ApiError::Content(ContentRejection::NotAdmitted(lora_inspect::Refusal::NotALora {
                ..
            })) => Code::NotALora,
            ApiError::Content(ContentRejection::NotAdmitted(_)) => Code::BaseModel,
            ApiError::Content(e) if e.is_refusal() => Code::Content,
            ApiError::Inspect(e) if e.is_content_error() => Code::Content,
            ApiError::Content(_) | ApiError::Inspect(_) => Code::ContentCheckFailed,
            ApiError::BadRequest(_) | ApiError::Multipart(_) | ApiError::Body(_) => {
                Code::BadRequest
            }
            ApiError::EmptyFile => Code::EmptyFile,
            ApiError::BodyIdle { .. } => Code::Idle,
            ApiError::TooLarge { .. } => Code::TooLarge,
            ApiError::RouteNotFound => Code::RouteNotFound,
            ApiError::MethodNotAllowed { .. } => Code::MethodNotAllowed,
            ApiError::Busy { .. } => Code::Busy,
            ApiError::Catalog(CatalogError::NotFound { .. }) => Code::NotFound,
            ApiError::Catalog(_) => Code::CatalogFailed,
            ApiError::NoCatalogue => Code::NoCatalogue,
            ApiError::Duplicate { .. } => Code::Duplicate,
            ApiError::Tus(e) => match e {
                TusError::Version => Code::TusVersion,
                TusError::MediaType => Code::TusMediaType,
                TusError::Header(_) => Code::TusHeader,
                TusError::UnknownUpload => Code::TusUnknownUpload,
                TusError::Offset { .. } => Code::TusOffset,
                TusError::Busy => Code::TusLocked,
                TusError::TooMany { .. } => Code::TusTooMany,
            },
            ApiError::Install(e) => match e {
                InstallError::BadSource { .. }
                | InstallError::Refused { .. }
                | InstallError::Fetch { .. } => Code::InstallSource,
                InstallError::NotFound { .. } => Code::InstallNotFound,
                InstallError::TooLate { .. } => Code::InstallTooLate,
                InstallError::Unavailable => Code::InstallUnavailable,
            },
            ApiError::Task(_) | ApiError::Internal(_) => Code::Internal,
        }
    }

    /// A stable, label-safe name for why a request was refused (metrics).
    pub fn reason(&self) -> &'static str {
        self.code().reason()
    }

    /// A single 422 issue.
    pub fn invalid(issue: ValidationIssue) -> Self {
        ApiError::Validation(vec![issue])
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.code();
        let mut response = HttpResponse::build(code.status());
        for (name, value) in code.headers() {
            response.insert_header((*name, *value));
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        if let ApiError::Validation(issues) = self {
            return response.json(HttpValidationError {
                detail: issues.clone(),
            });
        }
        response.json(HttpError {
            detail: self.public_detail(),
        })
    }
}

impl ApiError {
    /// What a client may read of this error (the `detail` of its answer, the `error` of a
    /// failed install job): its own message for a client error, the table's fixed text
    /// for a server error, whose cause chain (it can name server paths) goes to the log.
    pub fn public_detail(&self) -> String {
        let code = self.code();
        match code.detail() {
            Detail::Own => self.to_string(),
            Detail::Fixed(text) => {
                if code == Code::SharedStorage {
                    tracing::warn!(error = %chain(self), "shared storage unreachable");
                } else {
                    tracing::error!(error = %chain(self), "request failed");
                }
                text.to_owned()
            }
        }
    }
}

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
