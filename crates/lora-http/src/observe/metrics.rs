//! Prometheus metrics at `/metrics` (text exposition format, `prometheus-client`).
//!
//! Labels are route patterns, methods, statuses, reasons, finding codes, verdicts, entity
//! types and phases: never a file name, a path or a token. Storage figures (files and
//! bytes per entity type, the bin, free bytes, the replica's lag) are read at scrape time.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `route`, `method`, `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

/// One label named `name`-ish: reason, code, verdict, phase, entity type, status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Reason {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Code {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct VerdictLabel {
    pub verdict: String,
}

/// The phases of an upload, timed by `lora_upload_phase_duration_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UploadPhase {
    /// The body (a multipart form's, or one tus PATCH's) arriving on disk.
    Receive,
    /// The content rules and the gate.
    Check,
    /// Naming and publishing through the repository.
    Publish,
}

impl UploadPhase {
    const fn as_str(self) -> &'static str {
        match self {
            UploadPhase::Receive => "receive",
            UploadPhase::Check => "check",
            UploadPhase::Publish => "publish",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Phase {
    pub phase: String,
}

/// One figure of the working set (`figure` label).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReplicaFigure {
    pub figure: String,
}

/// One kind of working-set event (`event` = `hit`, `miss`, `eviction`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReplicaEvent {
    pub event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Entity {
    pub entity_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Status {
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Seconds from 5 ms to about 600 s: a listing and a 500 MiB upload over a slow link
/// both land in a bucket of their own.
fn long_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 18))
}

/// Every metric the service exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: Histograms<HttpLabels>,
    pub(crate) in_flight: Gauge,
    pub(crate) bytes_received: Counter,
    pub(crate) upload_phase: Histograms<Phase>,
    pub(crate) refusals: Family<Reason, Counter>,
    pub(crate) auth_failures: Family<Status, Counter>,
    pub(crate) evaluation_seconds: Histogram,
    pub(crate) verdicts: Family<VerdictLabel, Counter>,
    pub(crate) findings: Family<Code, Counter>,
    pub(crate) files: Family<Entity, Gauge>,
    pub(crate) file_bytes: Family<Entity, Gauge>,
    pub(crate) storage_available: Gauge,
    pub(crate) bin_files: FloatGauge,
    pub(crate) bin_bytes: FloatGauge,
    pub(crate) free_bytes: FloatGauge,
    pub(crate) replica_lag: FloatGauge,
    pub(crate) remote_errors: Gauge,
    /// Fleet mode's working set, read at scrape: `budget_bytes`, `local_bytes`,
    /// `local_files`, `pinned_bytes`, `leases`, `fetches_in_flight`.
    pub(crate) replica: Family<ReplicaFigure, Gauge>,
    /// Ensures answered from this disk, that downloaded, and evictions.
    pub(crate) replica_events: Family<ReplicaEvent, Counter>,
    /// How long an ensure's download took.
    pub(crate) fetch_seconds: Histogram,
    /// Install jobs by state, read at scrape.
    pub(crate) install_jobs: Family<InstallState, Gauge>,
    /// Bytes installs fetched.
    pub(crate) install_bytes: Counter,
}

