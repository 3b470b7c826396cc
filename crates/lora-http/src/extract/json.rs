//! [`ApiJson`]: the one JSON body extractor. The request types the handlers take are the
//! types the OpenAPI document shows; this turns every way a body can miss them into the
//! contract's answers.
//!
//! * Not JSON, not an object, a missing field, a value of the wrong JSON type → 422 in
//!   FastAPI's shape (`{"detail": [{"loc": ["body", ...], "msg", "type"}]}`), with
//!   pydantic's error types.
//! * A value of the right JSON type that a domain type refuses (a `partial_path` that
//!   escapes its folder, say) → 400 with the domain's message, as the contract has it.
//!
//! serde tells the two apart for us: structural errors come from serde's own
//! `missing_field` / `invalid_type` / `invalid_value` / `invalid_length`, while domain
//! types (`#[serde(try_from = "String")]`) report through `Error::custom`. Deserializing
//! from a `serde_json::Value` keeps serde_json from appending a position to the message.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ApiError;
use crate::error::{IssueKind, LocItem, ValidationIssue};

/// Largest JSON body any route accepts (they all take a path or a few).
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// A JSON request body deserialized into `T` (see the module docs for the error rules).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let payload = payload.take();
        let idle = req
            .app_data::<actix_web::web::Data<crate::AppState>>()
            .map_or(crate::DEFAULT_BODY_IDLE_TIMEOUT, |s| {
                s.limits.body_idle_timeout
            });
        Box::pin(async move {
            let body = read_body(payload, MAX_JSON_BODY, idle).await?;
            parse(&body).map(ApiJson)
        })
    }
}

/// Reads a whole (small) body, refusing more than `limit` bytes with 413.
async fn read_body(
    mut payload: Payload,
    limit: usize,
    idle: std::time::Duration,
) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = crate::ingest::idle::next(&mut payload, idle).await? {
        let chunk = chunk.map_err(ApiError::Body)?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge {
                limit: limit as u64,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a JSON body into `T`.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(ValidationIssue::missing(&["body"])));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let mut issue = ValidationIssue::new(&["body"], IssueKind::JsonInvalid);
        issue.loc.push(LocItem::Index(e.column() as u64));
        ApiError::invalid(issue)
    })?;
    if !value.is_object() {
        return Err(ApiError::invalid(ValidationIssue::new(
            &["body"],
            IssueKind::ModelAttributesType,
        )));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut loc: Vec<LocItem> = vec![LocItem::Name("body".into())];
        for segment in e.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => {
                    loc.push(LocItem::Index(*index as u64));
                }
                serde_path_to_error::Segment::Map { key } => loc.push(LocItem::Name(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    loc.push(LocItem::Name(variant.clone()));
                }
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        classify(loc, &e.into_inner().to_string())
    })
}

/// pydantic's error type for what serde expected, by the `expected …` part of its
/// message. The first row that matches wins; anything else is a `value_error`.
const EXPECTED: &[(&str, IssueKind)] = &[
    ("a string", IssueKind::StringType),
    ("a boolean", IssueKind::BoolType),
    ("a sequence", IssueKind::ListType),
    ("an RFC 3339", IssueKind::DatetimeFromDateParsing),
    ("struct", IssueKind::ModelAttributesType),
];

fn classify(mut loc: Vec<LocItem>, message: &str) -> ApiError {
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some(field) = rest.strip_suffix('`') {
            loc.push(LocItem::Name(field.to_owned()));
        }
        return ApiError::Validation(vec![ValidationIssue {
            loc,
            msg: IssueKind::Missing.message().into(),
            kind: IssueKind::Missing,
        }]);
    }
    let structural = ["invalid type: ", "invalid value: ", "invalid length "]
        .iter()
        .any(|p| message.starts_with(p));
    if !structural {
        // A domain type refused the value: the contract's 400, with its message.
        return ApiError::BadRequest(message.to_owned());
    }
    let expected = message.rsplit_once(", expected ").map_or("", |(_, e)| e);
    let (kind, msg) = EXPECTED
        .iter()
        .find(|(what, _)| expected.starts_with(what))
        .map_or((IssueKind::ValueError, message), |(_, kind)| {
            (*kind, kind.message())
        });
    ApiError::Validation(vec![ValidationIssue {
        loc,
        msg: msg.to_owned(),
        kind,
    }])
}

#[cfg(test)]
mod tests {
    use lora_core::PartialPath;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        partial_path: PartialPath,
        #[serde(default)]
        flag: Option<bool>,
        #[serde(default)]
        paths: Option<Vec<PartialPath>>,
    }

    fn issue(body: &str) -> (IssueKind, Vec<LocItem>) {
        match parse::<Body>(body.as_bytes()) {
            Err(ApiError::Validation(issues)) => (issues[0].kind, issues[0].loc.clone()),
            other => panic!("{body}: {other:?}"),
        }
    }

    fn name(s: &str) -> LocItem {
        LocItem::Name(s.into())
    }

    #[test]
    fn structural_errors_are_422_with_pydantic_types() {
        assert_eq!(issue("").0, IssueKind::Missing);
        assert_eq!(issue("{").0, IssueKind::JsonInvalid);
        assert_eq!(issue("[1]").0, IssueKind::ModelAttributesType);
        let field = |f: &str| vec![name("body"), name(f)];
        assert_eq!(issue("{}"), (IssueKind::Missing, field("partial_path")));
        assert_eq!(
            issue(r#"{"partial_path": 5}"#),
            (IssueKind::StringType, field("partial_path"))
        );
        assert_eq!(
            issue(r#"{"partial_path": "styles/a.pt", "flag": "maybe"}"#).0,
            IssueKind::BoolType
        );
        let mut second = field("paths");
        second.push(LocItem::Index(1));
        assert_eq!(
            issue(r#"{"partial_path": "styles/a.pt", "paths": ["styles/a.pt", 3]}"#),
            (IssueKind::StringType, second)
        );
    }

    #[test]
    fn domain_refusals_are_400_with_the_domain_message() {
        for body in [
            r#"{"partial_path": "../etc/passwd"}"#,
            r#"{"partial_path": "styles/a.pt", "paths": ["/abs"]}"#,
        ] {
            match parse::<Body>(body.as_bytes()) {
                Err(ApiError::BadRequest(msg)) => {
                    assert!(msg.starts_with("Invalid partial_path"), "{msg}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        let ok = parse::<Body>(br#"{"partial_path": "styles/a.pt", "extra": 1}"#).unwrap();
        assert_eq!(ok.partial_path.to_string(), "styles/a.pt");
        assert_eq!((ok.flag, ok.paths), (None, None));
    }
}
