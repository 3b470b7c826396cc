//! A job's life: a place among the running installs, the bytes fetched into the partial
//! (resumed with `Range` after a cut), the hash verified, then the ingest path every
//! upload takes (content check, gate, naming, publish, audit).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lora_core::SafeFileName;
use lora_inspect::Scanned;
use lora_store::{Download, OnClash, StoreError};

use super::expected::Expected;
use super::fetch::{Failure, Opened};
use super::job::{InstallStatus, Record};
use super::jobs::{Installs, Progress, set_status};
use super::source::Source;
use crate::ApiError;
use crate::ingest::sink::{Sink, Target};
use crate::ingest::{Arrival, Ingest, Via};
use crate::observe::audit::Actor;
use crate::routes::upload::answer::{AdminLoRAUploadResponse, LoRAUploadResponse};
use crate::task::blocking;

/// Failed requests in a row (with no byte gained) before a job fails.
const MAX_FAILURES: u32 = 5;

/// Where the content check's scan of the partial reports, when the check has a scan.
type Scan = Option<Receiver<Scanned>>;

/// How a job's life ended, short of success.
enum End {
    /// Cancelled meanwhile: nothing more to record.
    Cancelled,
    /// Failed, with the reason shown to clients.
    Failed(String),
}

impl From<String> for End {
    fn from(reason: String) -> Self {
        End::Failed(reason)
    }
}

pub(super) async fn run(installs: Arc<Installs>, ingest: Ingest, max_bytes: u64, id: String) {
    let Ok(_place) = Arc::clone(&installs.slots).acquire_owned().await else {
        return;
    };
    let outcome = life(&installs, &ingest, max_bytes, &id).await;
    match outcome {
        Ok(result) => {
            installs.update(&id, |r| {
                r.job.bytes_done = result.base.file_size;
                r.job.result = Some(result);
                set_status(r, InstallStatus::Done);
            });
            tracing::info!(id, "install done");
        }
        Err(End::Failed(reason)) => {
            tracing::warn!(id, reason, "install failed");
            // Its bytes go before it shows as failed: a failed job has none left.
            let partial = installs.shelf.partial(&id);
            let removed = blocking(move || Ok(Download::remove(&partial)?)).await;
            if let Err(e) = removed {
                tracing::warn!(id, error = %e, "cannot remove a failed install's bytes");
            }
            installs.update(&id, |r| {
                r.job.error = Some(reason);
                set_status(r, InstallStatus::Failed);
            });
        }
        Err(End::Cancelled) => {}
    }
    if let Some(entry) = installs.jobs().get_mut(&id) {
        entry.task = None;
    }
}

impl Target for Download {
    fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.write_bytes(chunk)
    }
}

/// The tap and receiver of the content check's scan, when it has one.
fn scan(ingest: &Ingest) -> (Option<Box<dyn lora_store::Tap>>, Scan) {
    match crate::ingest::scan_for(ingest.check.as_ref()) {
        Some((tap, result)) => (Some(tap), Some(result)),
        None => (None, None),
    }
}

async fn life(
    installs: &Arc<Installs>,
    ingest: &Ingest,
    max_bytes: u64,
    id: &str,
) -> Result<AdminLoRAUploadResponse, End> {
    if !installs.update(id, |r| set_status(r, InstallStatus::Downloading)) {
        return Err(End::Cancelled);
    }
    let (mut record, progress) = {
        let jobs = installs.jobs();
        let entry = jobs.get(id).ok_or(End::Cancelled)?;
        (entry.record.clone(), Arc::clone(&entry.progress))
    };
    let source =
        Source::parse(&record.source, &installs.fetcher.endpoints).map_err(|e| e.to_string())?;
    let mut expected = Expected::of(&record);
    let mut run = Run {
        installs,
        ingest,
        id,
        max_bytes,
        progress,
        failures: 0,
    };
    let (download, scanned) = run.fetch(&source, &mut record, &mut expected).await?;
    if !installs.update(id, |r| set_status(r, InstallStatus::Checking)) {
        return Err(End::Cancelled);
    }
    let staging = installs.staging.clone();
    let staged = blocking(move || Ok(download.finish(&staging)?))
        .await
        .map_err(|e| e.public_detail())?;
    if staged.is_empty() {
        return Err(ApiError::EmptyFile.to_string().into());
    }
    expected.verify(&staged)?;
    publish(ingest, &record, staged, scanned).await
}

