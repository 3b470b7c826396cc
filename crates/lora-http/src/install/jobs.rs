//! Installs: every install job of this node, what they share (the HTTP client, the places
//! to run), and the operator's settings.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::error::InstallError;
use super::fetch::{self, Tokens};
use super::guard::{self, PrivateAccess};
use super::job::{InstallJob, InstallStatus, Record, Shelf, Write, Writer};
use super::source::Endpoints;

/// Default number of installs that download at once (`LORA_INSTALL_CONCURRENCY`).
pub const DEFAULT_INSTALL_CONCURRENCY: usize = 2;

/// Finished jobs are forgotten (record removed) this long after they ended.
pub const FINISHED_JOBS_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How installs behave: the operator's settings.
#[derive(Debug, Clone)]
pub struct InstallConfig {
    /// Installs downloading at once (at least 1); the rest wait, `queued`.
    pub concurrency: usize,
    /// Whether plain `http://` sources are fetched (`LORA_INSTALL_ALLOW_HTTP`).
    pub allow_http: bool,
    /// Which non-public addresses may be reached (`LORA_INSTALL_ALLOW_PRIVATE`).
    pub private: PrivateAccess,
    /// Hosts (and their subdomains) installs may reach; `None`: any
    /// (`LORA_INSTALL_HOSTS`). Redirect targets must be listed too.
    pub hosts: Option<Vec<String>>,
    /// Publishers' tokens (`LORA_HF_TOKEN`, `LORA_CIVITAI_TOKEN`).
    pub tokens: Tokens,
    /// Publishers' endpoints (`LORA_HF_ENDPOINT`, `LORA_CIVITAI_ENDPOINT`).
    pub endpoints: Endpoints,
}

impl Default for InstallConfig {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_INSTALL_CONCURRENCY,
            allow_http: false,
            private: PrivateAccess::None,
            hosts: None,
            tokens: Tokens::default(),
            endpoints: Endpoints::default(),
        }
    }
}

/// A job's progress while it downloads, read by every `GET` without the lock's writers.
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub(super) done: AtomicU64,
    /// When the current attempt started, and the bytes kept then.
    pub(super) attempt: Mutex<Option<(Instant, u64)>>,
}

impl Progress {
    fn rate(&self) -> Option<f64> {
        let attempt = *self.attempt.lock().unwrap_or_else(|p| p.into_inner());
        let (started, from) = attempt?;
        let seconds = started.elapsed().as_secs_f64();
        let done = self.done.load(Ordering::Relaxed);
        (seconds > 0.0).then(|| done.saturating_sub(from) as f64 / seconds)
    }
}

/// One job: its record, its progress, and its task while it runs.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) record: Record,
    pub(super) progress: Arc<Progress>,
    pub(super) task: Option<actix_web::rt::task::JoinHandle<()>>,
}

/// Every install job of this node.
#[derive(Debug)]
pub struct Installs {
    pub(super) shelf: Shelf,
    /// Every record change after a job's creation goes through it.
    pub(super) writer: Writer,
    /// Where complete downloads go to be published (the store's staging folder).
    pub(super) staging: camino::Utf8PathBuf,
    pub(super) fetcher: fetch::Fetcher,
    pub(super) slots: Arc<Semaphore>,
    jobs: Mutex<BTreeMap<String, Entry>>,
    /// Bytes fetched since start.
    pub(crate) bytes_fetched: AtomicU64,
    concurrency: usize,
}

impl Installs {
    /// The installs of the data directory laid out as `layout` (kept in
    /// [`lora_store::Layout::installs_dir`]), with `config`; `idle` bounds every read of a
    /// source. Unfinished jobs found there are queued again (started with the other
    /// background tasks, [`crate::spawn_background`]).
    ///
    /// # Errors
    ///
    /// [`InstallError::Unavailable`] when the folder or the HTTP client cannot be made.
    pub fn open(
        layout: &lora_store::Layout,
        config: InstallConfig,
        idle: Duration,
    ) -> Result<Self, InstallError> {
        let dir = layout.installs_dir();
        let shelf = Shelf::open(&dir).map_err(|e| {
            tracing::error!(%dir, error = %e, "cannot open the installs folder");
            InstallError::Unavailable
        })?;
        let guard = guard::Guard {
            allow_http: config.allow_http,
            private: config.private,
            hosts: config
                .hosts
                .map(|h| h.into_iter().map(|h| h.to_ascii_lowercase()).collect()),
        };
        let fetcher =
            fetch::Fetcher::new(guard, config.endpoints, config.tokens, idle).map_err(|e| {
                tracing::error!(error = %e, "cannot build the installs' HTTP client");
                InstallError::Unavailable
            })?;
        let mut jobs = BTreeMap::new();
        for mut record in shelf.load() {
            // Whatever it was doing when the server stopped, it waits for a place again.
            if !record.job.status.is_final() {
                record.job.status = InstallStatus::Queued;
            }
            let entry = Entry {
                record,
                progress: Arc::default(),
                task: None,
            };
            jobs.insert(entry.record.job.id.clone(), entry);
        }
        let writer = Writer::start(shelf.clone()).map_err(|e| {
            tracing::error!(error = %e, "cannot start the install records' writer");
            InstallError::Unavailable
        })?;
        let installs = Self {
            writer,
            shelf,
            staging: layout.staging_dir(),
            fetcher,
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            concurrency: config.concurrency.max(1),
            jobs: Mutex::new(jobs),
            bytes_fetched: AtomicU64::new(0),
        };
        installs.prune();
        Ok(installs)
    }

