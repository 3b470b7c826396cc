//! The error bodies, in FastAPI's shapes: `HTTPError` (`{"detail": "…"}`) and
//! `HTTPValidationError` (422, pydantic's issue list).

use serde::{Deserialize, Serialize};
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
