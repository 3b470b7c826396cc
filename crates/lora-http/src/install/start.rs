//! The request side of installs: the body checked (400/422 before any job exists) into a
//! record kept on disk, and a task started for it, now or after a restart.

use std::sync::Arc;
use std::time::Duration;

use lora_core::{EntityType, IfDuplicate, SafeFileName, Sha256, UploadRoute};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::InstallError;
use super::job::{HashSource, InstallJob, InstallStatus, Record};
use super::jobs::{Entry, Installs, Progress};
use super::source::{Source, redacted};
use crate::ApiError;
use crate::ingest::Ingest;

/// How long a request waits for its source's name to resolve before it answers.
const RESOLVE_AT_REQUEST: Duration = Duration::from_secs(2);

/// `InstallRequest`: what to fetch and where it goes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct InstallRequest {
    /// `https://…` (plain `http://` only with `LORA_INSTALL_ALLOW_HTTP=true`),
    /// `hf://{owner}/{repo}[@{revision}]/{path}`, or a Civitai download
    /// (`https://civitai.com/api/download/models/{versionId}`).
    #[schema(example = "hf://alice/ink-styles/ink_wash.safetensors")]
    pub url: String,
    /// The entity type folder (admin rules: `faces` allowed); missing or empty →
    /// `no_type_provided`, as on the upload routes.
    #[serde(default)]
    pub entity_type: Option<String>,
    /// The name to store it under; default: the source's `Content-Disposition` name, else
    /// the URL's last segment. The same safe-name rules as uploads.
    #[serde(default)]
    pub filename: Option<String>,
    /// Version a taken name (`_v2`, …; default) or refuse it (the job fails with 409's
    /// message).
    #[serde(default = "yes")]
    pub use_safe_filename: bool,
    /// The SHA-256 the file must have (64 hex digits); default: the publisher's, when it
    /// gives one (Hugging Face LFS files, Civitai).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub sha256: Option<Sha256>,
    /// `true` is short for `"entity_type": "faces"`.
    #[serde(default)]
    pub faces: Option<bool>,
    /// What is done when the same bytes are live (as on uploads).
    #[serde(default)]
    pub if_duplicate: IfDuplicate,
}

fn yes() -> bool {
    true
}

impl InstallRequest {
    fn entity(&self) -> Result<EntityType, ApiError> {
        let faces = self.faces == Some(true);
        let given = EntityType::parse_form(self.entity_type.as_deref(), UploadRoute::Admin)?;
        match (faces, given) {
            (false, entity) => Ok(entity),
            (true, EntityType::Faces | EntityType::NoTypeProvided) => Ok(EntityType::Faces),
            (true, other) => Err(ApiError::BadRequest(format!(
                "faces=true names the entity type faces, but entity_type is {other}"
            ))),
        }
    }
}

/// Checks `request` (400/422 before any job exists), keeps its record and starts it.
///
/// # Errors
///
/// [`ApiError::Core`] for an entity type or name the rules refuse, [`ApiError::Install`]
/// for a source that cannot or may not be fetched.
pub(crate) async fn start(
    installs: &Arc<Installs>,
    ingest: &Ingest,
    max_bytes: u64,
    request: InstallRequest,
    requested_by: String,
) -> Result<InstallJob, ApiError> {
    let entity = request.entity()?;
    if let Some(name) = &request.filename {
        SafeFileName::from_client(name)?;
    }
    let source = Source::parse(&request.url, &installs.fetcher.endpoints)?;
    installs.fetcher.guard.check_url(source.url())?;
    if let Some(url::Host::Domain(host)) = source.url().host() {
        let resolved =
            actix_web::rt::time::timeout(RESOLVE_AT_REQUEST, installs.fetcher.guard.resolve(host))
                .await;
        // A name that does not resolve now (or not quickly) may later: the job says so
        // if it does not. A name that resolves to refused addresses is refused now.
        if let Ok(Err(e @ InstallError::Refused { .. })) = resolved {
            return Err(e.into());
        }
    }
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|_| ApiError::Internal("no randomness for a job id"))?;
    let at = lora_core::timestamp::now();
    let record = Record {
        job: InstallJob {
            id: hex::encode(id),
            status: InstallStatus::Queued,
            url: redacted(&request.url),
            entity_type: entity,
            filename: request.filename.clone(),
            use_safe_filename: request.use_safe_filename,
            if_duplicate: request.if_duplicate,
            expected_sha256: request.sha256,
            sha256_source: request.sha256.map(|_| HashSource::Request),
            bytes_done: 0,
            bytes_total: None,
            rate_bytes_per_sec: None,
            attempts: 0,
            error: None,
            created_at: at.clone(),
            updated_at: at,
            requested_by,
            result: None,
        },
        source: request.url.trim().to_owned(),
        validator: None,
    };
    // On disk before it is answered (the writer keeps its later changes in order).
    let shelf = installs.shelf.clone();
    let kept = record.clone();
    crate::task::blocking(move || {
        shelf.save(&kept).map_err(|e| {
            tracing::error!(error = %e, "cannot keep an install record");
            ApiError::Install(InstallError::Unavailable)
        })
    })
    .await?;
    installs.prune();
    let job = record.job.clone();
    installs.jobs().insert(
        job.id.clone(),
        Entry {
            record,
            progress: Arc::new(Progress::default()),
            task: None,
        },
    );
    tracing::info!(id = job.id, url = job.url, "install queued");
    spawn(installs, ingest, max_bytes, &job.id);
    Ok(job)
}

/// Starts every queued job (those a restart found unfinished).
pub(crate) fn resume(installs: &Arc<Installs>, ingest: &Ingest, max_bytes: u64) {
    let queued: Vec<String> = installs
        .jobs()
        .iter()
        .filter(|(_, e)| e.record.job.status == InstallStatus::Queued && e.task.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    for id in queued {
        tracing::info!(id, "install resumed after a restart");
        spawn(installs, ingest, max_bytes, &id);
    }
}

fn spawn(installs: &Arc<Installs>, ingest: &Ingest, max_bytes: u64, id: &str) {
    let task = actix_web::rt::spawn(super::run::run(
        Arc::clone(installs),
        ingest.clone(),
        max_bytes,
        id.to_owned(),
    ));
    if let Some(entry) = installs.jobs().get_mut(id) {
        entry.task = Some(task);
    }
}
