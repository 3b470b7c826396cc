//! The requests `object_store` cannot send: a conditional `CompleteMultipartUpload` and
//! `ListMultipartUploads`. `object_store` presigns them (its credentials, whatever their
//! source), reqwest sends them, quick-xml reads the answers.

use std::time::Duration;

use object_store::MultipartId;
use object_store::multipart::PartId;
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
use time::OffsetDateTime;

use super::client::{Bucket, generic_http};

/// How a conditional completion ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Completion {
    /// The object is live under its key, with this ETag.
    Done { etag: Option<String> },
    /// The key was taken (412): the multipart upload is still open.
    Taken,
    /// The store cannot complete conditionally (no signer, or it refused the header).
    Unsupported(String),
}

impl Bucket {
    /// Completes the multipart upload `id` only if `key` is free: one
    /// `CompleteMultipartUpload` with `If-None-Match: *`, presigned by `object_store` (its
    /// credentials, whatever their source) and sent here, as `object_store` has no
    /// conditional completion of its own.
    pub(crate) async fn complete_new(
        &self,
        key: &Path,
        id: &MultipartId,
        parts: &[PartId],
    ) -> Result<Completion, object_store::Error> {
        let Some((signer, http)) = &self.signer else {
            return Ok(Completion::Unsupported("no request signer".into()));
        };
        let options = SignedUrlOptions::new()
            .with_query([("uploadId", id.as_str())])
            .with_signed_header(
                reqwest::header::IF_NONE_MATCH,
                object_store::HeaderValue::from_static("*"),
            );
        let url = signer
            .signed_url_opts(
                reqwest::Method::POST,
                key,
                Duration::from_secs(300),
                &options,
            )
            .await?;
        let body = quick_xml::se::to_string(&CompleteRequest {
            parts: parts
                .iter()
                .enumerate()
                .map(|(i, part)| CompletePart {
                    number: i + 1,
                    etag: part.content_id.clone(),
                })
                .collect(),
        })
        .map_err(|e| object_store::Error::Generic {
            store: "S3",
            source: Box::new(e),
        })?;
        let response = http
            .post(url)
            .header(reqwest::header::IF_NONE_MATCH, "*")
            .body(body)
            .send()
            .await
            .map_err(generic_http)?;
        let status = response.status();
        let text = response.text().await.map_err(generic_http)?;
        // S3 may answer 200 and put the error in the body (a completion that failed late).
        let refusal = quick_xml::de::from_str::<S3Error>(&text).ok();
        #[cfg(test)]
        if status.is_success() && refusal.is_none() {
            self.open_uploads
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
        match (status.as_u16(), refusal.as_ref().map(|e| e.code.as_str())) {
            (412, _) | (_, Some("PreconditionFailed")) => Ok(Completion::Taken),
            (200, None) => Ok(Completion::Done {
                etag: quick_xml::de::from_str::<CompleteResult>(&text)
                    .ok()
                    .and_then(|r| r.etag),
            }),
            (400 | 501, Some("NotImplemented" | "InvalidArgument" | "InvalidRequest"))
            | (501, _) => Ok(Completion::Unsupported(format!("{status}: {text}"))),
            _ => Err(object_store::Error::Generic {
                store: "S3",
                source: format!("conditional CompleteMultipartUpload answered {status}: {text}")
                    .into(),
            }),
        }
    }

    /// The multipart uploads under `prefix` that were started and neither completed nor
    /// aborted (`ListMultipartUploads`, presigned like the conditional completion); none
    /// on a store without a signer.
    pub(crate) async fn open_multiparts(
        &self,
        prefix: &Path,
    ) -> Result<Vec<OpenMultipart>, object_store::Error> {
        let Some((signer, http)) = &self.signer else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        // Pages of up to 1,000; a hundred of them is more than any fleet leaves.
        for _ in 0..100 {
            let mut query = vec![
                ("uploads".to_owned(), String::new()),
                (
                    "prefix".to_owned(),
                    if prefix.as_ref().is_empty() {
                        String::new()
                    } else {
                        format!("{prefix}/")
                    },
                ),
            ];
            if let Some((key, id)) = &markers {
                query.push(("key-marker".into(), key.clone()));
                query.push(("upload-id-marker".into(), id.clone()));
            }
            // The bucket itself is the resource: an empty path.
            let url = signer
                .signed_url_opts(
                    reqwest::Method::GET,
                    &Path::default(),
                    Duration::from_secs(300),
                    &SignedUrlOptions::new().with_query(query),
                )
                .await?;
            let response = http.get(url).send().await.map_err(generic_http)?;
            let status = response.status();
            let text = response.text().await.map_err(generic_http)?;
            if !status.is_success() {
                return Err(object_store::Error::Generic {
                    store: "S3",
                    source: format!("ListMultipartUploads answered {status}: {text}").into(),
                });
            }
            let page = parse_open_multiparts(&text)?;
            out.extend(page.uploads);
            match page.next {
                Some(next) => markers = Some(next),
                None => break,
            }
        }
        Ok(out)
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenMultipart {
    pub key: Path,
    pub id: MultipartId,
    pub initiated: OffsetDateTime,
}

/// One page of `ListMultipartUploads`, and where the next begins.
#[derive(Debug)]
pub(crate) struct OpenPage {
    pub uploads: Vec<OpenMultipart>,
    pub next: Option<(String, String)>,
}

#[derive(serde::Deserialize)]
#[serde(rename = "ListMultipartUploadsResult")]
struct ListUploadsResult {
    #[serde(rename = "Upload", default)]
    uploads: Vec<ListedUpload>,
    #[serde(rename = "IsTruncated", default)]
    truncated: bool,
    #[serde(rename = "NextKeyMarker", default)]
    next_key: String,
    #[serde(rename = "NextUploadIdMarker", default)]
    next_id: String,
}

#[derive(serde::Deserialize)]
struct ListedUpload {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "UploadId")]
    id: String,
    #[serde(rename = "Initiated")]
    initiated: String,
}

/// Reads a `ListMultipartUploads` answer; an upload whose start time cannot be read is
/// taken as started now (never swept for its age).
pub(crate) fn parse_open_multiparts(xml: &str) -> Result<OpenPage, object_store::Error> {
    let result: ListUploadsResult =
        quick_xml::de::from_str(xml).map_err(|e| object_store::Error::Generic {
            store: "S3",
            source: Box::new(e),
        })?;
    let uploads = result
        .uploads
        .into_iter()
        .map(|u| OpenMultipart {
            key: Path::from(u.key),
            id: u.id,
            initiated: OffsetDateTime::parse(
                &u.initiated,
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap_or_else(|_| OffsetDateTime::now_utc()),
        })
        .collect();
    let next = (result.truncated && !result.next_key.is_empty())
        .then_some((result.next_key, result.next_id));
    Ok(OpenPage { uploads, next })
}

/// The body of `CompleteMultipartUpload`.
#[derive(serde::Serialize)]
#[serde(rename = "CompleteMultipartUpload")]
struct CompleteRequest {
    #[serde(rename = "Part")]
    parts: Vec<CompletePart>,
}

#[derive(serde::Serialize)]
struct CompletePart {
    #[serde(rename = "PartNumber")]
    number: usize,
    #[serde(rename = "ETag")]
    etag: String,
}

/// What a completion answers.
#[derive(serde::Deserialize)]
#[serde(rename = "CompleteMultipartUploadResult")]
struct CompleteResult {
    #[serde(rename = "ETag")]
    etag: Option<String>,
}

/// An S3 error body.
#[derive(serde::Deserialize)]
#[serde(rename = "Error")]
struct S3Error {
    #[serde(rename = "Code")]
    code: String,
}
