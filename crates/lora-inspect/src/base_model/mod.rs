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
mod tests {
    use super::*;

    fn identify_with(metadata: &[(&str, &str)], names: &[(&str, &[u64])]) -> Identification {
        let metadata = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        identify(&metadata, names)
    }

    fn family_of(metadata: &[(&str, &str)], names: &[(&str, &[u64])]) -> BaseModel {
        identify_with(metadata, names).family
    }

    const FLUX_DOUBLE: (&str, &[u64]) = (
        "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight",
        &[4, 3072],
    );
    const FLUX_LAST_DOUBLE: (&str, &[u64]) = (
        "lora_unet_double_blocks_18_img_mlp_0.lora_down.weight",
        &[4, 3072],
    );
    const FLUX_LAST_SINGLE: (&str, &[u64]) = (
        "lora_unet_single_blocks_37_linear1.lora_down.weight",
        &[4, 3072],
    );

    #[test]
    fn architecture_strings_are_read_as_tokens() {
        let arch = |a: &str| family_of(&[("modelspec.architecture", a)], &[]);
        assert_eq!(arch("stable-diffusion-v1/lora"), BaseModel::Sd1);
        assert_eq!(arch("stable-diffusion-v2-768-v/lora"), BaseModel::Sd2);
        assert_eq!(arch("stable-diffusion-xl-v1-base/lora"), BaseModel::Sdxl);
        assert_eq!(arch("stable-diffusion-v3-medium/lora"), BaseModel::Sd3);
        assert_eq!(arch("flux-1-dev/lora"), BaseModel::Flux);
        assert_eq!(
            arch("stable-cascade-v1-prior/lora"),
            BaseModel::StableCascade
        );
        assert_eq!(arch("hunyuan-video/lora"), BaseModel::HunyuanVideo);
        // Metadata and keys that disagree: never the family whose layout it shares.
        let sana = identify_with(
            &[("modelspec.architecture", "sana-1600m/lora")],
            &[FLUX_DOUBLE],
        );
        assert_eq!(sana.family, BaseModel::Unknown);
        assert!(sana.candidates.contains(&BaseModel::Sana));
        // An architecture this inspector does not know.
        let odd = identify_with(
            &[("modelspec.architecture", "wuerstchen-v2-prior/lora")],
            &[FLUX_DOUBLE],
        );
        assert_eq!((odd.family, odd.candidates.len()), (BaseModel::Unknown, 0));
        let kohya = |v: &str| family_of(&[("ss_base_model_version", v)], &[]);
        assert_eq!(kohya("sd_v1"), BaseModel::Sd1);
        assert_eq!(kohya("sd_v2_768_v"), BaseModel::Sd2);
        assert_eq!(kohya("sdxl_base_v1-0"), BaseModel::Sdxl);
        assert_eq!(kohya("sd3"), BaseModel::Sd3);
        assert_eq!(kohya("flux1"), BaseModel::Flux);
        assert_eq!(kohya("something-else"), BaseModel::Unknown);
    }

    #[test]
    fn block_counts_tell_flux_from_hunyuan_video() {
        let flux = identify_with(&[], &[FLUX_DOUBLE, FLUX_LAST_DOUBLE, FLUX_LAST_SINGLE]);
        assert_eq!((flux.family, flux.source), (BaseModel::Flux, "keys"));
        // Block 19 does not exist in Flux; `img_mlp_fc1` is HunyuanVideo's spelling.
        let hunyuan = identify_with(
            &[],
            &[
                FLUX_DOUBLE,
                (
                    "lora_unet_double_blocks_19_img_mlp_fc1.lora_down.weight",
                    &[4, 3072],
                ),
                (
                    "lora_unet_single_blocks_39_linear1.lora_down.weight",
                    &[4, 3072],
                ),
            ],
        );
        assert_eq!(hunyuan.family, BaseModel::HunyuanVideo);
        // One attention module on block 0 fits both: no confident answer.
        let either = identify_with(&[], &[FLUX_DOUBLE]);
        assert_eq!(either.family, BaseModel::Unknown);
        assert_eq!(
            either.candidates,
            [
                BaseModel::Flux,
                BaseModel::Flux2,
                BaseModel::Chroma,
                BaseModel::HunyuanVideo,
                BaseModel::OvisImage
            ]
        );
    }

