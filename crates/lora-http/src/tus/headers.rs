//! Reading and writing tus headers.

use std::time::{Duration, SystemTime};

use actix_web::HttpResponseBuilder;
use actix_web::http::header::{self, HeaderMap, HttpDate};
use base64::Engine;
use time::OffsetDateTime;

use super::error::TusError;
use super::version::TUS_VERSION;

/// The media type of PATCH bodies (and of a creation's body).
const OFFSET_STREAM: &[u8] = b"application/offset+octet-stream";

/// Adds `Tus-Resumable: 1.0.0`, which every tus answer carries.
pub(crate) fn resumable(builder: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    builder.insert_header(("Tus-Resumable", TUS_VERSION))
}

/// Refuses a request without `Tus-Resumable: 1.0.0`.
pub(crate) fn require_version(headers: &HeaderMap) -> Result<(), TusError> {
    match headers.get("Tus-Resumable").and_then(|v| v.to_str().ok()) {
        Some(v) if v.trim() == TUS_VERSION => Ok(()),
        _ => Err(TusError::Version),
    }
}

/// Refuses a PATCH whose body is not `application/offset+octet-stream`.
pub(crate) fn offset_stream(headers: &HeaderMap) -> Result<(), TusError> {
    match headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()) {
        Some(OFFSET_STREAM) => Ok(()),
        _ => Err(TusError::MediaType),
    }
}

/// Whether a creation carries bytes (creation-with-upload).
pub(crate) fn has_body(headers: &HeaderMap) -> Result<bool, TusError> {
    Ok(offset_stream(headers).is_ok()
        && header_u64(headers, "Content-Length")?.is_some_and(|n| n > 0))
}

/// A header holding a non-negative integer; `None` when absent.
pub(crate) fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, TusError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| TusError::Header(format!("{name} must be a non-negative integer"))),
    }
}

/// `Upload-Metadata`: `key base64,key2 base64`, values decoded as UTF-8.
#[derive(Debug, Default)]
pub(crate) struct Metadata(Vec<(String, String)>);

impl Metadata {
    /// Reads the request's `Upload-Metadata` (none: empty).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Self, TusError> {
        let Some(raw) = headers.get("Upload-Metadata") else {
            return Ok(Self::default());
        };
        let raw = raw
            .to_str()
            .map_err(|_| TusError::Header("Upload-Metadata is not ASCII".into()))?;
        raw.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .map_err(|_| {
                        TusError::Header(format!("Upload-Metadata: {key} is not base64"))
                    })?;
                let value = String::from_utf8(bytes).map_err(|_| {
                    TusError::Header(format!("Upload-Metadata: {key} is not UTF-8"))
                })?;
                Ok((key.to_owned(), value))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The value of `key`, if sent.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `Upload-Expires`: an HTTP date.
pub(crate) fn expires_header(expires: OffsetDateTime) -> String {
    let secs = u64::try_from(expires.unix_timestamp()).unwrap_or(0);
    HttpDate::from(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// An upload's URL: the creation request's own path and the id, so it holds under any
/// scope the routes are mounted in.
pub(crate) fn location(creation_path: &str, id: &impl std::fmt::Display) -> String {
    format!("{}/{id}", creation_path.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn metadata_decodes_pairs_and_bare_keys() {
        let m = Metadata::from_headers(&headers(&[(
            "upload-metadata",
            "filename YS5zYWZldGVuc29ycw==, is_private",
        )]))
        .unwrap();
        assert_eq!(m.get("filename"), Some("a.safetensors"));
        assert_eq!(m.get("is_private"), Some(""));
        assert_eq!(m.get("entity_type"), None);
        let bad = Metadata::from_headers(&headers(&[("upload-metadata", "filename !!!")]));
        assert!(matches!(bad, Err(TusError::Header(_))));
    }

    #[test]
    fn locations_follow_the_mount() {
        assert_eq!(
            location("/lora/api/v1/lora/uploads", &"ab"),
            "/lora/api/v1/lora/uploads/ab"
        );
        assert_eq!(
            location("/api/v1/lora/uploads/", &"ab"),
            "/api/v1/lora/uploads/ab"
        );
    }

    #[test]
    fn versions_other_than_1_0_0_are_refused() {
        assert!(require_version(&headers(&[("tus-resumable", "1.0.0")])).is_ok());
        assert!(require_version(&headers(&[("tus-resumable", "0.2.2")])).is_err());
        assert!(require_version(&HeaderMap::new()).is_err());
    }
}
