//! Where an install fetches from: an `https://` URL, a Hugging Face file
//! (`hf://{owner}/{repo}[@{revision}]/{path}`, or its `resolve`/`blob` page), or a Civitai
//! model-version download — parsed once, so the rest only sees a [`Source`].

use reqwest::Url;

use super::error::InstallError;
use crate::extract::disposition::percent_decode;

/// A place to fetch a file from, with what is known of its publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// Any URL: no token, no publisher's hash.
    Url(Url),
    /// A file in a Hugging Face repository: the `resolve` URL, whose first answer carries
    /// the file's SHA-256 (`X-Linked-Etag`) for LFS files.
    HuggingFace(Url),
    /// A Civitai model version's download, and the version (its API lists the files'
    /// hashes).
    Civitai {
        /// The download URL.
        url: Url,
        /// The model version id.
        version: u64,
    },
}

/// The publishers' endpoints: where `hf://` resolves and which hosts are Hugging Face's
/// and Civitai's (their tokens go there and nowhere else).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Hugging Face (`LORA_HF_ENDPOINT`, default `https://huggingface.co`).
    pub huggingface: Url,
    /// Civitai (`LORA_CIVITAI_ENDPOINT`, default `https://civitai.com`).
    pub civitai: Url,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            huggingface: Url::parse("https://huggingface.co").expect("a valid URL"),
            civitai: Url::parse("https://civitai.com").expect("a valid URL"),
        }
    }
}

/// Whether `a` and `b` are the same origin: scheme, host and port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

impl Source {
    /// Parses what an install request names.
    ///
    /// # Errors
    ///
    /// [`InstallError::BadSource`] for anything that is not an absolute `http(s)` URL or
    /// a well-formed `hf://` reference.
    pub(crate) fn parse(raw: &str, endpoints: &Endpoints) -> Result<Self, InstallError> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("hf://") {
            return Self::hugging_face(rest, endpoints);
        }
        let url = Url::parse(raw).map_err(|e| bad(format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(bad(format!(
                "the scheme {}:// is not fetched (https://, or hf://)",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("the URL names no host".into()));
        }
        if same_origin(&url, &endpoints.huggingface) {
            return Ok(Self::HuggingFace(hf_resolve_page(url)));
        }
        if same_origin(&url, &endpoints.civitai)
            && let Some(version) = civitai_version(&url)
        {
            return Ok(Self::Civitai { url, version });
        }
        Ok(Self::Url(url))
    }

    /// `owner/repo[@revision]/path/to/file` → the `resolve` URL.
    fn hugging_face(rest: &str, endpoints: &Endpoints) -> Result<Self, InstallError> {
        let mut parts = rest.splitn(3, '/');
        let (Some(owner), Some(repo), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(
                "an hf:// reference is hf://{owner}/{repo}[@{revision}]/{path}".into(),
            ));
        };
        let (repo, revision) = repo.split_once('@').unwrap_or((repo, "main"));
        let clean = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains(['?', '#']);
        if !clean(owner)
            || !clean(repo)
            || !clean(revision)
            || path.split('/').any(|segment| !clean(segment))
        {
            return Err(bad(format!("hf://{rest} is not a file in a repository")));
        }
        let mut url = endpoints.huggingface.clone();
        url.path_segments_mut()
            .map_err(|()| bad("the Hugging Face endpoint cannot hold a path".into()))?
            .pop_if_empty()
            .extend([owner, repo, "resolve", revision])
            .extend(path.split('/'));
        Ok(Self::HuggingFace(url))
    }

    /// The first URL to request.
    pub(crate) fn url(&self) -> &Url {
        match self {
            Source::Url(url) | Source::HuggingFace(url) | Source::Civitai { url, .. } => url,
        }
    }

    /// The file name the URL itself suggests: its last path segment, decoded (as it
    /// stands when it does not decode).
    pub(crate) fn file_name(&self) -> Option<String> {
        let segment = self.url().path_segments()?.next_back()?;
        let decoded = percent_decode(segment).unwrap_or_else(|| segment.to_owned());
        (!decoded.is_empty()).then_some(decoded)
    }
}

/// A Hugging Face page for a file (`…/blob/{rev}/{path}`, what a browser shows) becomes
/// its download (`…/resolve/{rev}/{path}`); other URLs stay as they are.
fn hf_resolve_page(mut url: Url) -> Url {
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.map(str::to_owned).collect())
        .unwrap_or_default();
    if segments.len() > 4 && segments[2] == "blob" {
        let mut fixed = segments;
        fixed[2] = "resolve".to_owned();
        if let Ok(mut path) = url.path_segments_mut() {
            path.clear().extend(fixed.iter());
        }
    }
    url
}

