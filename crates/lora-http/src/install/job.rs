//! An install job as clients see it (`InstallJob`) and as the server keeps it across
//! restarts (`Record`: the job plus what only the fetch needs), one JSON file per job,
//! replaced whole (written beside, fsynced, renamed).

use std::fmt;
use std::io::Write as _;

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{EntityType, IfDuplicate, Sha256};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::routes::upload::answer::AdminLoRAUploadResponse;

/// Where a job is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum InstallStatus {
    /// Waiting for a place (`LORA_INSTALL_CONCURRENCY` run at once).
    Queued,
    /// Fetching bytes.
    Downloading,
    /// Verifying the hash, checking the content, publishing.
    Checking,
    /// Stored: `result` holds the upload answer.
    Done,
    /// Ended without storing anything: `error` says why.
    Failed,
    /// Cancelled by an admin; its partial bytes are gone.
    Cancelled,
}

impl InstallStatus {
    /// Every state, in life order (for figures by state).
    pub const ALL: [InstallStatus; 6] = [
        Self::Queued,
        Self::Downloading,
        Self::Checking,
        Self::Done,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The JSON spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Downloading => "downloading",
            Self::Checking => "checking",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the job has ended.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for InstallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who vouches for the expected SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HashSource {
    /// The request's `sha256`.
    Request,
    /// Hugging Face's `X-Linked-Etag` (LFS files).
    Huggingface,
    /// Civitai's model-version API.
    Civitai,
}

/// `InstallJob`: an install from a URL, as `GET /api/v1/admin/lora/install/{id}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstallJob {
    /// The job's id.
    #[schema(example = "3f2a9c0d5e7b41a8b6c4d2e0f1a3b5c7")]
    pub id: String,
    /// Where it is in its life.
    pub status: InstallStatus,
    /// The source as requested (user names, passwords and `token` values removed).
    pub url: String,
    /// The entity type folder it goes to.
    pub entity_type: EntityType,
    /// The file name it is stored under (before versioning): the request's, else the
    /// source's `Content-Disposition`, else the URL's last segment; null until known.
    pub filename: Option<String>,
    /// Whether a taken name is versioned (`_v2`, …) or refused.
    pub use_safe_filename: bool,
    /// What is done when the same bytes are live (`store`, `reuse`, `refuse`).
    pub if_duplicate: IfDuplicate,
    /// The SHA-256 the bytes must have, once known.
    #[schema(value_type = Option<String>)]
    pub expected_sha256: Option<Sha256>,
    /// Who vouches for `expected_sha256`.
    pub sha256_source: Option<HashSource>,
    /// Bytes fetched and kept so far.
    pub bytes_done: u64,
    /// The file's size, once the source said it.
    pub bytes_total: Option<u64>,
    /// Bytes per second over the current attempt, while downloading.
    pub rate_bytes_per_sec: Option<f64>,
    /// Requests made for the bytes (a cut connection is resumed with `Range`).
    pub attempts: u32,
    /// Why the job failed.
    pub error: Option<String>,
    /// When it was requested (RFC 3339 UTC).
    pub created_at: String,
    /// When its status last changed.
    pub updated_at: String,
    /// The admin who requested it (`sub`).
    pub requested_by: String,
    /// The upload answer, once done.
    pub result: Option<AdminLoRAUploadResponse>,
}

/// What a job's fetch keeps besides what clients see.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The job as shown.
    pub(crate) job: InstallJob,
    /// The source exactly as requested (may hold a token the admin put in it: never
    /// shown, never logged).
    pub(crate) source: String,
    /// The last answer's validator (`ETag`, else `Last-Modified`): a resumed download
    /// asks for the rest of *that* file (`If-Range`).
    #[serde(default)]
    pub(crate) validator: Option<String>,
}

/// Where jobs are kept: `{dir}/{id}.json` and the partial `{dir}/{id}.part`.
#[derive(Debug, Clone)]
pub(crate) struct Shelf {
    dir: Utf8PathBuf,
}

