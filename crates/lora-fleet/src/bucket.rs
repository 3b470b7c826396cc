//! The bucket's operations, as fleet mode uses them, over `object_store`.
//!
//! Every write that gives an object its final name is conditional (`If-None-Match: *`),
//! so none can overwrite: a conditional copy ([`Bucket::create_copy`]) from a staging key
//! or from the bin, a conditional put of a small upload ([`Bucket::put_new`]), and a
//! conditional completion of a multipart upload streamed to its name
//! ([`Bucket::complete_new`], the one request `object_store` cannot send: it is presigned
//! by `object_store` and sent here). Deletes are the only other writes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lora_core::Sha256;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, GetOptions, MultipartId, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutPayload, RetryConfig, WriteMultipart,
};
use time::OffsetDateTime;
use tokio::io::AsyncReadExt;

use crate::{FleetConfig, FleetError};

/// The metadata key carrying an object's SHA-256 (`x-amz-meta-sha256`).
const SHA256: &str = "sha256";
/// Multipart part size: S3's minimum, 5 MiB (a 500 MiB upload is 100 parts).
const PART: usize = 5 << 20;
/// Parts in flight at once: the upload holds about (this + 1) × [`PART`], so a node's
/// memory stays flat whatever the file's size.
const PARTS_IN_FLIGHT: usize = 2;

/// Objects larger than this are downloaded as ranges, several in flight (boto3's
/// `download_file` does the same with 8 MiB ranges and 10 threads): one stream from S3 is
/// slower than the network and the disk together.
const RANGED_FROM: u64 = 16 << 20;
/// The size of one ranged GET.
const RANGE: u64 = 8 << 20;
/// Ranged GETs in flight at once: about this × [`RANGE`] of memory, whatever the size.
const RANGES_IN_FLIGHT: usize = 8;

/// An object as listed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listed {
    pub key: Path,
    pub size: u64,
    pub modified: OffsetDateTime,
    pub etag: Option<String>,
}

impl From<ObjectMeta> for Listed {
    fn from(meta: ObjectMeta) -> Self {
        let nanos = meta.last_modified.timestamp_nanos_opt().unwrap_or(0);
        Self {
            key: meta.location,
            size: meta.size,
            modified: OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            etag: meta.e_tag,
        }
    }
}

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

/// The bucket.
#[derive(Clone)]
pub(crate) struct Bucket {
    store: Arc<dyn ObjectStore>,
    parts: Arc<dyn MultipartStore>,
    /// Presigns the conditional completion, and sends it (S3 only; the in-memory store of
    /// tests has none, and falls back as a store without the feature does).
    signer: Option<(Arc<AmazonS3>, reqwest::Client)>,
    /// Test hook: multipart uploads started and not yet completed or aborted.
    #[cfg(test)]
    pub(crate) open_uploads: Arc<std::sync::atomic::AtomicI64>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("store", &self.store)
            .field("completes_conditionally", &self.signer.is_some())
            .finish_non_exhaustive()
    }
}