    #[test]
    fn the_issues_confident_wrong_answers_are_gone() {
        // LTX-Video-Trainer: cross-attention width 2048 is no SDXL.
        let ltx = identify_with(
            &[("format", "pt")],
            &[
                (
                    "transformer.transformer_blocks.0.attn2.to_k.lora_A.weight",
                    &[32, 2048],
                ),
                (
                    "transformer.transformer_blocks.27.attn1.to_q.lora_A.weight",
                    &[32, 2048],
                ),
            ],
        );
        assert_eq!((ltx.family, ltx.source), (BaseModel::Ltxv, "keys"));
        // musubi-tuner FramePack, no metadata: diffusers HunyuanVideo names past Flux's.
        let framepack = identify_with(
            &[],
            &[
                (
                    "lora_unet_transformer_blocks_0_attn_to_q.lora_down.weight",
                    &[4, 3072],
                ),
                (
                    "lora_unet_transformer_blocks_19_attn_add_q_proj.lora_down.weight",
                    &[4, 3072],
                ),
                (
                    "lora_unet_single_transformer_blocks_39_proj_mlp.lora_down.weight",
                    &[4, 3072],
                ),
            ],
        );
        assert_eq!(framepack.family, BaseModel::Framepack);
        // The same blocks under diffusers' own prefix fit HunyuanVideo and FramePack alike.
        let either = identify_with(
            &[],
            &[
                (
                    "transformer.transformer_blocks.19.attn.to_q.lora_A.weight",
                    &[4, 3072],
                ),
                (
                    "transformer.single_transformer_blocks.39.attn.to_q.lora_A.weight",
                    &[4, 3072],
                ),
            ],
        );
        assert_eq!(
            either.candidates,
            [BaseModel::HunyuanVideo, BaseModel::Framepack]
        );
        // diffusers' SD3 DreamBooth LoRA: attention only, width 1536, 24 blocks.
        let sd3 = identify_with(
            &[],
            &[
                (
                    "transformer.transformer_blocks.0.attn.to_q.lora_A.weight",
                    &[4, 1536],
                ),
                (
                    "transformer.transformer_blocks.23.attn.add_k_proj.lora_A.weight",
                    &[4, 1536],
                ),
            ],
        );
        assert_eq!(sd3.family, BaseModel::Sd3);
        // Wan (DiffSynth-Studio, PEFT's `.default`), 1.3B by its width.
        let wan = identify_with(
            &[],
            &[("blocks.29.self_attn.q.lora_A.default.weight", &[4, 1536])],
        );
        assert_eq!(
            (wan.family, wan.variant),
            (BaseModel::Wan, Some("2.1-t2v-1.3b"))
        );
        // Qwen-Image (musubi), 60 blocks with img_mod.
        let qwen = identify_with(
            &[],
            &[
                (
                    "lora_unet_transformer_blocks_59_img_mod_1.lora_down.weight",
                    &[4, 3072],
                ),
                (
                    "lora_unet_transformer_blocks_0_attn_to_q.lora_down.weight",
                    &[4, 3072],
                ),
            ],
        );
        assert_eq!(qwen.family, BaseModel::QwenImage);
    }

    /// diffusers' Flux names: `attn.to_q` on the given double and single blocks.
    fn diffusers_flux(double: std::ops::Range<u32>, single: std::ops::Range<u32>) -> Vec<String> {
        double
            .map(|n| format!("transformer.transformer_blocks.{n}.attn.to_q.lora_A.weight"))
            .chain(single.map(|n| {
                format!("transformer.single_transformer_blocks.{n}.attn.to_q.lora_A.weight")
            }))
            .collect()
    }

    fn of_names(names: &[String], width: u64) -> Identification {
        let shape = [4, width];
        let pairs: Vec<(&str, &[u64])> = names.iter().map(|n| (n.as_str(), &shape[..])).collect();
        identify_with(&[], &pairs)
    }

    #[test]
    fn every_block_covered_decides_but_partial_coverage_never_does() {
        // Exactly Flux's 19 + 38 blocks (HunyuanVideo and FramePack have 20 + 40).
        let every = of_names(&diffusers_flux(0..19, 0..38), 3072);
        assert_eq!((every.family, every.source), (BaseModel::Flux, "keys"));
        assert!(
            every
                .evidence
                .iter()
                .any(|e| e.signal.starts_with("keys: every block of")),
            "{:?}",
            every.evidence
        );
        // The double blocks alone, all of them: still exactly Flux's count.
        assert_eq!(
            of_names(&diffusers_flux(0..19, 0..0), 3072).family,
            BaseModel::Flux
        );
        // A partial LoRA (blocks skipped, or too few to say "every block") stays open.
        for partial in [
            diffusers_flux(0..10, 0..20),
            diffusers_flux(1..19, 0..38),
            diffusers_flux(0..5, 0..0),
        ] {
            let id = of_names(&partial, 3072);
            assert_eq!(id.family, BaseModel::Unknown, "{partial:?}");
            assert!(id.candidates.contains(&BaseModel::HunyuanVideo));
        }
        // Every HunyuanVideo block: past Flux's counts, HunyuanVideo and FramePack both fit.
        let hv = of_names(&diffusers_flux(0..20, 0..40), 3072);
        assert_eq!(
            hv.candidates,
            [BaseModel::HunyuanVideo, BaseModel::Framepack]
        );
        // Flux.2 klein 4B's 5 + 20 blocks at Flux.1's width.
        let klein = identify_with(
            &[],
            &(0..5)
                .map(|n| format!("diffusion_model.double_blocks.{n}.img_attn.qkv.lora_A.weight"))
                .chain(
                    (0..20).map(|n| {
                        format!("diffusion_model.single_blocks.{n}.linear2.lora_A.weight")
                    }),
                )
                .collect::<Vec<_>>()
                .iter()
                .map(|n| (n.as_str(), &[4u64, 3072][..]))
                .collect::<Vec<_>>(),
        );
        assert_eq!(
            (klein.family, klein.variant),
            (BaseModel::Flux2, Some("klein-4b"))
        );
    }

