//! The content check every way in runs between "staged" and "published" (uploads, and in
//! fleet mode the objects a node downloads), as a trait so a service can bring its own.

use std::path::Path;

use lora_core::{Extension, Sha256};
use serde_json::{Value, json};

use crate::admission::{Admission, Refusal};
use crate::check::Check;
use crate::error::InspectError;
use crate::format::Format;
use crate::weights::{Incoming, Scanned};

/// Why a content check did not pass: a refusal (the content is at fault; an HTTP service
/// answers 400) or a check that could not run (500, the cause to the log).
#[derive(Debug, thiserror::Error)]
pub enum ContentRejection {
    /// The inspector refused the content, or could not read it
    /// ([`InspectError::is_content_error`] tells which).
    #[error("Invalid file content: {0}")]
    Invalid(#[source] InspectError),
    /// The file is valid but this server does not admit it: another kind than a LoRA
    /// (`Invalid file content: a full SDXL checkpoint, not a LoRA`), or a base model not
    /// on its allowlist.
    #[error("{}", not_admitted(.0))]
    NotAdmitted(#[from] Refusal),
    /// Another check (an embedding service's own) refused the content, with this message.
    #[error("{0}")]
    Refused(String),
    /// The check itself could not run.
    #[error("the content check could not run")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ContentRejection {
    /// Whether the content is at fault (a 400) rather than the checking of it (a 500).
    pub fn is_refusal(&self) -> bool {
        match self {
            ContentRejection::Invalid(e) => e.is_content_error(),
            ContentRejection::NotAdmitted(_) | ContentRejection::Refused(_) => true,
            ContentRejection::Failed(_) => false,
        }
    }
}

/// A file of another kind reads as invalid content, as the contract words refusals.
fn not_admitted(refusal: &Refusal) -> String {
    match refusal {
        Refusal::NotALora { .. } => format!("Invalid file content: {refusal}"),
        Refusal::BaseModel { .. } => refusal.to_string(),
    }
}

/// A complete upload (or downloaded object) before it is published.
#[derive(Debug)]
pub struct Candidate<'a> {
    /// Where its bytes are.
    pub path: &'a Path,
    /// The extension it was uploaded with.
    pub extension: Extension,
    /// What the scan [`ContentCheck::incoming`] asked for found while the bytes arrived;
    /// `None` when they did not stream through one (the check reads the file instead).
    pub scanned: Option<Scanned>,
}

impl<'a> Candidate<'a> {
    /// A file that did not stream through a scan.
    pub fn file(path: &'a Path, extension: Extension) -> Self {
        Self {
            path,
            extension,
            scanned: None,
        }
    }
}

/// What a passing check learnt about the file, for the store to keep beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checked {
    /// SHA-256 of the tensor data (the bytes after a safetensors header), when known.
    pub tensor_sha256: Option<Sha256>,
}

impl Checked {
    /// A check that learnt the tensor-data hash `tensor_sha256`.
    pub fn with_tensor_sha256(tensor_sha256: Option<Sha256>) -> Self {
        Self { tensor_sha256 }
    }
}

/// A check run on every complete, staged upload before it is published.
///
/// It runs on a blocking thread and may read the whole file. A rejection leaves nothing
/// behind: the staged file is removed.
pub trait ContentCheck: Send + Sync + 'static {
    /// A scan to hand an upload's bytes to, in order, while they arrive (on the thread
    /// that hashes them); what it found comes back in [`Candidate::scanned`]. `None` (the
    /// default) when the check reads nothing it could take from the stream.
    fn incoming(&self) -> Option<Incoming> {
        None
    }

    /// Checks the staged file.
    ///
    /// # Errors
    ///
    /// [`ContentRejection::Refused`] when the content does not match its extension or is
    /// unsafe; [`ContentRejection::Failed`] when it cannot be checked.
    fn check(&self, candidate: Candidate<'_>) -> Result<Checked, ContentRejection>;

    /// What the check offers, for the health route's `evaluator` section.
    fn describe(&self) -> Value {
        json!({ "content_validation": true })
    }
}

/// Accepts every file without looking (for embedding services that validate elsewhere).
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl ContentCheck for AcceptAll {
    fn check(&self, _: Candidate<'_>) -> Result<Checked, ContentRejection> {
        Ok(Checked::default())
    }

    fn describe(&self) -> Value {
        json!({ "content_validation": false })
    }
}

/// The contract's content validation, by `lora-inspect`: safetensors rules, the pickle
/// gate, content and extension agreeing, then the [`Admission`] rules (LoRAs only unless
/// told otherwise; an optional base-model allowlist; no NaN or Inf in any weight unless
/// told otherwise). Safetensors weights are scanned while the bytes arrive
/// ([`ContentCheck::incoming`]), or from the file when they did not stream through the
/// scan; PyTorch files (zip archives, legacy files) from the file.
#[derive(Debug, Clone, Default)]
pub struct InspectCheck {
    admission: Admission,
}

impl InspectCheck {
    /// Admits what `admission` admits.
    pub fn admitting(admission: Admission) -> Self {
        Self { admission }
    }
}

impl ContentCheck for InspectCheck {
    fn incoming(&self) -> Option<Incoming> {
        Some(Incoming::new())
    }

    fn check(&self, candidate: Candidate<'_>) -> Result<Checked, ContentRejection> {
        let path = candidate.path;
        let validated =
            crate::validate(path, candidate.extension).map_err(ContentRejection::Invalid)?;
        self.admission.admit(&validated.identity)?;
        let scanned = match candidate.scanned.filter(|s| s.complete) {
            Some(scanned) => scanned,
            None => validated
                .scan_weights(path)
                .map_err(ContentRejection::Invalid)?,
        };
        if !self.admission.unhealthy_weights
            && let Some(bad) = scanned.first_unhealthy()
        {
            return Err(ContentRejection::Invalid(InspectError::UnhealthyWeights {
                tensor: bad.name.clone(),
                nan_count: bad.nan_count,
                inf_count: bad.inf_count,
            }));
        }
        Ok(Checked::with_tensor_sha256(scanned.tensor_sha256))
    }

    fn describe(&self) -> Value {
        json!({
            "content_validation": true,
            "formats": Format::ALL.map(Format::as_str),
            "checks": Check::ALL.map(Check::as_str),
            "accept_base_models": self.admission.base_models.as_ref().map(|a| a.iter().map(|b| b.as_str()).collect::<Vec<_>>()),
            "accept_non_lora": self.admission.non_lora,
            "accept_unhealthy_weights": self.admission.unhealthy_weights,
        })
    }
}
