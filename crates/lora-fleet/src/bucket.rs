//! The bucket's operations, as fleet mode uses them, over `object_store`.
//!
//! Only three kinds of writes ever touch a final key, and none can overwrite: a
//! conditional copy (`If-None-Match: *`, [`Bucket::create_copy`]) from a staging key or
//! from the bin, and deletes. Uploads stream to a staging key with a multipart upload (a
//! multipart upload cannot be conditional), which is then copied to its name.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lora_core::Sha256;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, GetOptions, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, RetryConfig, WriteMultipart,
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

/// The bucket.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    store: Arc<dyn ObjectStore>,
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
        Ok(Self {
            store: Arc::new(store),
        })
    }

    /// Any `object_store` backend (tests use the in-memory one).
    #[cfg(test)]
    pub(crate) fn over(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// Streams the file at `from` to `key` with a multipart upload, its SHA-256 as
    /// metadata. On failure the upload is aborted, leaving nothing.
    pub(crate) async fn upload_file(
        &self,
        from: &std::path::Path,
        key: &Path,
        sha256: Sha256,
    ) -> Result<(), object_store::Error> {
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::Metadata(SHA256.into()),
            AttributeValue::from(sha256.to_hex()),
        );
        let options = PutMultipartOptions {
            attributes,
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

fn generic(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "local file",
        source: Box::new(e),
    }
}
