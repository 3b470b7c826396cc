//! The vocabulary of a report's judgement and the judging itself, one idea a module:
//! [`code`] is the catalogue (severities, stable finding codes with their advice, the
//! [`Finding`] a report lists), [`rules`] decides which findings a file earns and the
//! [`Verdict`] they make.
//!
//! This file only re-exports, so the children can depend on each other without one
//! going through the parent that depends on it.

mod code;
mod rules;

pub use code::{Finding, FindingCode, Severity};
pub use rules::Verdict;
pub(crate) use rules::{Evidence, content_finding, judge};
