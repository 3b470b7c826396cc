//! `POST /api/v1/evaluation/`: reports on stored files, without loading them into a model.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use lora_core::{PartialPath, Sha256};
use lora_inspect::{Hashing, InspectError, Report};
use lora_store::{Examined, Store};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::blocking;
use super::files::{json_object, optional_bool_field, read_body};
use crate::error::{HttpError, HttpValidationError, ValidationIssue};
use crate::openapi::PartialPathString;
use crate::{ApiError, AppState, UserClaims};

/// Largest batch evaluated in one request.
const MAX_BATCH: usize = 100;

/// The evaluation request: one `partial_path`, or a list in `partial_paths`.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
pub struct EvaluationRequest {
    /// A stored file, relative to the LoRA folder.
    #[schema(
        example = "identities/x.safetensors",
        pattern = "^(clothes|faces|identities|no_type_provided|product|styles)/[^/\\\\\\u0000]*[^./\\\\\\u0000][^/\\\\\\u0000]*$",
        max_length = 300
    )]
    pub partial_path: Option<String>,
    /// 1 to 100 stored files; wins over `partial_path`.
    #[schema(min_items = 1, max_items = 100, value_type = Option<Vec<PartialPathString>>)]
    pub partial_paths: Option<Vec<String>>,
    /// Also compute `hashes.tensor_sha256` (A1111's LoRA hash): one more pass over each
    /// file. Default `false`: the field is then `null`.
    pub tensor_hash: Option<bool>,
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
        (status = 413, description = "Body larger than 64 KiB", body = HttpError),
        (status = 422, description = "The body does not match the schema", body = HttpValidationError),
        (status = 500, description = "Unexpected failure", body = HttpError),
    ),
    security(("HTTPBearer" = []))
)]
pub(crate) async fn evaluate(
    _claims: UserClaims,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, 64 * 1024).await?;
    let mut object = json_object(&body)?;
    // `null` means "not given", as for any optional field.
    let listed = object.remove("partial_paths").filter(|v| !v.is_null());
    let (paths, batch) = match (listed, object.remove("partial_path")) {
        (Some(list), _) => (string_list(list)?, true),
        (None, Some(Value::String(one))) => (vec![one], false),
        (None, Some(_)) => {
            return Err(ApiError::invalid(ValidationIssue::new(
                &["body", "partial_path"],
                "string_type",
                "Input should be a valid string",
            )));
        }
        (None, None) => {
            return Err(ApiError::invalid(ValidationIssue::missing(&[
                "body",
                "partial_path",
            ])));
        }
    };
    let tensor_hash = optional_bool_field(&mut object, "tensor_hash")?.unwrap_or(false);
    let paths = paths
        .iter()
        .map(|p| PartialPath::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let store = Arc::clone(&state.store);
    let reports = blocking(move || {
        paths
            .iter()
            .map(|path| evaluate_stored(&store, path, tensor_hash))
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    if batch {
        Ok(HttpResponse::Ok().json(EvaluationBatch { reports }))
    } else {
        Ok(HttpResponse::Ok().json(&reports[0]))
    }
}

/// Evaluates one stored file, with the SHA-256 the store remembers for it when it has one
/// (saving a full pass), and teaches the store the hash when it had none.
fn evaluate_stored(
    store: &Store,
    path: &PartialPath,
    tensor_sha256: bool,
) -> Result<Report, ApiError> {
    let run = |file: &Examined, known_sha256: Option<Sha256>| {
        let hashing = Hashing {
            known_sha256,
            tensor_sha256,
        };
        lora_inspect::evaluate_with(file.path.as_std_path(), &hashing).map_err(|e| match e {
            InspectError::Io(e) => ApiError::Internal(format!("cannot read {path}: {e}")),
            other => ApiError::Internal(other.to_string()),
        })
    };
    let seen = store.examine(path)?;
    // A remembered hash that does not parse is computed again, not trusted.
    let known = seen
        .sha256
        .as_deref()
        .and_then(|h| Sha256::parse_hex(h).ok());
    let first = run(&seen, known);
    let mut report = if store.unchanged(path, &seen) {
        let report = first?;
        if seen.sha256.is_none() {
            store.remember_sha256(path, &seen, report.sha256.to_hex());
        }
        report
    } else {
        // Removed or replaced while it was read (deleted, maybe uploaded again): the
        // remembered hash and the bytes read may belong to different files. Look again:
        // 404 if it is gone, else read the new file whole.
        let now = store.examine(path)?;
        run(&now, None)?
    };
    report.partial_path = path.to_string();
    Ok(report)
}

fn string_list(value: Value) -> Result<Vec<String>, ApiError> {
    let issue = |kind: &str, msg: &str| {
        ApiError::invalid(ValidationIssue::new(&["body", "partial_paths"], kind, msg))
    };
    let Value::Array(items) = value else {
        return Err(issue("list_type", "Input should be a valid list"));
    };
    if items.is_empty() {
        return Err(issue(
            "too_short",
            "List should have at least 1 item after validation, not 0",
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(issue(
            "too_long",
            &format!("List should have at most {MAX_BATCH} items after validation"),
        ));
    }
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(issue("string_type", "Input should be a valid string")),
        })
        .collect()
}