    pub(super) fn jobs(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every job, oldest first, as clients see them.
    pub fn list(&self) -> Vec<InstallJob> {
        let jobs = self.jobs();
        let mut list: Vec<InstallJob> = jobs.values().map(shown).collect();
        list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        list
    }

    /// One job.
    ///
    /// # Errors
    ///
    /// [`InstallError::NotFound`].
    pub fn get(&self, id: &str) -> Result<InstallJob, InstallError> {
        self.jobs().get(id).map(shown).ok_or_else(|| not_found(id))
    }

    /// Installs downloading at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Jobs per status, and bytes fetched since start (health, metrics).
    pub fn figures(&self) -> (BTreeMap<InstallStatus, usize>, u64) {
        let mut counts: BTreeMap<InstallStatus, usize> =
            InstallStatus::ALL.iter().map(|s| (*s, 0)).collect();
        for entry in self.jobs().values() {
            *counts.entry(entry.record.job.status).or_default() += 1;
        }
        (counts, self.bytes_fetched.load(Ordering::Relaxed))
    }

    /// Cancels a job that has not reached `checking`: its task stops, its partial bytes
    /// go. Answers the job as it is now.
    ///
    /// # Errors
    ///
    /// [`InstallError::NotFound`]; [`InstallError::TooLate`] once it is being stored or
    /// has ended.
    pub fn cancel(&self, id: &str) -> Result<InstallJob, InstallError> {
        let mut jobs = self.jobs();
        let entry = jobs.get_mut(id).ok_or_else(|| not_found(id))?;
        let status = entry.record.job.status;
        if !matches!(status, InstallStatus::Queued | InstallStatus::Downloading) {
            return Err(InstallError::TooLate {
                id: id.to_owned(),
                status: status.as_str(),
            });
        }
        if let Some(task) = entry.task.take() {
            task.abort();
        }
        set_status(&mut entry.record, InstallStatus::Cancelled);
        let record = entry.record.clone();
        drop(jobs);
        if let Err(e) = lora_store::Download::remove(&self.shelf.partial(id)) {
            tracing::warn!(id, error = %e, "cannot remove a cancelled install's bytes");
        }
        let job = record.job.clone();
        self.writer.ask(Write::Save(Box::new(record)));
        // Answered once on disk: a restart must not bring the job back.
        self.writer.flush();
        tracing::info!(id, "install cancelled");
        Ok(job)
    }

    /// Changes job `id` under the lock with `change`, and asks the writer to keep it on
    /// disk; `false` when the job is gone or was cancelled meanwhile (its task is then
    /// about to stop).
    pub(super) fn update(&self, id: &str, change: impl FnOnce(&mut Record)) -> bool {
        let mut jobs = self.jobs();
        let Some(entry) = jobs.get_mut(id) else {
            return false;
        };
        if entry.record.job.status == InstallStatus::Cancelled {
            return false;
        }
        change(&mut entry.record);
        entry.record.job.updated_at = lora_core::timestamp::now();
        self.writer.ask(Write::Save(Box::new(entry.record.clone())));
        true
    }

    /// Forgets finished jobs older than [`FINISHED_JOBS_KEPT`] (their records go after
    /// the lock is let go).
    pub(super) fn prune(&self) {
        let now = time::OffsetDateTime::now_utc();
        let mut gone = Vec::new();
        self.jobs().retain(|id, entry| {
            let job = &entry.record.job;
            let ended = parsed(&job.updated_at).unwrap_or(now);
            let keep = !job.status.is_final() || now - ended <= FINISHED_JOBS_KEPT;
            if !keep {
                gone.push(id.clone());
            }
            keep
        });
        for id in gone {
            self.writer.ask(Write::Forget(id));
        }
    }
}

/// The job with its live progress.
fn shown(entry: &Entry) -> InstallJob {
    let mut job = entry.record.job.clone();
    if job.status == InstallStatus::Downloading {
        job.bytes_done = entry.progress.done.load(Ordering::Relaxed);
        job.rate_bytes_per_sec = entry.progress.rate();
    }
    job
}

pub(super) fn set_status(record: &mut Record, status: InstallStatus) {
    record.job.status = status;
    record.job.updated_at = lora_core::timestamp::now();
}

fn parsed(at: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
}

fn not_found(id: &str) -> InstallError {
    InstallError::NotFound {
        id: id.chars().take(64).collect(),
    }
}