/// One state of install jobs (`state` label).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct InstallState {
    pub state: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric, and `build_info` set.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lora");
        let requests: Histograms<HttpLabels> = Family::new_with_constructor(long_buckets);
        registry.register(
            "http_request_duration_seconds",
            "Requests by route pattern, method and status, and how long they took",
            requests.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        let bytes_received = Counter::default();
        registry.register(
            "http_received_bytes",
            "Request body bytes announced by Content-Length",
            bytes_received.clone(),
        );
        let upload_phase: Histograms<Phase> = Family::new_with_constructor(long_buckets);
        registry.register(
            "upload_phase_duration_seconds",
            "Upload time by phase: receive (the body), check (content rules), publish",
            upload_phase.clone(),
        );
        let refusals = Family::<Reason, Counter>::default();
        registry.register(
            "refusals",
            "Refused uploads and changes, by reason",
            refusals.clone(),
        );
        let auth_failures = Family::<Status, Counter>::default();
        registry.register(
            "auth_failures",
            "Requests refused for their token (401) or role (403)",
            auth_failures.clone(),
        );
        let evaluation_seconds = long_buckets();
        registry.register(
            "evaluation_duration_seconds",
            "Time to evaluate one file",
            evaluation_seconds.clone(),
        );
        let verdicts = Family::<VerdictLabel, Counter>::default();
        registry.register(
            "evaluation_verdicts",
            "Evaluation verdicts",
            verdicts.clone(),
        );
        let findings = Family::<Code, Counter>::default();
        registry.register(
            "evaluation_findings",
            "Evaluation findings by code",
            findings.clone(),
        );
        let files = Family::<Entity, Gauge>::default();
        registry.register("files", "Live LoRA files per entity type", files.clone());
        let file_bytes = Family::<Entity, Gauge>::default();
        registry.register(
            "file_bytes",
            "Bytes of live LoRA files per entity type",
            file_bytes.clone(),
        );
        let storage_available = Gauge::default();
        registry.register(
            "storage_available",
            "1 when the data directory answered this scrape, 0 when it is gone (the storage figures are then absent or NaN, never zeros)",
            storage_available.clone(),
        );
        let bin_files = FloatGauge::default();
        registry.register("bin_files", "Files in the recycle bin", bin_files.clone());
        let bin_bytes = FloatGauge::default();
        registry.register("bin_bytes", "Bytes in the recycle bin", bin_bytes.clone());
        let free_bytes = FloatGauge::default();
        registry.register(
            "data_free_bytes",
            "Bytes free on the data volume",
            free_bytes.clone(),
        );
        let replica_lag = FloatGauge::default();
        registry.register(
            "replica_lag_seconds",
            "Fleet mode: seconds since this node's last sync with the bucket (0 otherwise)",
            replica_lag.clone(),
        );
        let remote_errors = Gauge::default();
        registry.register(
            "remote_errors",
            "Fleet mode: bucket operations that failed since start",
            remote_errors.clone(),
        );
        let replica = Family::<ReplicaFigure, Gauge>::default();
        registry.register(
            "replica",
            "Fleet mode: the working set by figure (budget_bytes, local_bytes, local_files, pinned_bytes, leases, fetches_in_flight)",
            replica.clone(),
        );
        let replica_events = Family::<ReplicaEvent, Counter>::default();
        registry.register(
            "replica_events",
            "Fleet mode: ensures answered from this disk (hit), that downloaded (miss), and files evicted (eviction)",
            replica_events.clone(),
        );
        let fetch_seconds = long_buckets();
        registry.register(
            "replica_fetch_duration_seconds",
            "Fleet mode: how long an ensure's download took",
            fetch_seconds.clone(),
        );
        let install_jobs = Family::<InstallState, Gauge>::default();
        registry.register(
            "install_jobs",
            "Install jobs by state (queued, downloading, checking, done, failed, cancelled)",
            install_jobs.clone(),
        );
        let install_bytes = Counter::default();
        registry.register(
            "install_bytes",
            "Bytes fetched by installs from a URL",
            install_bytes.clone(),
        );
        let build = Family::<Build, Gauge>::default();
        build
            .get_or_create(&Build {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register("build_info", "The running version", build);
        Self {
            registry,
            requests,
            in_flight,
            bytes_received,
            upload_phase,
            refusals,
            auth_failures,
            evaluation_seconds,
            verdicts,
            findings,
            files,
            file_bytes,
            storage_available,
            bin_files,
            bin_bytes,
            free_bytes,
            replica_lag,
            remote_errors,
            replica,
            replica_events,
            fetch_seconds,
            install_jobs,
            install_bytes,
        }
    }

    /// Counts a refusal by its stable reason.
    pub(crate) fn refused(&self, reason: &str) {
        self.refusals
            .get_or_create(&Reason {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Times one upload phase.
    pub(crate) fn phase(&self, phase: UploadPhase, seconds: f64) {
        self.upload_phase
            .get_or_create(&Phase {
                phase: phase.as_str().to_owned(),
            })
            .observe(seconds);
    }

    /// The text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