/// `/api/download/models/{id}` → the version id.
fn civitai_version(url: &Url) -> Option<u64> {
    let mut segments = url.path_segments()?;
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("api"), Some("download"), Some("models"), Some(id)) => id.parse().ok(),
        _ => None,
    }
}

fn bad(reason: String) -> InstallError {
    InstallError::BadSource { reason }
}

/// The URL as jobs and logs show it: no user name or password, and no `token` query value
/// (a Civitai link copied with its key).
pub(crate) fn redacted(raw: &str) -> String {
    let Ok(mut url) = Url::parse(raw.trim()) else {
        return raw.trim().to_owned();
    };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let secret = matches!(
                    k.to_ascii_lowercase().as_str(),
                    "token" | "api_key" | "apikey" | "access_token"
                );
                (
                    k.into_owned(),
                    if secret {
                        "REDACTED".into()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints::default()
    }

    #[test]
    fn hf_references_resolve_to_the_resolve_url() {
        let source = Source::parse(
            "hf://alice/inks@v2/loras/ink wash.safetensors",
            &endpoints(),
        )
        .unwrap();
        assert_eq!(
            source.url().as_str(),
            "https://huggingface.co/alice/inks/resolve/v2/loras/ink%20wash.safetensors"
        );
        assert!(matches!(source, Source::HuggingFace(_)));
        assert_eq!(source.file_name().as_deref(), Some("ink wash.safetensors"));
        let main = Source::parse("hf://alice/inks/a.safetensors", &endpoints()).unwrap();
        assert_eq!(
            main.url().as_str(),
            "https://huggingface.co/alice/inks/resolve/main/a.safetensors"
        );
    }

    #[test]
    fn hf_pages_become_downloads_and_bad_references_are_refused() {
        let page = Source::parse(
            "https://huggingface.co/alice/inks/blob/main/a.safetensors",
            &endpoints(),
        )
        .unwrap();
        assert_eq!(page.url().path(), "/alice/inks/resolve/main/a.safetensors");
        for bad in [
            "hf://alice",
            "hf://alice/inks",
            "hf://alice/inks/",
            "hf://alice/../x.safetensors",
            "hf://alice/inks@/a.safetensors",
        ] {
            assert!(Source::parse(bad, &endpoints()).is_err(), "{bad}");
        }
    }

    #[test]
    fn civitai_downloads_are_known_by_their_version() {
        let source = Source::parse(
            "https://civitai.com/api/download/models/128713?type=Model",
            &endpoints(),
        )
        .unwrap();
        assert!(matches!(
            source,
            Source::Civitai {
                version: 128_713,
                ..
            }
        ));
        // Another path on Civitai is a plain URL.
        let page = Source::parse("https://civitai.com/models/1/x", &endpoints()).unwrap();
        assert!(matches!(page, Source::Url(_)));
    }

    #[test]
    fn only_http_urls_with_a_host_are_sources() {
        for bad in [
            "ftp://example.com/a.safetensors",
            "file:///etc/passwd",
            "not a url",
            "",
        ] {
            assert!(Source::parse(bad, &endpoints()).is_err(), "{bad}");
        }
        assert!(Source::parse("http://example.com/a.pt", &endpoints()).is_ok());
    }

    #[test]
    fn the_shown_url_carries_no_secret() {
        assert_eq!(
            redacted("https://user:pw@civitai.com/api/download/models/1?token=abc&type=Model"),
            "https://civitai.com/api/download/models/1?token=REDACTED&type=Model"
        );
        assert_eq!(redacted("hf://a/b/c.pt"), "hf://a/b/c.pt");
    }
}
