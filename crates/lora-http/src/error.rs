//! The one place where every error of every layer becomes an HTTP status and a body in
//! FastAPI's shapes.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use lora_auth::AuthError;
use lora_core::CoreError;
use lora_store::StoreError;
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
    pub kind: String,
}

impl ValidationIssue {
    /// An issue at `loc` (`"body"`, then field names).
    pub fn new(loc: &[&str], kind: &str, msg: impl Into<String>) -> Self {
        Self {
            loc: loc.iter().map(|s| LocItem::Name((*s).to_owned())).collect(),
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }

    /// `Field required` at `loc`.
    pub fn missing(loc: &[&str]) -> Self {
        Self::new(loc, "missing", "Field required")
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
    /// Any other client mistake (400).
    #[error("{0}")]
    BadRequest(String),
    /// The upload or body is over the limit (413).
    #[error("File too large. Maximum size is {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// No route has this path (404).
    #[error("Not Found")]
    RouteNotFound,
    /// The route exists but not with this method (405, with an `Allow` header).
    #[error("Method Not Allowed")]
    MethodNotAllowed {
        /// The methods the route answers, for the `Allow` header (`"GET, DELETE"`).
        allow: &'static str,
    },
    /// The server cannot take this request now (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure (500); the text goes to the log, not to the client.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
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
            ApiError::Core(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Store(e) => match e {
                StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
                StoreError::AlreadyExists { .. } => StatusCode::CONFLICT,
                StoreError::InvalidPath { .. } => StatusCode::BAD_REQUEST,
                StoreError::StorageFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
                StoreError::Locked { .. } | StoreError::Unavailable { .. } => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                StoreError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        match self {
            ApiError::Validation(issues) => response.json(HttpValidationError {
                detail: issues.clone(),
            }),
            _ if status.is_server_error() => {
                // The cause chain can name server paths: it goes to the log only.
                tracing::error!(error = %chain(self), "request failed");
                let detail = match status {
                    StatusCode::INSUFFICIENT_STORAGE => {
                        "Insufficient storage: the data directory is full"
                    }
                    StatusCode::SERVICE_UNAVAILABLE => match self {
                        ApiError::Unavailable(msg) => msg.as_str(),
                        _ => "Service unavailable: the data directory cannot be written to",
                    },
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
