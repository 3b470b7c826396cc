//! A job's life: a place among the running installs, the bytes fetched into the partial
//! (resumed with `Range` after a cut), the hash verified, then the ingest path every
//! upload takes (content check, gate, naming, publish, audit).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lora_core::{EntityType, IfDuplicate, SafeFileName, Sha256};
use lora_inspect::Scanned;
use lora_store::{Download, OnClash, StoreError};

use super::fetch::{Failure, Opened};
use super::job::{HashSource, InstallStatus, Record};
use super::jobs::{Installs, Progress, set_status};
use super::source::Source;
use crate::ApiError;
use crate::error::Detail;
use crate::ingest::sink::{Sink, Target};
use crate::ingest::{Arrival, Ingest, Via};
use crate::observe::audit::Actor;
use crate::routes::upload::answer::{AdminLoRAUploadResponse, LoRAUploadResponse};
use crate::task::blocking;

/// Failed requests in a row (with no byte gained) before a job fails.
const MAX_FAILURES: u32 = 5;

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
            installs.update(&id, |r| {
                r.job.error = Some(reason);
                set_status(r, InstallStatus::Failed);
            });
            let _ = Download::remove(&installs.shelf.partial(&id));
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
fn scan(
    ingest: &Ingest,
) -> (
    Option<Box<dyn lora_store::Tap>>,
    Option<std::sync::mpsc::Receiver<Scanned>>,
) {
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
    let fetcher = &installs.fetcher;
    let source = Source::parse(&record.source, &fetcher.endpoints).map_err(|e| e.to_string())?;
    let (tap, mut scanned) = scan(ingest);
    let path = installs.shelf.partial(id);
    let mut download = blocking(move || Ok(Download::open(&path, tap)?))
        .await
        .map_err(|e| public(&e))?;
    let mut expected = expected_of(&record);
    let mut failures = 0u32;
    let mut civitai_asked = false;
    loop {
        let kept = download.len();
        progress.done.store(kept, Ordering::Relaxed);
        *progress.attempt.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), kept));
        record.job.attempts += 1;
        let attempts = record.job.attempts;
        installs.update(id, |r| r.job.attempts = attempts);
        let opened = fetcher
            .open(source.url(), kept, record.validator.as_deref())
            .await;
        let opened = match opened {
            Ok(opened) if opened.start == 0 && kept > 0 => {
                // The source ignored the range (or its file changed): from zero.
                tracing::info!(
                    id,
                    kept,
                    "the source sent the whole file again; starting over"
                );
                (download, scanned) = restart(download, ingest).await?;
                opened
            }
            Ok(opened)
                if opened.start > 0
                    && record.validator.is_some()
                    && opened.validator.is_some()
                    && opened.validator != record.validator =>
            {
                // A source that ignored If-Range sent the rest of another file.
                tracing::info!(id, kept, "the source's file changed; starting over");
                (download, scanned) = restart(download, ingest).await?;
                record.validator = None;
                continue;
            }
            Ok(opened) => opened,
            Err(Failure::Permanent(reason)) => return Err(reason.into()),
            Err(Failure::Restart(reason)) => {
                tracing::info!(id, reason, "starting the download over");
                (download, scanned) = restart(download, ingest).await?;
                record.validator = None;
                failures += 1;
                if failures >= MAX_FAILURES {
                    return Err(reason.into());
                }
                continue;
            }
            Err(Failure::Transient(reason)) => {
                failures += 1;
                if failures >= MAX_FAILURES {
                    return Err(format!("{reason} ({failures} attempts in a row)").into());
                }
                tracing::info!(id, reason, failures, "install request failed; trying again");
                actix_web::rt::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        decide(&mut record, &source, &opened, max_bytes)?;
        if expected.is_none() {
            expected = match (&source, opened.linked_sha256) {
                (_, Some(linked)) => Some((linked, HashSource::Huggingface)),
                (Source::Civitai { version, .. }, None) if !civitai_asked => {
                    civitai_asked = true;
                    civitai_sha256(installs, *version, record.job.filename.as_deref()).await
                }
                _ => None,
            };
        }
        record.validator.clone_from(&opened.validator);
        record.job.bytes_total = opened.total;
        record.job.expected_sha256 = expected.map(|(s, _)| s.to_hex());
        record.job.sha256_source = expected.map(|(_, source)| source);
        let kept_record = record.clone();
        if !installs.update(id, |r| {
            r.validator = kept_record.validator;
            r.job.filename = kept_record.job.filename;
            r.job.bytes_total = kept_record.job.bytes_total;
            r.job.expected_sha256 = kept_record.job.expected_sha256;
            r.job.sha256_source = kept_record.job.sha256_source;
        }) {
            return Err(End::Cancelled);
        }
        let before = download.len();
        let (back, end) = receive(opened, download, installs, ingest, &progress, max_bytes).await;
        download = back.map_err(|e| public(&e))?;
        installs.update(id, |r| r.job.bytes_done = download.len());
        if download.len() > before {
            failures = 0;
        }
        match end {
            Received::Complete => match record.job.bytes_total {
                Some(total) if download.len() < total => {
                    failures += 1;
                    if failures >= MAX_FAILURES {
                        return Err(
                            format!("the source sent {} of {total} bytes", download.len()).into(),
                        );
                    }
                }
                _ => break,
            },
            Received::TooLarge => {
                return Err(ApiError::TooLarge { limit: max_bytes }.to_string().into());
            }
            Received::Cut(reason) => {
                failures += 1;
                if failures >= MAX_FAILURES {
                    return Err(format!("{reason} ({failures} attempts in a row)").into());
                }
                tracing::info!(id, reason, kept = download.len(), "download cut; resuming");
                actix_web::rt::time::sleep(backoff(failures)).await;
            }
        }
    }
    if !installs.update(id, |r| set_status(r, InstallStatus::Checking)) {
        return Err(End::Cancelled);
    }
    let staging = installs.staging.clone();
    let staged = blocking(move || Ok(download.finish(&staging)?))
        .await
        .map_err(|e| public(&e))?;
    if staged.is_empty() {
        return Err(ApiError::EmptyFile.to_string().into());
    }
    if let Some((want, by)) = expected
        && staged.sha256() != want
    {
        return Err(format!(
            "SHA-256 mismatch: the {} hash is {}, the fetched bytes hash to {}; nothing was stored",
            match by {
                HashSource::Request => "requested",
                HashSource::Huggingface => "Hugging Face",
                HashSource::Civitai => "Civitai",
            },
            want.to_hex(),
            staged.sha256().to_hex()
        )
        .into());
    }
    publish(ingest, &record, staged, scanned.take()).await
}

