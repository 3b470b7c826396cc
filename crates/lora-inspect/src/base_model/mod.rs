//! The model family a file was made for, and how sure that is.
//!
//! Every piece of evidence (a metadata key and its value, the key layout and block
//! counts, a width) becomes a [`Signal`] naming the families it is consistent with. The
//! answer is the one family all of them allow; when they allow several, or none, it is
//! `unknown` and the candidates are reported (`conflicting_base_model`). Metadata speaks
//! first only where the keys are silent: a file whose metadata and layout disagree is
//! not trusted either way. See docs/FAMILIES.md for each family's rules and sources.

mod family;
mod layout;
mod metadata;
mod names;
mod parts;
mod table;
mod unet;

use std::collections::BTreeMap;

use serde::Serialize;

pub use family::BaseModel;
pub(crate) use family::Families;

/// Where a piece of evidence was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EvidenceSource {
    Metadata,
    Keys,
    Shapes,
}

/// One signal about the base model, as a report lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BaseModelEvidence {
    /// `metadata`, `keys` or `shapes`.
    pub source: EvidenceSource,
    /// What was seen, e.g. `modelspec.architecture = flux-1-dev/lora` or
    /// `keys: double_blocks 0–18, single_blocks 0–37; hidden width 3072`.
    pub signal: String,
    /// The families it is consistent with (empty: none this inspector knows).
    pub supports: Vec<BaseModel>,
}

/// What the evidence says about the base model.
#[derive(Debug, Clone, PartialEq)]
pub struct Identification {
    /// The family, or [`BaseModel::Unknown`].
    pub family: BaseModel,
    /// A finer variant (`pony`, `768-v`, `schnell`, `sd3.5-large`, `2.1-14b`…) when the
    /// evidence tells it.
    pub variant: Option<&'static str>,
    /// Where the answer came from: `metadata`, `keys`, `shapes` or `none`.
    pub source: &'static str,
    /// Every signal, in the order read.
    pub evidence: Vec<BaseModelEvidence>,
    /// The families the evidence is split between, when it does not agree (then
    /// `family` is `unknown`); empty otherwise.
    pub candidates: Vec<BaseModel>,
}

/// A signal while deciding.
#[derive(Debug, Clone)]
pub(crate) struct Signal {
    source: EvidenceSource,
    text: String,
    families: Families,
    variant: Option<&'static str>,
    /// Metadata that names an architecture outright (modelspec, kohya's version) rather
    /// than a model file or repository the family is read from.
    authoritative: bool,
}

impl Signal {
    fn keys(text: String, families: Families) -> Self {
        Self {
            source: EvidenceSource::Keys,
            text,
            families,
            variant: None,
            authoritative: false,
        }
    }

    fn shapes(text: String, families: Families) -> Self {
        Self {
            source: EvidenceSource::Shapes,
            ..Self::keys(text, families)
        }
    }
}

/// Families whose LoRA-relevant layers are the same as another's, told apart only by
/// layers a LoRA may not touch: when the evidence allows exactly the pair, the first is
/// the answer (docs/FAMILIES.md, "Siblings").
const SIBLINGS: &[(BaseModel, BaseModel)] = &[
    (BaseModel::Flux, BaseModel::Chroma),
    (BaseModel::Sdxl, BaseModel::Kolors),
];

/// Identifies the base model from the metadata and the `(name, shape)` of every tensor.
pub(crate) fn identify(
    metadata: &BTreeMap<String, String>,
    names: &[(&str, &[u64])],
) -> Identification {
    let mut meta = Vec::new();
    metadata::signals(metadata, &mut meta);
    let modules = layout::modules(names);
    let mut keys = Vec::new();
    layout::transformer(&modules, &mut keys);
    unet::unet(&modules, &mut keys);
    unet::text_encoders(&modules, &mut keys);
    let mut decision = decide(&meta, &keys);
    if decision.family != BaseModel::Unknown {
        decision.variant = layout::variant(decision.family, &modules, decision.variant);
    }
    let mut evidence: Vec<BaseModelEvidence> = meta
        .iter()
        .chain(&keys)
        .map(|s| BaseModelEvidence {
            source: s.source,
            signal: s.text.clone(),
            supports: s.families.to_vec(),
        })
        .collect();
    if decision.variant.is_none()
        && let Some(note) = metadata_only(decision.family)
    {
        evidence.push(BaseModelEvidence {
            source: EvidenceSource::Shapes,
            signal: note.into(),
            supports: vec![decision.family],
        });
    }
    Identification {
        evidence,
        ..decision
    }
}

