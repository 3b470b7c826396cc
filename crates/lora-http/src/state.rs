use std::sync::Arc;

use lora_auth::Verifier;
use lora_store::{Repository, Store, Uploads};

use lora_core::{Clock, SystemClock};

use crate::ContentCheck;
use crate::catalogue::Catalogue;
use crate::events::Events;
use crate::ingest::Ingest;
use crate::ingest::load::UploadLoad;
use crate::install::{InstallConfig, Installs};
use crate::observe::metrics::Metrics;

/// Default upload limit: 500 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 524_288_000;

/// Longest lease `POST /api/v1/lora/ensure` may take: a day.
pub const MAX_LEASE_SECS: u64 = 86_400;
/// The lease an ensure takes when it names none (`LORA_REPLICA_LEASE_SECS`): long enough
/// for a pipeline to open the file.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// Room allowed for multipart boundaries and the small form fields on top of the file.
pub const MULTIPART_ALLOWANCE: u64 = 1 << 20;

/// Everything the routes share. Cheap to clone.
///
/// It holds its parts, each owned by the code that uses it: the repository, the token
/// verifier, the ingest path every upload takes, the request limits, and what operators
/// read (metrics).
#[derive(Clone)]
pub struct AppState {
    pub(crate) local: Arc<Store>,
    pub(crate) repository: Arc<dyn Repository>,
    /// Where resumable uploads are kept (the repository's).
    pub(crate) uploads: Arc<dyn Uploads>,
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) ingest: Ingest,
    pub(crate) limits: Limits,
    pub(crate) bin_retention: Option<std::time::Duration>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) metrics_token: Option<Arc<str>>,
    /// The catalogue (`None` when its index cannot be opened).
    pub(crate) catalogue: Option<Arc<Catalogue>>,
    /// The changes subscribers follow (`GET /api/v1/events`).
    pub(crate) events: Arc<Events>,
    /// How installs from a URL behave.
    pub(crate) install_config: InstallConfig,
    /// Installs from a URL, opened at first use with the settings the builder ended with
    /// (`None` inside when their folder cannot be opened: the routes 503).
    pub(crate) installs: Arc<std::sync::OnceLock<Option<Arc<Installs>>>>,
}

