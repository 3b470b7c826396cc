//! The catalogue: every finding's stable code with its severity and advice, and the
//! [`Finding`] a report carries. Kept apart from the judging so the contract clients match
//! on (and docs/FINDINGS.md is checked against, through [`FindingCode::ALL`]) changes only
//! when a code is added, never when a rule is tuned.

use std::fmt;

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    /// The API spelling (`info`, `warning`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What a finding is about: its stable code, how serious it is and what to do.
///
/// The codes are a contract (clients match on them; docs/FINDINGS.md lists them): a
/// variant's [`as_str`](Self::as_str) never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingCode {
    /// The file breaks a safetensors rule.
    InvalidSafetensors,
    /// The archive is not a valid `torch.save` zip.
    InvalidPytorchZip,
    /// The pickle is truncated or malformed.
    InvalidPickle,
    /// The content is another format than the extension says.
    FormatMismatch,
    /// The pickle imports globals a weights-only state dict never needs.
    UnsafePickleGlobal,
    /// The file is a checkpoint, embedding, VAE or ControlNet, not a LoRA.
    NotALora,
    /// Some weights are NaN.
    NanWeights,
    /// Some weights are infinite.
    InfWeights,
    /// A pickle-based format.
    PickleFormat,
    /// Neither metadata, key names nor shapes tell the base model.
    UnknownBaseModel,
    /// The evidence fits several base models, or metadata and keys disagree.
    ConflictingBaseModel,
    /// No LoRA-style modules were found.
    NoLoraModules,
    /// Modules scale their update far past what trainers produce (alpha ≫ rank).
    Overscaled,
    /// A module is far stronger than the others.
    StrongModule,
    /// Some weights are very large.
    LargeWeights,
    /// A LyCORIS/PEFT variant was seen.
    NetworkVariant,
    /// Modules have different ranks.
    MixedRanks,
    /// The LoRA also changes the text encoder(s).
    TextEncoderTrained,
    /// The safetensors header has no `__metadata__`.
    NoMetadata,
}

impl FindingCode {
    /// Every code, most serious first (the order of docs/FINDINGS.md).
    pub const ALL: [FindingCode; 19] = [
        FindingCode::InvalidSafetensors,
        FindingCode::InvalidPytorchZip,
        FindingCode::InvalidPickle,
        FindingCode::FormatMismatch,
        FindingCode::UnsafePickleGlobal,
        FindingCode::NotALora,
        FindingCode::NanWeights,
        FindingCode::InfWeights,
        FindingCode::PickleFormat,
        FindingCode::UnknownBaseModel,
        FindingCode::ConflictingBaseModel,
        FindingCode::NoLoraModules,
        FindingCode::Overscaled,
        FindingCode::StrongModule,
        FindingCode::LargeWeights,
        FindingCode::NetworkVariant,
        FindingCode::MixedRanks,
        FindingCode::TextEncoderTrained,
        FindingCode::NoMetadata,
    ];