fn decide(meta: &[Signal], keys: &[Signal]) -> Identification {
    let answer = |family: BaseModel, source: &'static str, candidates: Families| Identification {
        family,
        variant: None,
        source,
        evidence: Vec::new(),
        candidates: candidates.to_vec(),
    };
    // Authoritative metadata first; a model's name only when there is none.
    let named: Vec<&Signal> = if meta.iter().any(|s| s.authoritative) {
        meta.iter().filter(|s| s.authoritative).collect()
    } else {
        meta.iter().collect()
    };
    let from_meta = (!named.is_empty()).then(|| {
        named
            .iter()
            .fold(None::<Families>, |acc, s| {
                Some(acc.map_or(s.families, |a| a.and(s.families)))
            })
            .unwrap_or_default()
    });
    let from_keys = (!keys.is_empty()).then(|| {
        keys.iter()
            .fold(None::<Families>, |acc, s| {
                Some(acc.map_or(s.families, |a| a.and(s.families)))
            })
            .unwrap_or_default()
    });
    let keys_source = if keys.iter().any(|s| s.source == EvidenceSource::Keys) {
        "keys"
    } else {
        "shapes"
    };
    let all_named = || named.iter().fold(Families::NONE, |a, s| a.or(s.families));
    let all_keys = || keys.iter().fold(Families::NONE, |a, s| a.or(s.families));
    let mut decided = match (from_meta, from_keys) {
        (None, None) => answer(BaseModel::Unknown, "none", Families::NONE),
        // Metadata names an architecture this inspector does not know: say so, never
        // fall back to layouts or widths other families share.
        (Some(m), _) if m.is_empty() && named.iter().all(|s| s.families.is_empty()) => {
            answer(BaseModel::Unknown, "metadata", Families::NONE)
        }
        (Some(m), None) => match resolve(m) {
            Some(f) => answer(f, "metadata", Families::NONE),
            None => answer(BaseModel::Unknown, "metadata", all_named()),
        },
        (Some(m), Some(k)) => match resolve(m.and(k)) {
            Some(f) => answer(f, "metadata", Families::NONE),
            None => answer(BaseModel::Unknown, "metadata", all_named().or(all_keys())),
        },
        (None, Some(k)) => match resolve(k) {
            Some(f) => answer(f, keys_source, Families::NONE),
            None if k.is_empty() && all_keys().is_empty() => {
                answer(BaseModel::Unknown, "none", Families::NONE)
            }
            None if k.is_empty() => answer(BaseModel::Unknown, keys_source, all_keys()),
            None => answer(BaseModel::Unknown, keys_source, k),
        },
    };
    if decided.family != BaseModel::Unknown {
        decided.variant = agreed_variant(meta, decided.family);
    }
    decided
}

/// The family a set settles on: its only member, or the first of a sibling pair.
fn resolve(set: Families) -> Option<BaseModel> {
    set.single().or_else(|| {
        SIBLINGS
            .iter()
            .find(|(a, b)| set == Families::of(&[*a, *b]))
            .map(|(a, _)| *a)
    })
}

/// The variant the metadata for `family` agrees on: the authoritative keys' when they
/// name one, else the model names' (`ponyDiffusionV6XL` under an SDXL modelspec); `None`
/// when they name none or differ.
fn agreed_variant(meta: &[Signal], family: BaseModel) -> Option<&'static str> {
    [true, false].into_iter().find_map(|authoritative| {
        let mut variants = meta
            .iter()
            .filter(|s| s.authoritative == authoritative && s.families.contains(family))
            .filter_map(|s| s.variant);
        let mut agreed = variants.next()?;
        for v in variants {
            match (agreed, v) {
                _ if v == agreed => {}
                // One names the release, the other its finer kind (musubi's
                // `qwen_image_edit` beside `Qwen-Image-Edit-2511/lora`).
                _ if finer(v, agreed) => agreed = v,
                _ if finer(agreed, v) => {}
                // Kontext is a Flux.1 dev model: musubi writes `Flux.1-dev/lora` beside
                // `flux_kontext`.
                ("dev", "kontext") => agreed = "kontext",
                ("kontext", "dev") => {}
                _ => return Some(None),
            }
        }
        Some(Some(agreed))
    })?
}

/// Why a family's variant is open when the metadata did not name it: releases that share
/// every shape (docs/FAMILIES.md, "Variant").
fn metadata_only(family: BaseModel) -> Option<&'static str> {
    Some(match family {
        BaseModel::QwenImage => {
            "shapes: Qwen-Image and its Edit releases (edit, edit-2509, edit-2511) share every shape; only metadata tells them apart (musubi-tuner's and SimpleTuner's modelspec.architecture)"
        }
        BaseModel::Hidream => {
            "shapes: HiDream-I1 and HiDream-E1 share every shape, and ai-toolkit writes hidream_i1 for both: the variant is left open"
        }
        BaseModel::ZImage => {
            "shapes: Z-Image Turbo and base share every shape; only metadata tells them apart (SimpleTuner's flavour in modelspec.architecture)"
        }
        BaseModel::Wan => {
            "shapes: Wan 2.1 14B and Wan 2.2 A14B share every shape, and musubi-tuner writes wan2.1/lora for both: only ai-toolkit's or SimpleTuner's metadata tells the release"
        }
        _ => return None,
    })
}

/// Whether `fine` is a finer spelling of `coarse`: `edit-2511` of `edit`.
fn finer(fine: &str, coarse: &str) -> bool {
    fine.strip_prefix(coarse)
        .is_some_and(|rest| rest.starts_with('-'))
}

#[cfg(test)]
mod tests;
