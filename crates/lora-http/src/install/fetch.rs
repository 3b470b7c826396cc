//! One request for a file's bytes: redirects followed by hand (each hop checked by the
//! guard, tokens only for their own origin, the publisher's hash read from the hop that
//! carries it), `Range` and `If-Range` when bytes are kept already.

use std::sync::Arc;
use std::time::Duration;

use lora_core::Sha256;
use reqwest::header::{self, HeaderMap};
use reqwest::{Response, StatusCode, Url};

use super::error::InstallError;
use super::guard::{Guard, GuardedResolver};
use super::source::{Endpoints, same_origin};
use crate::extract::disposition;

/// Hops followed before a request gives up.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Why a request did not give bytes.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Trying again cannot help (a refused address, 404, 401, a bad name): the job fails.
    Permanent(String),
    /// A cut connection, a timeout, a 5xx: the job tries again, from what it kept.
    Transient(String),
    /// The kept bytes cannot be continued (the file changed, the range was refused): the
    /// job starts again from zero.
    Restart(String),
}

impl From<InstallError> for Failure {
    fn from(e: InstallError) -> Self {
        match e {
            InstallError::Fetch { reason } => Failure::Transient(reason),
            other => Failure::Permanent(other.to_string()),
        }
    }
}

/// The tokens an install may send, each only to its own publisher's origin.
#[derive(Clone, Default)]
pub struct Tokens {
    /// `LORA_HF_TOKEN`.
    pub huggingface: Option<String>,
    /// `LORA_CIVITAI_TOKEN`.
    pub civitai: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |t: &Option<String>| if t.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Tokens")
            .field("huggingface", &shown(&self.huggingface))
            .field("civitai", &shown(&self.civitai))
            .finish()
    }
}

/// A response whose body is the file (or its rest), and what its headers said.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) response: Response,
    /// Where the body's first byte lies in the file: the kept length for a 206, else 0.
    pub(crate) start: u64,
    /// The whole file's size, when the source said it.
    pub(crate) total: Option<u64>,
    /// A strong `ETag`, else `Last-Modified`.
    pub(crate) validator: Option<String>,
    /// The `Content-Disposition` file name.
    pub(crate) disposition_name: Option<String>,
    /// The SHA-256 Hugging Face gave for the file (`X-Linked-Etag` on its own origin).
    pub(crate) linked_sha256: Option<Sha256>,
}

/// The HTTP client of installs.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    pub(crate) guard: Arc<Guard>,
    pub(crate) endpoints: Endpoints,
    tokens: Tokens,
}

impl Fetcher {
    /// A client that follows no redirect itself, uses no proxy, and connects only to
    /// addresses `guard` allows; `idle` bounds every read.
    pub(crate) fn new(
        guard: Guard,
        endpoints: Endpoints,
        tokens: Tokens,
        idle: Duration,
    ) -> Result<Self, reqwest::Error> {
        // rustls needs its provider chosen once per process; `ring` keeps C crypto out.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let guard = Arc::new(guard);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(Arc::clone(&guard))))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(idle)
            .user_agent(concat!("lora-server/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            guard,
            endpoints,
            tokens,
        })
    }

    /// The token for `url`'s origin, if it is a publisher's and one is set.
    fn token_for(&self, url: &Url) -> Option<&str> {
        if same_origin(url, &self.endpoints.huggingface) {
            self.tokens.huggingface.as_deref()
        } else if same_origin(url, &self.endpoints.civitai) {
            self.tokens.civitai.as_deref()
        } else {
            None
        }
    }

