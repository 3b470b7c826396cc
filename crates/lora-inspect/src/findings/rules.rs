//! The judging: which findings a file's evidence earns, and the [`Verdict`] they make.
//! The rules change as trainers and loaders do; the codes they emit are the catalogue's
//! ([`super::code`]), which does not.

use std::collections::BTreeMap;

use serde::Serialize;

use super::code::{Finding, FindingCode, Severity};
use crate::analyze::{NetworkType, Structure};
use crate::base_model::BaseModel;
use crate::error::InspectError;
use crate::format::Format;
use crate::kind::FileKind;
use crate::weights::{ModuleStrength, WeightStats};

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

impl Verdict {
    /// The verdict as the report spells it (`pass`, `warn`, `fail`): a stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
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
        InspectError::UnhealthyWeights { .. } => FindingCode::NanWeights,
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
mod verdict_tests {
    use super::Verdict;

    #[test]
    fn labels_are_the_reports_spelling() {
        for v in [Verdict::Pass, Verdict::Warn, Verdict::Fail] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
    }
}