/// What one job's fetch needs at every step.
struct Run<'a> {
    installs: &'a Arc<Installs>,
    ingest: &'a Ingest,
    id: &'a str,
    max_bytes: u64,
    progress: Arc<Progress>,
    /// Failed requests in a row.
    failures: u32,
}

impl Run<'_> {
    /// Fetches the whole file into the job's partial: requests from the kept length until
    /// a body ends complete, starting over when the source cannot continue what was kept.
    async fn fetch(
        &mut self,
        source: &Source,
        record: &mut Record,
        expected: &mut Expected,
    ) -> Result<(Download, Scan), End> {
        let (tap, mut scanned) = scan(self.ingest);
        let path = self.installs.shelf.partial(self.id);
        let mut download = blocking(move || Ok(Download::open(&path, tap)?))
            .await
            .map_err(|e| e.public_detail())?;
        loop {
            let kept = download.len();
            self.attempt(record, kept);
            let validator = record.validator.clone();
            let opened = match self
                .installs
                .fetcher
                .open(source.url(), kept, validator.as_deref())
                .await
            {
                Ok(opened) => opened,
                Err(Failure::Permanent(reason)) => return Err(reason.into()),
                Err(Failure::Restart(reason)) => {
                    (download, scanned) = self.restart(download, record).await?;
                    self.failed(reason).await?;
                    continue;
                }
                Err(Failure::Transient(reason)) => {
                    self.failed(reason).await?;
                    continue;
                }
            };
            // A whole file (the source ignored the range, or its file changed), or the rest
            // of another file (a source that ignored If-Range): the kept bytes go.
            let changed = opened.start > 0
                && validator.is_some()
                && opened.validator.is_some()
                && opened.validator != validator;
            if kept > 0 && (opened.start == 0 || changed) {
                tracing::info!(
                    id = self.id,
                    kept,
                    "the source cannot continue; starting over"
                );
                (download, scanned) = self.restart(download, record).await?;
                if changed {
                    continue;
                }
            }
            decide(record, source, &opened, self.max_bytes)?;
            expected
                .learn(
                    self.installs,
                    source,
                    &opened,
                    record.job.filename.as_deref(),
                )
                .await;
            record.validator.clone_from(&opened.validator);
            record.job.bytes_total = opened.total;
            expected.record(record);
            self.keep(record)?;
            let before = download.len();
            let (back, end) = receive(opened, download, self).await;
            download = back.map_err(|e| e.public_detail())?;
            let now = download.len();
            self.installs.update(self.id, |r| r.job.bytes_done = now);
            if now > before {
                self.failures = 0;
            }
            match (end, record.job.bytes_total) {
                (Received::Complete, Some(total)) if now < total => {
                    self.failed(format!("the source sent {now} of {total} bytes"))
                        .await?;
                }
                (Received::Complete, _) => return Ok((download, scanned)),
                (Received::TooLarge, _) => {
                    let limit = self.max_bytes;
                    return Err(ApiError::TooLarge { limit }.to_string().into());
                }
                (Received::Cut(reason), _) => self.failed(reason).await?,
            }
        }
    }

    /// A new request: counted in the record, and its rate measured from here.
    fn attempt(&self, record: &mut Record, kept: u64) {
        self.progress.done.store(kept, Ordering::Relaxed);
        *self
            .progress
            .attempt
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), kept));
        record.job.attempts += 1;
        let attempts = record.job.attempts;
        self.installs.update(self.id, |r| r.job.attempts = attempts);
    }

    /// Keeps what the answer taught (name, size, validator, expected hash) on disk.
    fn keep(&self, record: &Record) -> Result<(), End> {
        let learnt = record.clone();
        let kept = self.installs.update(self.id, |r| {
            r.validator = learnt.validator;
            r.job.filename = learnt.job.filename;
            r.job.bytes_total = learnt.job.bytes_total;
            r.job.expected_sha256 = learnt.job.expected_sha256;
            r.job.sha256_source = learnt.job.sha256_source;
        });
        if kept { Ok(()) } else { Err(End::Cancelled) }
    }

    /// One more failed request: the job fails at [`MAX_FAILURES`] in a row, else waits
    /// (1, 2, 4, 8 s) before the next.
    async fn failed(&mut self, reason: String) -> Result<(), End> {
        self.failures += 1;
        if self.failures >= MAX_FAILURES {
            return Err(format!("{reason} ({} attempts in a row)", self.failures).into());
        }
        tracing::info!(
            id = self.id,
            reason,
            failures = self.failures,
            "install request failed; trying again"
        );
        actix_web::rt::time::sleep(backoff(self.failures)).await;
        Ok(())
    }

    /// Drops what was kept (and the validator it was kept under) and starts again with a
    /// fresh scan.
    async fn restart(
        &self,
        mut download: Download,
        record: &mut Record,
    ) -> Result<(Download, Scan), End> {
        record.validator = None;
        let (tap, scanned) = scan(self.ingest);
        let download = blocking(move || {
            download.restart(tap)?;
            Ok(download)
        })
        .await
        .map_err(|e| e.public_detail())?;
        Ok((download, scanned))
    }
}