    /// A JSON document from a publisher's API (Civitai's model versions), with its token.
    pub(crate) async fn json(&self, url: &Url) -> Result<serde_json::Value, Failure> {
        // What the URL says; the addresses its name resolves to are the resolver's to check.
        self.guard.check_url(url)?;
        let mut request = self.client.get(url.clone());
        if let Some(token) = self.token_for(url) {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(transient)?;
        if !response.status().is_success() {
            return Err(Failure::Transient(format!(
                "{} answered {}",
                host(url),
                response.status()
            )));
        }
        let bytes = response.bytes().await.map_err(transient)?;
        serde_json::from_slice(&bytes).map_err(|e| Failure::Transient(e.to_string()))
    }

    /// Requests `url` from byte `from` (everything when 0), following redirects.
    pub(crate) async fn open(
        &self,
        url: &Url,
        from: u64,
        validator: Option<&str>,
    ) -> Result<Opened, Failure> {
        let mut url = url.clone();
        let mut linked_sha256 = None;
        for hop in 0..=MAX_REDIRECTS {
            self.guard.check_url(&url)?;
            let mut request = self.client.get(url.clone());
            if from > 0 {
                request = request.header(header::RANGE, format!("bytes={from}-"));
                if let Some(validator) = validator {
                    request = request.header(header::IF_RANGE, validator);
                }
            }
            if let Some(token) = self.token_for(&url) {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.map_err(transient)?;
            if same_origin(&url, &self.endpoints.huggingface) {
                linked_sha256 = linked_sha256.or_else(|| linked(response.headers()));
            }
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Failure::Permanent(format!("{} redirected without a Location", host(&url)))
                    })?;
                let next = url.join(location).map_err(|e| {
                    Failure::Permanent(format!("{} redirected to a bad URL ({e})", host(&url)))
                })?;
                if hop == MAX_REDIRECTS {
                    return Err(Failure::Permanent(format!(
                        "more than {MAX_REDIRECTS} redirects"
                    )));
                }
                url = next;
                continue;
            }
            return opened(response, &url, from, linked_sha256);
        }
        Err(Failure::Permanent(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }
}

/// The answer that should carry the file, checked.
fn opened(
    response: Response,
    url: &Url,
    from: u64,
    linked_sha256: Option<Sha256>,
) -> Result<Opened, Failure> {
    let status = response.status();
    let headers = response.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    // If-Range takes no weak validator (RFC 9110 §13.1.5): a weak ETag would make every
    // resume start over.
    let validator = text(header::ETAG)
        .filter(|etag| !etag.trim_start().starts_with("W/"))
        .or_else(|| text(header::LAST_MODIFIED))
        .map(str::to_owned);
    let disposition_name = text(header::CONTENT_DISPOSITION)
        .and_then(|raw| disposition::parse(raw.as_bytes()).filename)
        .filter(|name| !name.is_empty());
    let length = response.content_length();
    let (start, total) = match status {
        StatusCode::OK => (0, length),
        StatusCode::PARTIAL_CONTENT => {
            let range = text(header::CONTENT_RANGE).and_then(content_range);
            match range {
                Some((start, total)) if start == from => (start, total),
                _ => {
                    return Err(Failure::Restart(format!(
                        "{} answered a range other than the one asked for",
                        host(url)
                    )));
                }
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            return Err(Failure::Restart(format!(
                "{} refused the range from byte {from}",
                host(url)
            )));
        }
        s if s == StatusCode::REQUEST_TIMEOUT
            || s == StatusCode::TOO_MANY_REQUESTS
            || s.is_server_error() =>
        {
            return Err(Failure::Transient(format!("{} answered {s}", host(url))));
        }
        s if s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN => {
            return Err(Failure::Permanent(format!(
                "{} answered {s}: the file needs a token (LORA_HF_TOKEN, LORA_CIVITAI_TOKEN) or is not shared",
                host(url)
            )));
        }
        s => return Err(Failure::Permanent(format!("{} answered {s}", host(url)))),
    };
    Ok(Opened {
        response,
        start,
        total,
        validator,
        disposition_name,
        linked_sha256,
    })
}

fn host(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_owned()
}

/// A request that failed before an answer: the guard's refusal (from the resolver, at
/// connection time) is final and said as such; anything else (a timeout, a reset, a name
/// that does not resolve) may pass, and is said with its causes, without the URL's query.
fn transient(e: reqwest::Error) -> Failure {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        if let Some(refusal @ InstallError::Refused { .. }) = cause.downcast_ref::<InstallError>() {
            return Failure::Permanent(refusal.to_string());
        }
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::Transient(text)
}

/// `X-Linked-Etag: "…64 hex…"` (Hugging Face's LFS files): the file's SHA-256.
fn linked(headers: &HeaderMap) -> Option<Sha256> {
    let raw = headers.get("x-linked-etag")?.to_str().ok()?;
    let hex = raw.trim().trim_start_matches("W/").trim_matches('"');
    Sha256::parse_hex(hex).ok()
}

/// `bytes 100-199/1000` → (100, Some(1000)); `bytes 100-199/*` → (100, None).
fn content_range(raw: &str) -> Option<(u64, Option<u64>)> {
    let rest = raw.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse().ok()?),
    };
    Some((start.trim().parse().ok()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_and_linked_etags_are_read() {
        assert_eq!(content_range("bytes 100-199/1000"), Some((100, Some(1000))));
        assert_eq!(content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(content_range("items 1-2/3"), None);
        let mut headers = HeaderMap::new();
        let hex = "a".repeat(64);
        headers.insert("x-linked-etag", format!("\"{hex}\"").parse().unwrap());
        assert_eq!(linked(&headers).map(|s| s.to_hex()), Some(hex));
        headers.insert("x-linked-etag", "\"a1b2\"".parse().unwrap());
        assert_eq!(linked(&headers), None);
    }

    #[test]
    fn tokens_never_show_in_debug() {
        let tokens = Tokens {
            huggingface: Some("hf_secret".into()),
            civitai: None,
        };
        let shown = format!("{tokens:?}");
        assert!(
            !shown.contains("hf_secret") && shown.contains("<set>"),
            "{shown}"
        );
    }
}
