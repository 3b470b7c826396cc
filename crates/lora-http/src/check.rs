//! The content check in the upload pipeline, between "staged" and "published".

use std::error::Error as _;
use std::path::Path;

use lora_core::Extension;
use lora_inspect::{BaseModel, Check, Format};
use serde_json::{Value, json};

/// Why a content check did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentRejection {
    /// The content is refused (answered 400 with this message).
    Refused(String),
    /// The check itself failed, e.g. the staged file could not be read (answered 500).
    Failed(String),
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
        let validated = lora_inspect::validate(path, extension).map_err(|e| {
            if e.is_content_error() {
                ContentRejection::Refused(format!("Invalid file content: {e}"))
            } else {
                // The reading failed: name its cause, not the inspector's wording of it.
                let cause = e
                    .source()
                    .map_or_else(|| e.to_string(), ToString::to_string);
                ContentRejection::Failed(format!("cannot read the staged upload: {cause}"))
            }
        })?;
        if let Some(accept) = &self.accept
            && !accept.contains(&validated.base_model)
        {
            let listed: Vec<&str> = accept.iter().map(|b| b.as_str()).collect();
            return Err(ContentRejection::Refused(format!(
                "Base model '{}' is not accepted on this server (accepted: {})",
                validated.base_model.as_str(),
                listed.join(", ")
            )));
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
