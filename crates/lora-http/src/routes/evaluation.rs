//! `POST /api/v1/evaluation/`: reports on stored files, without loading them into a model.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use lora_core::PartialPath;
use lora_inspect::{Hashing, Report};
use lora_store::{Store, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

use super::blocking;
use super::paths::Asked;
use crate::error::{HttpError, HttpValidationError};
use crate::extract::json::ApiJson;
use crate::{ApiError, AppState, UserClaims};

/// The evaluation request: one `partial_path`, or a list in `partial_paths`.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
pub struct EvaluationRequest {
    /// A stored file, relative to the LoRA folder.
    #[serde(default)]
    #[schema(example = "identities/x.safetensors")]
    pub partial_path: Option<PartialPath>,
    /// 1 to 100 stored files; wins over `partial_path`.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 100)]
    pub partial_paths: Option<Vec<PartialPath>>,
    /// Also compute `hashes.tensor_sha256` (A1111's LoRA hash): one more pass over each
    /// file. Default `false`: the field is then `null`.
    #[serde(default)]
    pub tensor_hash: Option<bool>,
}

impl EvaluationRequest {
    fn asked(self) -> Result<Asked, ApiError> {
        Asked::from_body(self.partial_path, self.partial_paths)
    }
}

/// The answer to a `partial_paths` request.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationBatch {
    /// One report per path, in request order.
    pub reports: Vec<Report>,
}

/// Run evaluation.
///
/// Evaluates stored LoRA files without loading them into a model: format, hashes, base
/// model, network type, rank and alpha, per-module strength, weight health (NaN/Inf/max),
/// metadata, pickle globals, findings and a verdict (`pass`, `warn`, `fail`). A file that
/// is not a valid LoRA gets a `fail` report, not an error. One `partial_path` answers one
/// report; `partial_paths` answers `{"reports": [...]}` in request order.
#[utoipa::path(
    post,
    path = "/api/v1/evaluation/",
    tag = "evaluation",
    operation_id = "evaluate",
    request_body(content = EvaluationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One report, or `{\"reports\": [...]}` for `partial_paths`", body = Report),
        (status = 400, description = "A path is not inside the LoRA folder", body = HttpError),
        (status = 401, description = "Missing or invalid token", body = HttpError),
        (status = 404, description = "No such file", body = HttpError),
        (status = 408, description = "The body sent nothing for the idle timeout (LORA_UPLOAD_IDLE_TIMEOUT_SECS)", body = HttpError),
        (status = 413, description = "Body larger than 64 KiB", body = HttpError),
        (status = 422, description = "The body does not match the schema", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
        (status = 503, description = "The data directory is unavailable", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn evaluate(
    _claims: UserClaims,
    ApiJson(request): ApiJson<EvaluationRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tensor_hash = request.tensor_hash.unwrap_or(false);
    let (paths, batch) = match request.asked()? {
        Asked::One(one) => (vec![one], false),
        Asked::Batch(list) => (list, true),
    };
    let store = Arc::clone(&state.local);
    let repository = Arc::clone(&state.repository);
    let metrics = Arc::clone(&state.metrics);
    let mut reports = blocking(move || {
        paths
            .iter()
            .map(|path| {
                // On this node's disk first (a working set may not hold it), and used now.
                repository.ensure(path, std::time::Duration::ZERO)?;
                let started = std::time::Instant::now();
                let report = evaluate_stored(&store, path, tensor_hash)?;
                metrics
                    .evaluation_seconds
                    .observe(started.elapsed().as_secs_f64());
                metrics
                    .verdicts
                    .get_or_create(&crate::observe::metrics::VerdictLabel {
                        verdict: report.verdict.as_str().to_owned(),
                    })
                    .inc();
                for finding in &report.findings {
                    metrics
                        .findings
                        .get_or_create(&crate::observe::metrics::Code {
                            code: finding.code.as_str().to_owned(),
                        })
                        .inc();
                }
                Ok(report)
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    match reports.pop() {
        Some(report) if !batch => Ok(HttpResponse::Ok().json(report)),
        last => {
            reports.extend(last);
            Ok(HttpResponse::Ok().json(EvaluationBatch { reports }))
        }
    }
}

/// How often a file that keeps being removed or replaced while it is read is looked at
/// again before the answer is that it is not there.
const ATTEMPTS: usize = 3;

/// Evaluates one stored file, with the SHA-256 the store remembers for it when it has one
/// (saving a full pass), and teaches the store the hash when it had none.
///
/// A file removed or replaced while it is read (deleted, maybe uploaded again under the
/// same name) may pair the remembered hash with other bytes, or vanish under the reader:
/// it is looked at again, with every hash computed, and is a 404 once it is gone (or when
/// it changed under each of [`ATTEMPTS`] reads: no version of it held still to be read).
fn evaluate_stored(
    store: &Store,
    path: &PartialPath,
    tensor_sha256: bool,
) -> Result<Report, ApiError> {
    for attempt in 0..ATTEMPTS {
        let seen = store.examine(path)?;
        // Only the first look may trust the remembered hashes; later ones saw a change.
        let known_tensor = seen.tensor_sha256.filter(|_| attempt == 0);
        let hashing = Hashing {
            known_sha256: seen.sha256.filter(|_| attempt == 0),
            tensor_sha256: tensor_sha256 && known_tensor.is_none(),
        };
        let result = lora_inspect::evaluate_with(seen.path.as_std_path(), &hashing);
        if !store.unchanged(path, &seen) {
            continue;
        }
        let mut report = result?;
        // A remembered tensor hash costs nothing: it is given even when not asked for.
        report.hashes.tensor_sha256 = report.hashes.tensor_sha256.or(known_tensor);
        if seen.sha256.is_none() {
            store.remember_sha256(path, &seen, report.sha256);
        }
        report.partial_path = path.to_string();
        return Ok(report);
    }
    Err(StoreError::NotFound { path: path.clone() }.into())
}
