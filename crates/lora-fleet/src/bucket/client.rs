//! The bucket and how it is reached: the S3 client (bounded timeouts, a short retry
//! budget), or the in-memory store of tests.

use std::sync::Arc;
use std::time::Duration;

use lora_core::Sha256;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, ObjectMeta, ObjectStore, RetryConfig,
};
use time::OffsetDateTime;

use crate::{FleetConfig, FleetError};

/// The metadata key carrying an object's SHA-256 (`x-amz-meta-sha256`).
pub(super) const SHA256: &str = "sha256";

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
#[derive(Clone)]
pub(crate) struct Bucket {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) parts: Arc<dyn MultipartStore>,
    /// Presigns the conditional completion, and sends it (S3 only; the in-memory store of
    /// tests has none, and falls back as a store without the feature does).
    pub(super) signer: Option<(Arc<AmazonS3>, reqwest::Client)>,
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
}

/// The `sha256` metadata attribute.
pub(super) fn sha_attribute(sha256: Sha256) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(
        Attribute::Metadata(SHA256.into()),
        AttributeValue::from(sha256.to_hex()),
    );
    attributes
}

pub(super) fn generic_http(e: reqwest::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3",
        source: Box::new(e),
    }
}

pub(super) fn generic(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "local file",
        source: Box::new(e),
    }
}