impl Shelf {
    /// The shelf in `dir` (created, 0700).
    pub(crate) fn open(dir: &Utf8Path) -> std::io::Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// The partial download of job `id`.
    pub(crate) fn partial(&self, id: &str) -> Utf8PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    fn record(&self, id: &str) -> Utf8PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Every record kept (unreadable ones are logged and left alone). What a crash can
    /// leave besides is removed: a record being written (`.record-*`), and a partial
    /// whose job has no record (one cancelled while its download was being opened).
    pub(crate) fn load(&self) -> Vec<Record> {
        let Ok(entries) = self.dir.read_dir_utf8() else {
            return Vec::new();
        };
        let entries: Vec<_> = entries.filter_map(Result::ok).collect();
        for entry in &entries {
            let name = entry.file_name();
            let orphan = name
                .strip_suffix(".part")
                .is_some_and(|id| !self.record(id).exists());
            if name.starts_with(".record-") || orphan {
                tracing::info!(path = %entry.path(), "removing an install's leftover");
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let mut records: Vec<Record> = entries
            .iter()
            .filter(|e| e.path().extension() == Some("json"))
            .filter_map(|e| {
                let read = std::fs::read(e.path())
                    .map_err(|e| e.to_string())
                    .and_then(|b| serde_json::from_slice::<Record>(&b).map_err(|e| e.to_string()));
                match read {
                    Ok(record) => Some(record),
                    Err(error) => {
                        tracing::warn!(path = %e.path(), error, "an install record cannot be read; left as it is");
                        None
                    }
                }
            })
            .collect();
        records.sort_by(|a, b| a.job.created_at.cmp(&b.job.created_at));
        records
    }

    /// Writes `record` whole: a crash leaves the old one or the new one.
    pub(crate) fn save(&self, record: &Record) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(record)?;
        let mut temp = tempfile::Builder::new()
            .prefix(".record-")
            .tempfile_in(&self.dir)?;
        temp.write_all(&bytes)?;
        temp.as_file().sync_all()?;
        temp.persist(self.record(&record.job.id))
            .map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes job `id`'s record and partial.
    pub(crate) fn remove(&self, id: &str) {
        for path in [self.record(id), self.partial(id)] {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(%path, error = %e, "cannot remove an install's file");
            }
        }
    }
}

/// What the records' writer does, in the order asked.
#[derive(Debug)]
pub(crate) enum Write {
    /// Replace a job's record.
    Save(Box<Record>),
    /// Remove a job's record and partial.
    Forget(String),
    /// Answer once everything asked before is on disk.
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// Writes job records off the async workers (each save is an fsync), one at a time and
/// in the order asked, so a job's later state is never overwritten by an earlier one; of
/// several saves of one job waiting together, only the last is written.
#[derive(Debug, Clone)]
pub(crate) struct Writer(std::sync::mpsc::Sender<Write>);

impl Writer {
    /// Starts the writer's thread over `shelf`.
    pub(crate) fn start(shelf: Shelf) -> std::io::Result<Self> {
        let (send, receive) = std::sync::mpsc::channel::<Write>();
        std::thread::Builder::new()
            .name("install-records".into())
            .spawn(move || {
                while let Ok(first) = receive.recv() {
                    let batch: Vec<Write> = std::iter::once(first).chain(receive.try_iter()).collect();
                    for (i, write) in batch.iter().enumerate() {
                        match write {
                            Write::Save(record) => {
                                let id = &record.job.id;
                                let superseded = batch[i + 1..]
                                    .iter()
                                    .any(|w| matches!(w, Write::Save(r) if r.job.id == *id));
                                if superseded {
                                    continue;
                                }
                                if let Err(e) = shelf.save(record) {
                                    tracing::warn!(id, error = %e, "cannot write an install record");
                                }
                            }
                            Write::Forget(id) => shelf.remove(id),
                            Write::Flush(done) => {
                                let _ = done.send(());
                            }
                        }
                    }
                }
            })?;
        Ok(Self(send))
    }

    /// Asks for `write`; a writer that is gone (its thread panicked) is logged.
    pub(crate) fn ask(&self, write: Write) {
        if self.0.send(write).is_err() {
            tracing::error!("the install records' writer is gone: records are not kept");
        }
    }

    /// Waits until everything asked so far is on disk (call it from blocking code).
    pub(crate) fn flush(&self) {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        self.ask(Write::Flush(done));
        let _ = wait.recv();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, status: InstallStatus) -> Record {
        Record {
            job: InstallJob {
                id: id.into(),
                status,
                url: "https://example.com/a.safetensors".into(),
                entity_type: EntityType::Styles,
                filename: None,
                use_safe_filename: true,
                if_duplicate: IfDuplicate::Store,
                expected_sha256: None,
                sha256_source: None,
                bytes_done: 0,
                bytes_total: None,
                rate_bytes_per_sec: None,
                attempts: 0,
                error: None,
                created_at: format!("2026-12-07T10:00:0{}Z", id.len()),
                updated_at: "2026-12-07T10:00:00Z".into(),
                requested_by: "admin".into(),
                result: None,
            },
            source: "https://example.com/a.safetensors?token=secret".into(),
            validator: Some("\"v1\"".into()),
        }
    }

    #[test]
    fn records_survive_whole_and_a_crash_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap().join("installs");
        let shelf = Shelf::open(&root).unwrap();
        shelf
            .save(&record("a", InstallStatus::Downloading))
            .unwrap();
        shelf.save(&record("bb", InstallStatus::Queued)).unwrap();
        std::fs::write(shelf.partial("a"), b"kept bytes").unwrap();
        // What a crash can leave: a record half written, a partial without its record.
        std::fs::write(root.join(".record-x1y2"), b"{").unwrap();
        std::fs::write(shelf.partial("gone"), b"orphan").unwrap();
        std::fs::write(root.join("damaged.json"), b"{not json").unwrap();

        let loaded = shelf.load();
        let ids: Vec<&str> = loaded.iter().map(|r| r.job.id.as_str()).collect();
        assert_eq!(
            ids,
            ["a", "bb"],
            "oldest first; the damaged record is skipped"
        );
        assert_eq!(loaded[0].validator.as_deref(), Some("\"v1\""));
        assert_eq!(std::fs::read(shelf.partial("a")).unwrap(), b"kept bytes");
        assert!(!shelf.partial("gone").exists());
        assert!(!root.join(".record-x1y2").exists());
        assert!(root.join("damaged.json").exists(), "left for the operator");

        shelf.remove("a");
        assert!(!shelf.partial("a").exists());
        assert_eq!(shelf.load().len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&root).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn the_writer_keeps_changes_in_order_and_flush_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap().join("installs");
        let shelf = Shelf::open(&root).unwrap();
        shelf.save(&record("gone", InstallStatus::Failed)).unwrap();
        std::fs::write(shelf.partial("gone"), b"bytes").unwrap();
        let writer = Writer::start(shelf.clone()).unwrap();
        for status in [
            InstallStatus::Queued,
            InstallStatus::Downloading,
            InstallStatus::Done,
        ] {
            writer.ask(Write::Save(Box::new(record("a", status))));
        }
        writer.ask(Write::Forget("gone".into()));
        writer.flush();
        let loaded = shelf.load();
        assert_eq!(loaded.len(), 1);
        assert_eq!(
            loaded[0].job.status,
            InstallStatus::Done,
            "the last state wins"
        );
        assert!(!shelf.partial("gone").exists());
    }
}
