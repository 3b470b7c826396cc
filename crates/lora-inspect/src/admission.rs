//! Which valid, safe files an upload gate admits: LoRAs (and other adapters) only, unless
//! told otherwise, and of the listed families only, when a list is given.

use crate::analyze::Structure;
use crate::base_model::BaseModel;
use crate::kind::FileKind;

/// What the admission rules look at: what the file is and which family it was made for.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// What the file is.
    pub kind: FileKind,
    /// For people: `a full SDXL checkpoint`, `an SD1 textual-inversion embedding`,
    /// `a LoRA`.
    pub description: String,
    /// The family (`unknown` when the evidence does not settle on one).
    pub base_model: BaseModel,
    /// When the evidence is split, the families it fits.
    pub candidates: Vec<BaseModel>,
}

impl Identity {
    pub(crate) fn of(structure: &Structure) -> Self {
        Self {
            kind: structure.kind,
            description: structure.kind_detail.describe(),
            base_model: structure.base_model,
            candidates: structure.identification.candidates.clone(),
        }
    }
}

/// The admission rules of an upload gate (`LORA_ACCEPT_NON_LORA`,
/// `LORA_ACCEPT_BASE_MODELS`, `LORA_ACCEPT_UNHEALTHY_WEIGHTS`).
///
/// ```
/// use lora_inspect::{Admission, BaseModel, FileKind, Identity};
///
/// let sdxl_only = Admission { base_models: Some(vec![BaseModel::Sdxl]), ..Admission::default() };
/// let embedding = Identity {
///     kind: FileKind::Embedding,
///     description: "an SDXL textual-inversion embedding".into(),
///     base_model: BaseModel::Sdxl,
///     candidates: vec![],
/// };
/// let refused = sdxl_only.admit(&embedding).unwrap_err();
/// assert_eq!(refused.to_string(), "an SDXL textual-inversion embedding, not a LoRA");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Admission {
    /// Only files of these families (`None`: any). `unknown` in the list admits files
    /// whose family is unknown or split between candidates; without it they are refused.
    pub base_models: Option<Vec<BaseModel>>,
    /// Admit files positively identified as checkpoints, embeddings, VAEs or ControlNets.
    pub non_lora: bool,
    /// Admit files whose weights hold NaN or Inf (refused by default: a pipeline that
    /// loads one renders black images).
    pub unhealthy_weights: bool,
}

/// Why [`Admission::admit`] refused a file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The file is another kind than a LoRA.
    #[error("{description}, not a LoRA")]
    NotALora {
        /// `a full SDXL checkpoint`.
        description: String,
    },
    /// The family is not on the list.
    #[error(
        "Base model '{}'{} is not accepted on this server (accepted: {})",
        found.as_str(),
        if candidates.is_empty() { String::new() } else { format!(" (the evidence fits {})", list(candidates)) },
        list(accepted)
    )]
    BaseModel {
        /// The family found (`unknown` when split).
        found: BaseModel,
        /// The families the evidence fits, when split.
        candidates: Vec<BaseModel>,
        /// The accepted families.
        accepted: Vec<BaseModel>,
    },
}

fn list(families: &[BaseModel]) -> String {
    families
        .iter()
        .map(|b| b.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Admission {
    /// Admits or refuses a file by what it is.
    ///
    /// # Errors
    ///
    /// [`Refusal::NotALora`] for another kind of file unless [`non_lora`](Self::non_lora);
    /// [`Refusal::BaseModel`] for a family not in [`base_models`](Self::base_models).
    pub fn admit(&self, identity: &Identity) -> Result<(), Refusal> {
        if identity.kind.is_other() && !self.non_lora {
            return Err(Refusal::NotALora {
                description: identity.description.clone(),
            });
        }
        if let Some(accepted) = &self.base_models
            && !accepted.contains(&identity.base_model)
        {
            return Err(Refusal::BaseModel {
                found: identity.base_model,
                candidates: identity.candidates.clone(),
                accepted: accepted.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lora(base_model: BaseModel, candidates: Vec<BaseModel>) -> Identity {
        Identity {
            kind: FileKind::Lora,
            description: "a LoRA".into(),
            base_model,
            candidates,
        }
    }

    #[test]
    fn unknown_and_split_families_pass_only_when_unknown_is_listed() {
        let strict = Admission {
            base_models: Some(vec![BaseModel::Flux]),
            ..Admission::default()
        };
        let split = lora(
            BaseModel::Unknown,
            vec![BaseModel::Flux, BaseModel::HunyuanVideo],
        );
        assert_eq!(
            strict.admit(&split).unwrap_err().to_string(),
            "Base model 'unknown' (the evidence fits flux, hunyuan_video) is not accepted on this server (accepted: flux)"
        );
        assert!(strict.admit(&lora(BaseModel::Flux, vec![])).is_ok());
        let lenient = Admission {
            base_models: Some(vec![BaseModel::Flux, BaseModel::Unknown]),
            ..Admission::default()
        };
        assert!(lenient.admit(&split).is_ok());
        assert!(Admission::default().admit(&split).is_ok());
    }

    #[test]
    fn other_kinds_need_their_own_permission() {
        let checkpoint = Identity {
            kind: FileKind::Checkpoint,
            description: "a full SDXL checkpoint".into(),
            base_model: BaseModel::Sdxl,
            candidates: vec![],
        };
        assert_eq!(
            Admission::default().admit(&checkpoint).unwrap_err(),
            Refusal::NotALora {
                description: "a full SDXL checkpoint".into()
            }
        );
        let both = Admission {
            base_models: Some(vec![BaseModel::Sdxl]),
            non_lora: true,
            ..Admission::default()
        };
        assert!(both.admit(&checkpoint).is_ok());
        // A file of unknown kind (no adapter modules, nothing else recognised) is
        // accepted as before, with its warning.
        let odd = Identity {
            kind: FileKind::Unknown,
            ..lora(BaseModel::Unknown, vec![])
        };
        assert!(Admission::default().admit(&odd).is_ok());
    }
}