/// Decides the file name (once) and checks the size the source announced.
fn decide(
    record: &mut Record,
    source: &Source,
    opened: &Opened,
    max_bytes: u64,
) -> Result<(), End> {
    // The request's name is there from the start; else the first answer decides.
    if record.job.filename.is_none() {
        let name = opened
            .disposition_name
            .clone()
            .or_else(|| source.file_name())
            .ok_or_else(|| "the source gives no file name; name one with `filename`".to_owned())?;
        SafeFileName::from_client(&name).map_err(|e| e.to_string())?;
        record.job.filename = Some(name);
    }
    if opened.total.is_some_and(|total| total > max_bytes) {
        return Err(ApiError::TooLarge { limit: max_bytes }.to_string().into());
    }
    Ok(())
}

/// How one response's body ended.
enum Received {
    Complete,
    Cut(String),
    TooLarge,
}

/// Streams `opened`'s body into `download` (through the sink: the network and the disk
/// overlap), and hands the download back with everything that arrived written.
async fn receive(
    mut opened: Opened,
    download: Download,
    run: &Run<'_>,
) -> (Result<Download, ApiError>, Received) {
    let Run {
        installs,
        ingest,
        progress,
        max_bytes,
        ..
    } = run;
    let mut at = opened.start;
    let mut sink = Sink::into_target(download);
    let end = loop {
        match opened.response.chunk().await {
            Ok(Some(chunk)) => {
                at += chunk.len() as u64;
                if at > *max_bytes {
                    break Received::TooLarge;
                }
                let n = chunk.len() as u64;
                if let Err(e) = sink.write(chunk).await {
                    return (Err(e), Received::Cut(String::new()));
                }
                progress.done.store(at, Ordering::Relaxed);
                ingest.metrics.install_bytes.inc_by(n);
                installs.bytes_fetched.fetch_add(n, Ordering::Relaxed);
            }
            Ok(None) => break Received::Complete,
            Err(e) => break Received::Cut(e.without_url().to_string()),
        }
    };
    let back = sink
        .finish(|mut d: Download| {
            d.sync()?;
            Ok(d)
        })
        .await;
    (back, end)
}

/// The ingest path, as for any upload: check, gate, naming, publish, audit.
async fn publish(
    ingest: &Ingest,
    record: &Record,
    staged: lora_store::StagedFile,
    scanned: Scan,
) -> Result<AdminLoRAUploadResponse, End> {
    let job = &record.job;
    let client_name = job.filename.clone().unwrap_or_default();
    let name = SafeFileName::from_client(&client_name).map_err(|e| e.to_string())?;
    let arrival = Arrival {
        client_name: client_name.clone(),
        name,
        entity: job.entity_type,
        on_clash: if job.use_safe_filename {
            OnClash::Version
        } else {
            OnClash::Refuse
        },
        if_duplicate: job.if_duplicate,
    };
    // A place under the cap on uploads in flight, as any upload takes.
    let mut session = loop {
        match ingest.begin(Actor::admin(&job.requested_by), Via::Install) {
            Ok(session) => break session,
            Err(ApiError::Busy { .. }) => actix_web::rt::time::sleep(Duration::from_secs(1)).await,
            Err(e) => return Err(e.public_detail().into()),
        }
    };
    if let Some(scanned) = scanned {
        session.scanned_by(scanned);
    }
    let stored = session
        .publish(arrival, staged)
        .await
        .map_err(|e| e.public_detail())?;
    Ok(AdminLoRAUploadResponse {
        base: LoRAUploadResponse::from_stored(&stored.completed, stored.client_name),
        entity_type: stored.entity,
    })
}

/// 1, 2, 4, 8, 16 s between failed requests.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1 << failures.saturating_sub(1).min(4))
}
