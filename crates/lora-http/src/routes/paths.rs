//! The files a request names: one `partial_path`, or a list in `partial_paths` (which
//! wins), as evaluation and ensure take them.

use lora_core::PartialPath;

use crate::ApiError;
use crate::error::{IssueKind, ValidationIssue};

/// Largest list one request may name.
pub(crate) const MAX_BATCH: usize = 100;

/// What a request asks for, once its rules are checked.
pub(crate) enum Asked {
    /// One `partial_path`.
    One(PartialPath),
    /// `partial_paths`: 1 to [`MAX_BATCH`].
    Batch(Vec<PartialPath>),
}

impl Asked {
    /// `partial_paths` (1 to [`MAX_BATCH`]) wins over `partial_path`; one of them is
    /// required (422 otherwise, in FastAPI's shape).
    pub(crate) fn from_body(
        one: Option<PartialPath>,
        many: Option<Vec<PartialPath>>,
    ) -> Result<Self, ApiError> {
        let issue = |kind, msg: String| {
            ApiError::invalid(ValidationIssue::with_message(
                &["body", "partial_paths"],
                kind,
                msg,
            ))
        };
        match (many, one) {
            (Some(list), _) if list.is_empty() => Err(issue(
                IssueKind::TooShort,
                IssueKind::TooShort.message().into(),
            )),
            (Some(list), _) if list.len() > MAX_BATCH => Err(issue(
                IssueKind::TooLong,
                format!("List should have at most {MAX_BATCH} items after validation"),
            )),
            (Some(list), _) => Ok(Asked::Batch(list)),
            (None, Some(one)) => Ok(Asked::One(one)),
            (None, None) => Err(ApiError::invalid(ValidationIssue::missing(&[
                "body",
                "partial_path",
            ]))),
        }
    }

    /// The paths, in request order.
    pub(crate) fn into_paths(self) -> Vec<PartialPath> {
        match self {
            Asked::One(one) => vec![one],
            Asked::Batch(list) => list,
        }
    }
}