/// Decides the file name (once) and checks the size the source announced.
fn decide(
    record: &mut Record,
    source: &Source,
    opened: &Opened,
    max_bytes: u64,
) -> Result<(), End> {
    if record.job.filename.is_none() {
        let name = record
            .requested_name
            .clone()
            .or_else(|| opened.disposition_name.clone())
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
    installs: &Installs,
    ingest: &Ingest,
    progress: &Progress,
    max_bytes: u64,
) -> (Result<Download, ApiError>, Received) {
    let mut at = opened.start;
    let mut sink = Sink::into_target(download);
    let end = loop {
        match opened.response.chunk().await {
            Ok(Some(chunk)) => {
                at += chunk.len() as u64;
                if at > max_bytes {
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

/// Drops what was kept and starts again with a fresh scan.
async fn restart(
    mut download: Download,
    ingest: &Ingest,
) -> Result<(Download, Option<std::sync::mpsc::Receiver<Scanned>>), End> {
    let (tap, scanned) = scan(ingest);
    let download = blocking(move || {
        download.restart(tap)?;
        Ok(download)
    })
    .await
    .map_err(|e| public(&e))?;
    Ok((download, scanned))
}

/// The ingest path, as for any upload: check, gate, naming, publish, audit.
async fn publish(
    ingest: &Ingest,
    record: &Record,
    staged: lora_store::StagedFile,
    scanned: Option<std::sync::mpsc::Receiver<Scanned>>,
) -> Result<AdminLoRAUploadResponse, End> {
    let job = &record.job;
    let client_name = job.filename.clone().unwrap_or_default();
    let name = SafeFileName::from_client(&client_name).map_err(|e| e.to_string())?;
    let entity: EntityType = job
        .entity_type
        .parse()
        .map_err(|_| format!("unknown entity type {}", job.entity_type))?;
    let arrival = Arrival {
        client_name: client_name.clone(),
        name,
        entity,
        on_clash: if job.use_safe_filename {
            OnClash::Version
        } else {
            OnClash::Refuse
        },
        if_duplicate: IfDuplicate::parse(&job.if_duplicate).unwrap_or_default(),
    };
    // A place under the cap on uploads in flight, as any upload takes.
    let mut session = loop {
        match ingest.begin(Actor::admin(&job.requested_by), Via::Install) {
            Ok(session) => break session,
            Err(ApiError::Busy { .. }) => actix_web::rt::time::sleep(Duration::from_secs(1)).await,
            Err(e) => return Err(public(&e).into()),
        }
    };
    if let Some(scanned) = scanned {
        session.scanned_by(scanned);
    }
    let stored = session
        .publish(arrival, staged)
        .await
        .map_err(|e| public(&e))?;
    Ok(AdminLoRAUploadResponse {
        base: LoRAUploadResponse::from_stored(&stored.completed, stored.client_name),
        entity_type: stored.entity,
    })
}

/// Civitai's SHA-256 of the file: the one named `name`, else the primary file, else the
/// only one. `None` (logged) when the API cannot say.
async fn civitai_sha256(
    installs: &Installs,
    version: u64,
    name: Option<&str>,
) -> Option<(Sha256, HashSource)> {
    let mut url = installs.fetcher.endpoints.civitai.clone();
    url.set_path(&format!("/api/v1/model-versions/{version}"));
    let document = match installs.fetcher.json(&url).await {
        Ok(document) => document,
        Err(Failure::Permanent(reason) | Failure::Transient(reason) | Failure::Restart(reason)) => {
            tracing::warn!(
                version,
                reason,
                "Civitai's model-version API gave no hashes; the download is not verified"
            );
            return None;
        }
    };
    let files = document.get("files")?.as_array()?;
    let sha = |f: &serde_json::Value| {
        f.pointer("/hashes/SHA256")
            .and_then(|v| v.as_str())
            .and_then(|hex| Sha256::parse_hex(&hex.to_ascii_lowercase()).ok())
    };
    let named = name.and_then(|n| {
        files
            .iter()
            .find(|f| f.get("name").and_then(|v| v.as_str()) == Some(n))
    });
    let primary = || {
        files
            .iter()
            .find(|f| f.get("primary").and_then(|v| v.as_bool()) == Some(true))
    };
    let only = || (files.len() == 1).then(|| &files[0]);
    let file = named.or_else(primary).or_else(only)?;
    sha(file).map(|s| (s, HashSource::Civitai))
}

fn expected_of(record: &Record) -> Option<(Sha256, HashSource)> {
    let sha = Sha256::parse_hex(record.job.expected_sha256.as_deref()?).ok()?;
    Some((sha, record.job.sha256_source.unwrap_or(HashSource::Request)))
}

/// 1, 2, 4, 8, 16 s between failed requests.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1 << failures.saturating_sub(1).min(4))
}

/// What a client may read of an error: its own message for a client error, the table's
/// fixed text for a server error (whose cause is logged).
fn public(e: &ApiError) -> String {
    match e.code().detail() {
        Detail::Own => e.to_string(),
        Detail::Fixed(text) => {
            tracing::warn!(error = %e, "install failed on the server's side");
            text.to_owned()
        }
    }
}
