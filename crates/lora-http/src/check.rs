//! The content check in the upload pipeline, between "staged" and "published".

use std::path::Path;

use lora_core::Extension;
use lora_inspect::{BaseModel, Check, Format, InspectError};
use serde_json::{Value, json};

/// Why a content check did not pass. [`crate::ApiError`] decides the status: 400 for a
/// refusal, 500 when the check could not run (the cause goes to the log).
#[derive(Debug, thiserror::Error)]
pub enum ContentRejection {
    /// The inspector refused the content, or could not read it
    /// ([`InspectError::is_content_error`] tells which).
    #[error("Invalid file content: {0}")]
    Invalid(#[source] InspectError),
    /// The detected base model is not on this server's allowlist.
    #[error("Base model '{found}' is not accepted on this server (accepted: {accepted})")]
    BaseModelNotAccepted {
        /// The detected base model.
        found: &'static str,
        /// The accepted ones, comma-separated.
        accepted: String,
    },
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
            ContentRejection::BaseModelNotAccepted { .. } | ContentRejection::Refused(_) => true,
            ContentRejection::Failed(_) => false,
        }
    }
}

/// A check run on every complete, staged upload before it is published.
///
/// It runs on a blocking thread and may read the whole file. A rejection leaves nothing
/// behind: the staged file is removed.
pub trait ContentCheck: Send + Sync + 'static {
    /// Checks the staged file at `path`, uploaded with extension `extension`.
    ///
    /// # Errors
    ///
    /// [`ContentRejection::Refused`] when the content does not match its extension or is
    /// unsafe; [`ContentRejection::Failed`] when it cannot be checked.
    fn check(&self, path: &Path, extension: Extension) -> Result<(), ContentRejection>;

    /// What the check offers, for the health route's `evaluator` section.
    fn describe(&self) -> Value {
        json!({ "content_validation": true })
    }
}

/// Accepts every file without looking (for embedding services that validate elsewhere).
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl ContentCheck for AcceptAll {
    fn check(&self, _: &Path, _: Extension) -> Result<(), ContentRejection> {
        Ok(())
    }

    fn describe(&self) -> Value {
        json!({ "content_validation": false })
    }
}

/// The contract's content validation, by `lora-inspect`: safetensors rules, the pickle
/// gate, content and extension agreeing, and an optional base-model allowlist.
#[derive(Debug, Clone, Default)]
pub struct InspectCheck {
    accept: Option<Vec<BaseModel>>,
}

impl InspectCheck {
    /// Accepts only LoRAs whose detected base model is listed (`None`: accept all).
    pub fn accepting(base_models: Option<Vec<BaseModel>>) -> Self {
        Self {
            accept: base_models,
        }
    }
}

impl ContentCheck for InspectCheck {
    fn check(&self, path: &Path, extension: Extension) -> Result<(), ContentRejection> {
        let validated =
            lora_inspect::validate(path, extension).map_err(ContentRejection::Invalid)?;
        if let Some(accept) = &self.accept
            && !accept.contains(&validated.base_model)
        {
            let listed: Vec<&str> = accept.iter().map(|b| b.as_str()).collect();
            return Err(ContentRejection::BaseModelNotAccepted {
                found: validated.base_model.as_str(),
                accepted: listed.join(", "),
            });
        }
        Ok(())
    }

    fn describe(&self) -> Value {
        json!({
            "content_validation": true,
            "formats": Format::ALL.map(Format::as_str),
            "checks": Check::ALL.map(Check::as_str),
            "accept_base_models": self.accept.as_ref().map(|a| a.iter().map(|b| b.as_str()).collect::<Vec<_>>()),
        })
    }
}