/// What a request may send, and for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The largest accepted file, in bytes.
    pub(crate) max_upload_bytes: u64,
    /// How long a body may send nothing.
    pub(crate) body_idle_timeout: std::time::Duration,
    /// How long a resumable upload lives.
    pub(crate) upload_expiry: std::time::Duration,
    /// The lease an ensure takes when it names none.
    pub(crate) lease: std::time::Duration,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("data_dir", &self.store().layout().data_dir())
            .field("repository", &self.repository)
            .field("verifier", &self.verifier)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over an open store and a verifier, with the default upload limit and
    /// [`crate::InspectCheck`] (the contract's content validation, any base model). The
    /// store is also the repository, until [`AppState::with_repository`] says otherwise.
    pub fn new(store: Arc<Store>, verifier: Arc<Verifier>) -> Self {
        let metrics = Arc::new(Metrics::new());
        let repository: Arc<dyn Repository> = Arc::clone(&store) as Arc<dyn Repository>;
        let events = Arc::new(Events::new());
        let catalogue = Catalogue::open(&store, Arc::clone(&repository), Arc::clone(&events));
        Self {
            install_config: InstallConfig::default(),
            installs: Arc::default(),
            ingest: Ingest {
                catalogue: catalogue.clone(),
                events: Arc::clone(&events),
                repository: Arc::clone(&repository),
                check: Arc::new(crate::InspectCheck::default()),
                metrics: Arc::clone(&metrics),
                load: UploadLoad::new(crate::DEFAULT_MAX_CONCURRENT_UPLOADS),
                clock: Arc::new(SystemClock),
            },
            local: store,
            uploads: repository.uploads(),
            repository,
            verifier,
            limits: Limits {
                max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
                body_idle_timeout: crate::DEFAULT_BODY_IDLE_TIMEOUT,
                upload_expiry: crate::DEFAULT_UPLOAD_EXPIRY,
                lease: DEFAULT_LEASE,
            },
            bin_retention: None,
            metrics,
            metrics_token: None,
            catalogue,
            events,
        }
    }

    /// Publishes, lists, bins and keeps resumable uploads through `repository` (fleet
    /// mode's bucket with this node's store as its replica) instead of the store alone.
    /// What needs the local disk (evaluation) keeps using the store.
    #[must_use]
    pub fn with_repository(mut self, repository: Arc<dyn Repository>) -> Self {
        self.ingest.repository = Arc::clone(&repository);
        self.uploads = repository.uploads();
        // The catalogue lists what the repository lists (in fleet mode, the bucket's files).
        self.catalogue = None;
        self.catalogue = Catalogue::open(
            &self.local,
            Arc::clone(&repository),
            Arc::clone(&self.events),
        );
        self.ingest.catalogue = self.catalogue.clone();
        self.repository = repository;
        self
    }

    /// Installs from a URL follow `config` (concurrency, which sources and addresses may
    /// be reached, publishers' tokens and endpoints); a source that sends nothing for the
    /// body idle timeout ([`AppState::with_body_idle_timeout`]) is cut, and the download
    /// resumed. Default: [`InstallConfig::default`].
    #[must_use]
    pub fn with_install_config(mut self, config: InstallConfig) -> Self {
        self.install_config = config;
        self.installs = Arc::default();
        self
    }

    /// Sends idle event streams a comment line every `every` (default
    /// [`crate::DEFAULT_EVENT_HEARTBEAT`], 15 s), so proxies and clients see them alive.
    #[must_use]
    pub fn with_event_heartbeat(self, every: std::time::Duration) -> Self {
        self.events.set_heartbeat(every);
        self
    }

    /// Sets the largest accepted file, in bytes.
    #[must_use]
    pub fn with_max_upload_bytes(mut self, limit: u64) -> Self {
        self.limits.max_upload_bytes = limit;
        self
    }

    /// Sets the check run on every staged upload before it is published.
    #[must_use]
    pub fn with_content_check(mut self, check: Arc<dyn ContentCheck>) -> Self {
        self.ingest.check = check;
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
        self.limits.body_idle_timeout = idle;
        self
    }

    /// Caps the uploads in flight (at least 1): past it a new upload is answered 503 with
    /// `Retry-After` from its headers, before its body is read. Default
    /// [`crate::DEFAULT_MAX_CONCURRENT_UPLOADS`].
    #[must_use]
    pub fn with_max_concurrent_uploads(mut self, cap: usize) -> Self {
        self.ingest.load = UploadLoad::new(cap);
        self
    }

    /// How long a resumable (tus) upload lives (`LORA_UPLOAD_EXPIRY_SECS`); expired
    /// partial uploads are removed. Default one day.
    #[must_use]
    pub fn with_upload_expiry(mut self, expiry: std::time::Duration) -> Self {
        self.limits.upload_expiry = expiry;
        self
    }

    /// The lease `POST /api/v1/lora/ensure` takes when the request names none
    /// (`LORA_REPLICA_LEASE_SECS`, at most a day). Default [`DEFAULT_LEASE`].
    #[must_use]
    pub fn with_default_lease(mut self, lease: std::time::Duration) -> Self {
        self.limits.lease = lease.min(std::time::Duration::from_secs(MAX_LEASE_SECS));
        self
    }

    /// Takes "now" from `clock` (expiry of resumable uploads, upload timestamps): tests
    /// move a [`lora_core::ManualClock`] instead of sleeping. Default: the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.ingest.clock = clock;
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
    pub fn store(&self) -> &Arc<Store> {
        &self.local
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
        self.limits.max_upload_bytes
    }
}

impl AppState {
    /// The installs of this state's data directory, opened at first use with the settings
    /// the builder ended with (jobs found there are loaded once); `None` (logged) when
    /// they cannot be kept.
    pub(crate) fn installs(&self) -> Option<&Arc<Installs>> {
        self.installs
            .get_or_init(|| {
                Installs::open(
                    self.local.layout(),
                    self.install_config.clone(),
                    self.limits.body_idle_timeout,
                )
                .ok()
                .map(Arc::new)
            })
            .as_ref()
    }
}