    /// The stable code, as reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::InvalidSafetensors => "invalid_safetensors",
            FindingCode::InvalidPytorchZip => "invalid_pytorch_zip",
            FindingCode::InvalidPickle => "invalid_pickle",
            FindingCode::FormatMismatch => "format_mismatch",
            FindingCode::UnsafePickleGlobal => "unsafe_pickle_global",
            FindingCode::NotALora => "not_a_lora",
            FindingCode::NanWeights => "nan_weights",
            FindingCode::InfWeights => "inf_weights",
            FindingCode::PickleFormat => "pickle_format",
            FindingCode::UnknownBaseModel => "unknown_base_model",
            FindingCode::ConflictingBaseModel => "conflicting_base_model",
            FindingCode::NoLoraModules => "no_lora_modules",
            FindingCode::Overscaled => "overscaled",
            FindingCode::StrongModule => "strong_module",
            FindingCode::LargeWeights => "large_weights",
            FindingCode::NetworkVariant => "network_variant",
            FindingCode::MixedRanks => "mixed_ranks",
            FindingCode::TextEncoderTrained => "text_encoder_trained",
            FindingCode::NoMetadata => "no_metadata",
        }
    }

    /// How serious a finding with this code is.
    pub fn severity(self) -> Severity {
        match self {
            FindingCode::InvalidSafetensors
            | FindingCode::InvalidPytorchZip
            | FindingCode::InvalidPickle
            | FindingCode::FormatMismatch
            | FindingCode::UnsafePickleGlobal
            | FindingCode::NotALora
            | FindingCode::NanWeights
            | FindingCode::InfWeights => Severity::Error,
            FindingCode::PickleFormat
            | FindingCode::UnknownBaseModel
            | FindingCode::ConflictingBaseModel
            | FindingCode::NoLoraModules
            | FindingCode::Overscaled
            | FindingCode::StrongModule
            | FindingCode::LargeWeights => Severity::Warning,
            FindingCode::NetworkVariant
            | FindingCode::MixedRanks
            | FindingCode::TextEncoderTrained
            | FindingCode::NoMetadata => Severity::Info,
        }
    }

    /// What it means and what an operator should do about it.
    pub fn advice(self) -> &'static str {
        match self {
            FindingCode::InvalidSafetensors => {
                "The file breaks a safetensors rule. Re-export it; do not load it."
            }
            FindingCode::InvalidPytorchZip => {
                "The archive is not a valid torch.save zip. Re-export it, preferably as safetensors."
            }
            FindingCode::InvalidPickle => {
                "The pickle is truncated or malformed. Re-export it, preferably as safetensors."
            }
            FindingCode::FormatMismatch => {
                "The content is another format than the extension says. Rename or re-export it."
            }
            FindingCode::UnsafePickleGlobal => {
                "The pickle imports code a state dict never needs (possible malware). Delete it; never load it."
            }
            FindingCode::NanWeights => {
                "Some weights are NaN: the training diverged. Retrain or use an earlier checkpoint."
            }
            FindingCode::InfWeights => {
                "Some weights are infinite: the training diverged. Retrain or use an earlier checkpoint."
            }
            FindingCode::PickleFormat => {
                "Pickle-based formats are slower and riskier to load. Convert to safetensors."
            }
            FindingCode::UnknownBaseModel => {
                "The base model could not be told. Check it matches the pipeline before use."
            }
            FindingCode::ConflictingBaseModel => {
                "The evidence points to several base models (or metadata and keys disagree). Check which one it was trained for before use."
            }
            FindingCode::NotALora => {
                "The file is a full checkpoint, embedding, VAE or ControlNet, not a LoRA. Put it where the pipeline loads that kind of file."
            }
            FindingCode::NoLoraModules => {
                "No LoRA-style modules were found. It may be a full model or another adapter kind."
            }
            FindingCode::Overscaled => {
                "Alpha is far above the rank (effective scale > 16): the file was likely saved with a wrong alpha and will burn images. Re-export it or load it at a very low weight."
            }
            FindingCode::StrongModule => {
                "A module is far stronger than the others; it may dominate or break images. Try a lower weight."
            }
            FindingCode::LargeWeights => {
                "Some weights are very large (|w| > 1000). Check the file was not corrupted."
            }
            FindingCode::NetworkVariant => {
                "A LyCORIS/PEFT network or variant (DoRA, (IA)³, GLoRA, OFT, BOFT, full or norm deltas, mixed types) was seen; the pipeline must support it."
            }
            FindingCode::MixedRanks => "Modules have different ranks (normal for some trainers).",
            FindingCode::TextEncoderTrained => "The LoRA also changes the text encoder(s).",
            FindingCode::NoMetadata => "No training metadata; provenance is unknown.",
        }
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// By hand rather than derived, so the JSON is `as_str` by construction.
impl Serialize for FindingCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One observation, with a stable machine-readable `code`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// Stable code (see [`FindingCode`]).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: FindingCode,
    /// For people.
    pub message: String,
}

impl Finding {
    /// A finding with `code`'s severity.
    pub fn new(code: FindingCode, message: impl Into<String>) -> Self {
        Self {
            severity: code.severity(),
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_distinct_and_serialize_as_their_stable_spelling() {
        let spelled: HashSet<&str> = FindingCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(spelled.len(), FindingCode::ALL.len());
        for code in FindingCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert_eq!(code.to_string(), code.as_str());
            assert!(!code.advice().is_empty());
        }
        for severity in [Severity::Info, Severity::Warning, Severity::Error] {
            assert_eq!(serde_json::to_value(severity).unwrap(), severity.as_str());
        }
    }

    #[test]
    fn a_finding_takes_its_codes_severity() {
        let f = Finding::new(FindingCode::NanWeights, "1 NaN weights (in x)");
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"severity":"error","code":"nan_weights","message":"1 NaN weights (in x)"}"#
        );
    }
}