    #[test]
    fn output_widths_tell_models_of_one_width_apart() {
        let up = |name: &str, out: u64| (name.to_owned(), vec![out, 4]);
        let klein_mlp = [
            (
                "diffusion_model.double_blocks.0.img_mlp.0.lora_A.weight".to_owned(),
                vec![4, 3072],
            ),
            up(
                "diffusion_model.double_blocks.0.img_mlp.0.lora_B.weight",
                18432,
            ),
        ];
        let pairs: Vec<(&str, &[u64])> = klein_mlp
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_slice()))
            .collect();
        let id = identify_with(&[], &pairs);
        assert_eq!(
            (id.family, id.variant),
            (BaseModel::Flux2, Some("klein-4b"))
        );
        // The same module with Flux.1's MLP width is no klein.
        let flux_mlp = [
            (
                "diffusion_model.double_blocks.0.img_mlp.0.lora_A.weight".to_owned(),
                vec![4, 3072],
            ),
            up(
                "diffusion_model.double_blocks.0.img_mlp.0.lora_B.weight",
                12288,
            ),
        ];
        let pairs: Vec<(&str, &[u64])> = flux_mlp
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_slice()))
            .collect();
        assert!(
            !identify_with(&[], &pairs)
                .candidates
                .contains(&BaseModel::Flux2)
        );
    }

    #[test]
    fn releases_only_metadata_tells_apart_say_so() {
        let qwen = identify_with(
            &[],
            &[
                (
                    "transformer.transformer_blocks.59.img_mod.1.lora_A.weight",
                    &[4, 3072],
                ),
                (
                    "transformer.transformer_blocks.0.attn.to_q.lora_A.weight",
                    &[4, 3072],
                ),
            ],
        );
        assert_eq!((qwen.family, qwen.variant), (BaseModel::QwenImage, None));
        assert!(
            qwen.evidence
                .iter()
                .any(|e| e.signal.contains("only metadata tells them apart"))
        );
        let named = identify_with(
            &[
                ("ss_base_model_version", "qwen_image_edit"),
                ("modelspec.architecture", "Qwen-Image-Edit-Plus/lora"),
            ],
            &[(
                "transformer.transformer_blocks.0.attn.to_q.lora_A.weight",
                &[4, 3072],
            )],
        );
        assert_eq!(named.variant, Some("edit-2509"), "the finer of the two");
        assert!(
            !named
                .evidence
                .iter()
                .any(|e| e.signal.contains("only metadata"))
        );
    }

    #[test]
    fn metadata_and_keys_that_disagree_are_not_trusted() {
        let both = identify_with(
            &[("ss_base_model_version", "sdxl_base_v1-0")],
            &[FLUX_DOUBLE, FLUX_LAST_DOUBLE, FLUX_LAST_SINGLE],
        );
        assert_eq!(both.family, BaseModel::Unknown);
        assert_eq!(
            both.candidates,
            [BaseModel::Sdxl, BaseModel::Flux, BaseModel::Chroma]
        );
        // Keys that are merely silent (no block names) leave the metadata's answer.
        let silent = identify_with(
            &[("modelspec.architecture", "stable-diffusion-v3-medium/lora")],
            &[("lora_unet_x.lora_down.weight", &[4, 64])],
        );
        assert_eq!(
            (silent.family, silent.variant),
            (BaseModel::Sd3, Some("sd3-medium"))
        );
    }

    #[test]
    fn sd1_and_sd2_by_widths_but_sdxl_by_structure_too() {
        let k =
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight";
        assert_eq!(family_of(&[], &[(k, &[8, 768])]), BaseModel::Sd1);
        assert_eq!(family_of(&[], &[(k, &[8, 1024])]), BaseModel::Sd2);
        // SD1's outermost level with SDXL's context width: nothing fits.
        let odd = identify_with(&[], &[(k, &[8, 2048])]);
        assert_eq!(odd.family, BaseModel::Unknown);
        let xl = "lora_unet_input_blocks_7_1_transformer_blocks_3_attn2_to_k.lora_down.weight";
        let sdxl = identify_with(&[], &[(xl, &[8, 2048])]);
        assert_eq!((sdxl.family, sdxl.source), (BaseModel::Sdxl, "keys"));
    }

    #[test]
    fn text_encoders_alone_narrow_but_rarely_decide() {
        let te = "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight";
        assert_eq!(family_of(&[], &[(te, &[8, 1024])]), BaseModel::Sd2);
        assert_eq!(family_of(&[], &[(te, &[8, 768])]), BaseModel::Sd1);
        let te1 = "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight";
        assert_eq!(family_of(&[], &[(te1, &[8, 768])]), BaseModel::Unknown);
        assert_eq!(family_of(&[], &[("x.weight", &[3])]), BaseModel::Unknown);
    }
}
