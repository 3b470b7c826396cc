//! The vocabulary of a report's judgement (severities, stable finding codes, findings,
//! the verdict) and the judging itself.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::analyze::{NetworkType, Structure};
use crate::base_model::BaseModel;
use crate::error::InspectError;
use crate::format::Format;
use crate::kind::FileKind;
use crate::weights::{ModuleStrength, WeightStats};

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

/// The overall judgement: any error fails, any warning warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
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

/// The finding for a file the reading refused.
pub(crate) fn content_finding(e: &InspectError) -> Finding {
    let code = match e {
        InspectError::Invalid {
            format: "safetensors",
            ..
        } => FindingCode::InvalidSafetensors,
        InspectError::Invalid {
            format: "pytorch_zip",
            ..
        } => FindingCode::InvalidPytorchZip,
        InspectError::Invalid { .. } | InspectError::Io(_) => FindingCode::InvalidPickle,
        InspectError::FormatMismatch { .. } => FindingCode::FormatMismatch,
        InspectError::UnsafePickle { .. } => FindingCode::UnsafePickleGlobal,
    };
    Finding::new(code, e.to_string())
}

/// The effective scale (alpha / rank) past which a module is `overscaled`. Trainers
/// write alpha ≤ rank (kohya sd-scripts' guidance: alpha about half the rank, or equal;
/// its default alpha is 1), so their scale is at most 1; rank-stabilised LoRA saves
/// alpha·√rank, a scale of √rank, at most 16 for ranks up to 256. Past 16 no trainer's
/// convention explains the file.
pub(crate) const OVERSCALED: f64 = 16.0;

/// What the findings are judged on.
#[derive(Clone, Copy)]
pub(crate) struct Evidence<'a> {
    pub structure: &'a Structure,
    pub weights: Option<&'a WeightStats>,
    pub modules: &'a [ModuleStrength],
    pub metadata: &'a BTreeMap<String, String>,
    pub format: Option<Format>,
}

/// Adds what `evidence` shows to the `findings` of the reading, most serious first, and
/// the verdict they make: any error fails, any warning warns.
pub(crate) fn judge(
    evidence: &Evidence<'_>,
    mut findings: Vec<Finding>,
) -> (Vec<Finding>, Verdict) {
    observe(evidence, &mut findings);
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let verdict = if findings.iter().any(|f| f.severity == Severity::Error) {
        Verdict::Fail
    } else if findings.iter().any(|f| f.severity == Severity::Warning) {
        Verdict::Warn
    } else {
        Verdict::Pass
    };
    (findings, verdict)
}

