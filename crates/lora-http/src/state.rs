use std::sync::Arc;

use lora_auth::Verifier;
use lora_store::{Repository, Store};

use crate::ContentCheck;

/// Default upload limit: 500 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 524_288_000;

/// Room allowed for multipart boundaries and the small form fields on top of the file.
pub const MULTIPART_ALLOWANCE: u64 = 1 << 20;

/// Everything the routes share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) repository: Arc<dyn Repository>,
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) max_upload_bytes: u64,
    pub(crate) content_check: Arc<dyn ContentCheck>,
    pub(crate) bin_retention: Option<std::time::Duration>,
    pub(crate) body_idle_timeout: std::time::Duration,
    pub(crate) uploads: Arc<crate::load::UploadLoad>,
    pub(crate) upload_expiry: std::time::Duration,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    pub(crate) metrics_token: Option<Arc<str>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("data_dir", &self.store().layout().data_dir())
            .field("repository", &self.repository)
            .field("verifier", &self.verifier)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over an open store and a verifier, with the default upload limit and
    /// [`crate::InspectCheck`] (the contract's content validation, any base model).
    pub fn new(store: Arc<Store>, verifier: Arc<Verifier>) -> Self {
        Self::over(store, verifier)
    }

    /// State over any [`Repository`]: a [`Store`], or fleet mode's bucket with its local
    /// replica.
    pub fn over(repository: Arc<dyn Repository>, verifier: Arc<Verifier>) -> Self {
        Self {
            repository,
            verifier,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            content_check: Arc::new(crate::InspectCheck::default()),
            bin_retention: None,
            body_idle_timeout: crate::DEFAULT_BODY_IDLE_TIMEOUT,
            uploads: crate::load::UploadLoad::new(crate::DEFAULT_MAX_CONCURRENT_UPLOADS),
            upload_expiry: crate::routes::tus::DEFAULT_UPLOAD_EXPIRY,
            metrics: Arc::new(crate::metrics::Metrics::new()),
            metrics_token: None,
        }
    }

    /// Sets the largest accepted file, in bytes.
    #[must_use]
    pub fn with_max_upload_bytes(mut self, limit: u64) -> Self {
        self.max_upload_bytes = limit;
        self
    }

    /// Sets the check run on every staged upload before it is published.
    #[must_use]
    pub fn with_content_check(mut self, check: Arc<dyn ContentCheck>) -> Self {
        self.content_check = check;
        self
    }

    /// Purges bin entries older than `retention` at start and periodically (`None`: keep
    /// forever). [`crate::run`] starts the task; a service that mounts
    /// [`crate::configure`] starts it with [`crate::spawn_retention`].
    #[must_use]
    pub fn with_bin_retention(mut self, retention: Option<std::time::Duration>) -> Self {
        self.bin_retention = retention;
        self
    }

    /// Drops a request whose body sends nothing for `idle` (408; the upload's staging
    /// file is removed). The clock restarts with every chunk, so slow but steady clients
    /// are never cut. Default [`crate::DEFAULT_BODY_IDLE_TIMEOUT`].
    #[must_use]
    pub fn with_body_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.body_idle_timeout = idle;
        self
    }

    /// Caps the uploads in flight (at least 1): past it a new upload is answered 503 with
    /// `Retry-After` from its headers, before its body is read. Default
    /// [`crate::DEFAULT_MAX_CONCURRENT_UPLOADS`].
    #[must_use]
    pub fn with_max_concurrent_uploads(mut self, cap: usize) -> Self {
        self.uploads = crate::load::UploadLoad::new(cap);
        self
    }

    /// How long a resumable (tus) upload lives (`LORA_UPLOAD_EXPIRY_SECS`); expired
    /// partial uploads are removed. Default one day.
    #[must_use]
    pub fn with_upload_expiry(mut self, expiry: std::time::Duration) -> Self {
        self.upload_expiry = expiry;
        self
    }

    /// Requires `Authorization: Bearer {token}` on `/metrics` (`LORA_METRICS_TOKEN`);
    /// `None` leaves it open (for a scraper on a private network).
    #[must_use]
    pub fn with_metrics_token(mut self, token: Option<String>) -> Self {
        self.metrics_token = token.map(Into::into);
        self
    }

    /// The local store (in fleet mode, the node's replica).
    pub fn store(&self) -> &Store {
        self.repository.store()
    }

    /// Where the files live: every mutation and listing goes through it.
    pub fn repository(&self) -> &Arc<dyn Repository> {
        &self.repository
    }

    /// The token verifier.
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    /// The largest accepted file, in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }
}