impl Bucket {
    /// An S3 client for `config`: bounded timeouts (a request never hangs past ~25 s) and a
    /// short retry budget, so an unreachable bucket is answered quickly.
    pub(crate) fn s3(config: &FleetConfig) -> Result<Self, FleetError> {
        // rustls needs its provider chosen once per process; `ring` keeps C crypto out.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_allow_http(config.allow_http)
            // How "copy unless the name is taken" is asked for: by default CopyObject with
            // `If-None-Match: *` (SeaweedFS, MinIO), which also copies the sha256
            // metadata; object_store's `multipart` mode (AWS) would drop it.
            .with_config(
                AmazonS3ConfigKey::CopyIfNotExists,
                &config.copy_if_not_exists,
            )
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(config.allow_http)
                    .with_connect_timeout(Duration::from_secs(3))
                    .with_timeout(Duration::from_secs(20)),
            )
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(5),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().map_err(|e| {
            // The cause ("No CA certificates were loaded from the system") sits deep in
            // the chain; an operator needs it, not "builder error".
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                reason.push_str(": ");
                reason.push_str(&cause.to_string());
                source = cause.source();
            }
            FleetError::Config(format!("the S3 client cannot be built: {reason}"))
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            // A completion assembles the whole object: on some stores that takes a while.
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| FleetError::Config(format!("the HTTP client cannot be built: {e}")))?;
        let store = Arc::new(store);
        Ok(Self {
            store: Arc::clone(&store) as Arc<dyn ObjectStore>,
            parts: Arc::clone(&store) as Arc<dyn MultipartStore>,
            signer: Some((store, http)),
            #[cfg(test)]
            open_uploads: Arc::default(),
        })
    }

    /// The in-memory store (tests): no conditional completion, as on a store without it.
    #[cfg(test)]
    pub(crate) fn over(store: Arc<object_store::memory::InMemory>) -> Self {
        Self {
            store: Arc::clone(&store) as Arc<dyn ObjectStore>,
            parts: store,
            signer: None,
            open_uploads: Arc::default(),
        }
    }

    /// Whether a multipart upload can be completed only if its key is free.
    pub(crate) fn completes_conditionally(&self) -> bool {
        self.signer.is_some()
    }

    /// Starts a multipart upload at `key`.
    pub(crate) async fn create_multipart(
        &self,
        key: &Path,
    ) -> Result<MultipartId, object_store::Error> {
        let id = self.parts.create_multipart(key).await?;
        #[cfg(test)]
        self.open_uploads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(id)
    }

    /// Sends part `index` (from 0) of the multipart upload `id`.
    pub(crate) async fn put_part(
        &self,
        key: &Path,
        id: &MultipartId,
        index: usize,
        bytes: PutPayload,
    ) -> Result<PartId, object_store::Error> {
        self.parts.put_part(key, id, index, bytes).await
    }

    /// Completes the multipart upload `id` whatever is at `key` (a staging key: ours).
    pub(crate) async fn complete(
        &self,
        key: &Path,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> Result<(), object_store::Error> {
        self.parts.complete_multipart(key, id, parts).await?;
        #[cfg(test)]
        self.open_uploads
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Abandons the multipart upload `id`: its parts are freed.
    pub(crate) async fn abort(
        &self,
        key: &Path,
        id: &MultipartId,
    ) -> Result<(), object_store::Error> {
        self.parts.abort_multipart(key, id).await?;
        #[cfg(test)]
        self.open_uploads
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

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

    /// Puts a small object at `key` with its SHA-256, only if `key` is free: `Ok(false)`
    /// when it is taken.
    pub(crate) async fn put_new(
        &self,
        key: &Path,
        bytes: PutPayload,
        sha256: Sha256,
    ) -> Result<bool, object_store::Error> {
        let options = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            attributes: sha_attribute(sha256),
            ..object_store::PutOptions::default()
        };
        match self.store.put_opts(key, bytes, options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Streams the file at `from` to `key` with a multipart upload, its SHA-256 as
    /// metadata. On failure the upload is aborted, leaving nothing.
    pub(crate) async fn upload_file(
        &self,
        from: &std::path::Path,
        key: &Path,
        sha256: Sha256,
    ) -> Result<(), object_store::Error> {
        let options = PutMultipartOptions {
            attributes: sha_attribute(sha256),
            ..PutMultipartOptions::default()
        };
        let upload = self.store.put_multipart_opts(key, options).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let result = async {
            let mut file = tokio::fs::File::open(from).await.map_err(generic)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).await.map_err(generic)?;
                if n == 0 {
                    break;
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.write(&buf[..n]);
            }
            Ok::<(), object_store::Error>(())
        }
        .await;
        match result {
            Ok(()) => writer.finish().await.map(|_| ()),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Copies `from` to `to` only if `to` does not exist: `Ok(false)` when it does.
    pub(crate) async fn create_copy(
        &self,
        from: &Path,
        to: &Path,
    ) -> Result<bool, object_store::Error> {
        match self.store.copy_if_not_exists(from, to).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes a small object only if `key` does not exist.
    pub(crate) async fn create_small(
        &self,
        key: &Path,
        bytes: Vec<u8>,
    ) -> Result<(), object_store::Error> {
        let options = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..object_store::PutOptions::default()
        };
        self.store
            .put_opts(key, bytes.into(), options)
            .await
            .map(|_| ())
    }

    /// Creates a small object only if `key` is free: its ETag, or `None` when taken.
    pub(crate) async fn create_tagged(
        &self,
        key: &Path,
        bytes: Vec<u8>,
    ) -> Result<Option<String>, object_store::Error> {
        let options = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..object_store::PutOptions::default()
        };
        match self.store.put_opts(key, bytes.into(), options).await {
            Ok(put) => self.etag_of(key, put.e_tag).await.map(Some),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A small object with its ETag; `None` when it does not exist.
    pub(crate) async fn get_tagged(
        &self,
        key: &Path,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, object_store::Error> {
        match self.store.get(key).await {
            Ok(got) => {
                let etag = got.meta.e_tag.clone();
                Ok(Some((got.bytes().await?.to_vec(), etag)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the small object at `key` only if it is still the version `etag`: the new
    /// ETag, or `None` when it changed or went.
    pub(crate) async fn replace_tagged(
        &self,
        key: &Path,
        bytes: Vec<u8>,
        etag: &str,
    ) -> Result<Option<String>, object_store::Error> {
        let options = object_store::PutOptions {
            mode: object_store::PutMode::Update(object_store::UpdateVersion {
                e_tag: Some(etag.to_owned()),
                version: None,
            }),
            ..object_store::PutOptions::default()
        };
        match self.store.put_opts(key, bytes.into(), options).await {
            Ok(put) => self.etag_of(key, put.e_tag).await.map(Some),
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The ETag a write answered, or (a store that answers none) the one a look finds.
    async fn etag_of(
        &self,
        key: &Path,
        answered: Option<String>,
    ) -> Result<String, object_store::Error> {
        if let Some(etag) = answered {
            return Ok(etag);
        }
        Ok(self
            .head(key)
            .await?
            .and_then(|(listed, _)| listed.etag)
            .unwrap_or_default())
    }

    /// Deletes `key` if it is still the version `etag` (a look, then the delete: what only
    /// its holder renews cannot change in between).
    pub(crate) async fn delete_tagged(
        &self,
        key: &Path,
        etag: &str,
    ) -> Result<(), object_store::Error> {
        match self.get_tagged(key).await? {
            Some((_, Some(current))) if current == etag => self.delete(key).await,
            _ => Ok(()),
        }
    }

    /// Writes a small object of this service's own (a sum), replacing what was there.
    pub(crate) async fn put_small(
        &self,
        key: &Path,
        bytes: Vec<u8>,
    ) -> Result<(), object_store::Error> {
        self.store.put(key, bytes.into()).await.map(|_| ())
    }

    /// Deletes `key`; a missing key is not an error.
    pub(crate) async fn delete(&self, key: &Path) -> Result<(), object_store::Error> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The object's size, time and SHA-256 metadata; `None` when it does not exist.
    pub(crate) async fn head(
        &self,
        key: &Path,
    ) -> Result<Option<(Listed, Option<Sha256>)>, object_store::Error> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.store.get_opts(key, options).await {
            Ok(got) => {
                let sha = got
                    .attributes
                    .get(&Attribute::Metadata(SHA256.into()))
                    .and_then(|v| Sha256::parse_hex(v.as_ref()).ok());
                Ok(Some((Listed::from(got.meta), sha)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The whole of a small object; `None` when it does not exist.
    pub(crate) async fn get_small(
        &self,
        key: &Path,
    ) -> Result<Option<Vec<u8>>, object_store::Error> {
        match self.store.get(key).await {
            Ok(got) => Ok(Some(got.bytes().await?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Streams `key` into `sink` in order; `Ok(false)` when it does not exist. A large
    /// object comes as [`RANGE`]-sized ranged GETs, [`RANGES_IN_FLIGHT`] at once, each
    /// pinned to the ETag the first look saw (an object replaced midway fails the
    /// download instead of mixing two versions); the sink still sees the bytes in order, so
    /// hashing and writing stay one sequential pass.
    pub(crate) async fn download(
        &self,
        key: &Path,
        mut sink: impl FnMut(bytes::Bytes) -> Result<(), lora_store::StoreError>,
    ) -> Result<bool, DownloadError> {
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let meta = match self.store.get_opts(key, head).await {
            Ok(got) => got.meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(DownloadError::Bucket(e)),
        };
        let pinned = |range: Option<std::ops::Range<u64>>| GetOptions {
            if_match: meta.e_tag.clone(),
            range: range.map(Into::into),
            ..GetOptions::default()
        };
        let gone = |e: object_store::Error| match e {
            object_store::Error::NotFound { .. } => Ok(false),
            e => Err(DownloadError::Bucket(e)),
        };
        if meta.size < RANGED_FROM {
            let got = match self.store.get_opts(key, pinned(None)).await {
                Ok(got) => got,
                Err(e) => return gone(e),
            };
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                sink(chunk.map_err(DownloadError::Bucket)?).map_err(DownloadError::Local)?;
            }
            return Ok(true);
        }
        let size = meta.size;
        let ranges = (0..size.div_ceil(RANGE)).map(|i| i * RANGE..((i + 1) * RANGE).min(size));
        let mut parts = futures_util::stream::iter(ranges)
            .map(|range| {
                let options = pinned(Some(range));
                async move { self.store.get_opts(key, options).await?.bytes().await }
            })
            .buffered(RANGES_IN_FLIGHT);
        while let Some(part) = parts.next().await {
            match part {
                Ok(bytes) => sink(bytes).map_err(DownloadError::Local)?,
                Err(e) => return gone(e),
            }
        }
        Ok(true)
    }

    /// Every object under `prefix`.
    pub(crate) async fn list(&self, prefix: &Path) -> Result<Vec<Listed>, object_store::Error> {
        let mut out = Vec::new();
        let mut stream = self.store.list(Some(prefix));
        while let Some(meta) = stream.next().await {
            out.push(Listed::from(meta?));
        }
        Ok(out)
    }
}

/// Why a download failed: the bucket or the local disk.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DownloadError {
    #[error(transparent)]
    Bucket(object_store::Error),
    #[error(transparent)]
    Local(lora_store::StoreError),
}

/// The `sha256` metadata attribute.
fn sha_attribute(sha256: Sha256) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(
        Attribute::Metadata(SHA256.into()),
        AttributeValue::from(sha256.to_hex()),
    );
    attributes
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

fn generic_http(e: reqwest::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3",
        source: Box::new(e),
    }
}

fn generic(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "local file",
        source: Box::new(e),
    }
}