fn observe(evidence: &Evidence<'_>, findings: &mut Vec<Finding>) {
    let Evidence {
        structure,
        weights,
        modules,
        metadata,
        format,
    } = *evidence;
    let valid = !findings.iter().any(|f| f.severity == Severity::Error);
    if let Some(w) = weights {
        if w.nan_count > 0 {
            findings.push(Finding::new(
                FindingCode::NanWeights,
                format!(
                    "{} NaN weights (in {})",
                    w.nan_count,
                    w.bad_tensors.join(", ")
                ),
            ));
        }
        if w.inf_count > 0 {
            findings.push(Finding::new(
                FindingCode::InfWeights,
                format!(
                    "{} infinite weights (in {})",
                    w.inf_count,
                    w.bad_tensors.join(", ")
                ),
            ));
        }
        if w.max_abs > 1000.0 {
            findings.push(Finding::new(
                FindingCode::LargeWeights,
                format!("max |w| is {}", w.max_abs),
            ));
        }
    }
    if !valid || format.is_none() {
        return;
    }
    if structure.kind.is_other() {
        findings.push(Finding::new(
            FindingCode::NotALora,
            format!(
                "{}, not a LoRA ({})",
                structure.kind_detail.describe(),
                structure.kind_detail.evidence
            ),
        ));
    }
    let id = &structure.identification;
    if !id.candidates.is_empty() {
        let names: Vec<&str> = id.candidates.iter().map(|b| b.as_str()).collect();
        let signals: Vec<&str> = id.evidence.iter().map(|e| e.signal.as_str()).collect();
        findings.push(Finding::new(
            FindingCode::ConflictingBaseModel,
            format!(
                "the evidence fits {} ({})",
                names.join(", "),
                signals.join("; ")
            ),
        ));
    } else if structure.base_model == BaseModel::Unknown {
        let named = id
            .evidence
            .iter()
            .find(|e| e.supports.is_empty() && e.signal.starts_with("modelspec"));
        findings.push(Finding::new(
            FindingCode::UnknownBaseModel,
            match named {
                Some(e) => format!("{} is not a family this inspector knows", e.signal),
                None => "no metadata, key names or shapes tell the base model".to_owned(),
            },
        ));
    }
    if structure.kind == FileKind::Unknown {
        findings.push(Finding::new(
            FindingCode::NoLoraModules,
            "no lora_down/lora_up, lora_A/lora_B, LoHa, LoKr, OFT, GLoRA, (IA)³ or diff tensors",
        ));
    }
    let unusual = !matches!(
        structure.network_type,
        NetworkType::Lora
            | NetworkType::Locon
            | NetworkType::Loha
            | NetworkType::Lokr
            | NetworkType::Unknown
    );
    if unusual || !structure.variants.is_empty() {
        let types: Vec<String> = structure
            .network_types
            .iter()
            .map(|(t, n)| format!("{} {n}", t.as_str()))
            .collect();
        findings.push(Finding::new(
            FindingCode::NetworkVariant,
            format!(
                "{} ({}){}",
                structure.network_type.as_str(),
                types.join(", "),
                if structure.variants.is_empty() {
                    String::new()
                } else {
                    format!("; also {}", structure.variants.join(", "))
                }
            ),
        ));
    }
    let overscaled: Vec<(&str, f64)> = structure
        .modules
        .iter()
        .filter_map(|(name, m)| Some((name.as_str(), m.scale()?)))
        .filter(|(_, scale)| *scale > OVERSCALED)
        .collect();
    if let Some(worst) = overscaled.iter().map(|(_, s)| *s).max_by(f64::total_cmp) {
        findings.push(Finding::new(
            FindingCode::Overscaled,
            format!(
                "{} of {} modules scale by alpha/rank > {OVERSCALED} (up to {worst}), e.g. {}",
                overscaled.len(),
                structure.module_count(),
                overscaled[0].0
            ),
        ));
    }
    let ranks: std::collections::BTreeSet<u64> = modules.iter().filter_map(|m| m.rank).collect();
    if ranks.len() > 1 {
        findings.push(Finding::new(
            FindingCode::MixedRanks,
            format!("ranks {ranks:?}"),
        ));
    }
    if structure.text_encoder_modules > 0 {
        findings.push(Finding::new(
            FindingCode::TextEncoderTrained,
            format!("{} text-encoder modules", structure.text_encoder_modules),
        ));
    }
    if format == Some(Format::Safetensors) && metadata.is_empty() {
        findings.push(Finding::new(
            FindingCode::NoMetadata,
            "the safetensors header has no __metadata__",
        ));
    }
    let mut strengths: Vec<f64> = modules
        .iter()
        .map(|m| m.strength)
        .filter(|s| s.is_finite())
        .collect();
    if strengths.len() >= 8 {
        strengths.sort_by(f64::total_cmp);
        let median = strengths[strengths.len() / 2];
        let strong: Vec<&str> = modules
            .iter()
            .filter(|m| median > 0.0 && m.strength > 10.0 * median)
            .map(|m| m.module.as_str())
            .take(5)
            .collect();
        if !strong.is_empty() {
            findings.push(Finding::new(
                FindingCode::StrongModule,
                format!(
                    "over 10× the median strength {median:.4}: {}",
                    strong.join(", ")
                ),
            ));
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
