//! The model family a LoRA was trained for: from its metadata, else its key names, else
//! the widths of its factors.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::names::{Part, is_text_encoder, split};

/// The model family a LoRA was trained for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BaseModel {
    Sd1,
    Sd2,
    Sdxl,
    Sd3,
    Flux,
    Unknown,
}

impl BaseModel {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BaseModel::Sd1 => "sd1",
            BaseModel::Sd2 => "sd2",
            BaseModel::Sdxl => "sdxl",
            BaseModel::Sd3 => "sd3",
            BaseModel::Flux => "flux",
            BaseModel::Unknown => "unknown",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "sd1" => BaseModel::Sd1,
            "sd2" => BaseModel::Sd2,
            "sdxl" => BaseModel::Sdxl,
            "sd3" => BaseModel::Sd3,
            "flux" => BaseModel::Flux,
            "unknown" => BaseModel::Unknown,
            _ => return None,
        })
    }
}

/// The base model and the rule that told it: `metadata`, `keys`, `shapes` or `none`.
pub(crate) fn detect(
    metadata: &BTreeMap<String, String>,
    names: &[(&str, &[u64])],
) -> (BaseModel, &'static str) {
    if let Some(found) = from_metadata(metadata) {
        return (found, "metadata");
    }
    if let Some(found) = from_keys(names) {
        return (found, "keys");
    }
    if let Some(found) = from_shapes(names) {
        return (found, "shapes");
    }
    (BaseModel::Unknown, "none")
}

fn from_metadata(metadata: &BTreeMap<String, String>) -> Option<BaseModel> {
    // modelspec names the architecture outright: one this crate does not know (Stable
    // Cascade, HunyuanVideo, …) is `unknown`, never left to key layouts or widths that
    // other families share.
    if let Some(arch) = metadata.get("modelspec.architecture") {
        return Some(architecture(arch).unwrap_or(BaseModel::Unknown));
    }
    metadata
        .get("ss_base_model_version")
        .and_then(|v| architecture(v))
}

/// A family from an architecture string (`stable-diffusion-xl-v1-base/lora`, `sd_v2_768_v`,
/// `flux-1-dev`), read as tokens, never searched for substrings: `stable-cascade-v1-prior`
/// holds "v1" but is no SD1.
fn architecture(raw: &str) -> Option<BaseModel> {
    let arch = raw
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let tokens: Vec<&str> = arch
        .split(['-', '_', '.', ' '])
        .filter(|t| !t.is_empty())
        .collect();
    let version = |at: usize| tokens.get(at).copied().unwrap_or_default();
    match tokens.as_slice() {
        ["flux" | "flux1", ..] => Some(BaseModel::Flux),
        ["sdxl", ..] => Some(BaseModel::Sdxl),
        ["sd3", ..] => Some(BaseModel::Sd3),
        ["stable", "diffusion", "xl", ..] => Some(BaseModel::Sdxl),
        ["stable", "diffusion", ..] => sd_version(version(2)),
        ["sd", ..] => sd_version(version(1)),
        _ => None,
    }
}

/// `v1` (or `v1.5`'s first token), `v2`, `v3` after `stable-diffusion` or `sd`.
fn sd_version(token: &str) -> Option<BaseModel> {
    match token {
        "v1" | "1" => Some(BaseModel::Sd1),
        "v2" | "2" => Some(BaseModel::Sd2),
        "v3" | "3" => Some(BaseModel::Sd3),
        _ => None,
    }
}

fn from_keys(names: &[(&str, &[u64])]) -> Option<BaseModel> {
    let any = |pred: &dyn Fn(&str) -> bool| names.iter().any(|(n, _)| pred(n));
    let flux = any(&|n| {
        n.starts_with("lora_unet_double_blocks_")
            || n.starts_with("lora_unet_single_blocks_")
            || n.contains("double_blocks.")
            || n.contains("single_blocks.")
            || n.contains("single_transformer_blocks")
    });
    if flux {
        return Some(BaseModel::Flux);
    }
    let joint = any(&|n| {
        (n.contains("transformer_blocks") || n.contains("joint_blocks"))
            && (n.contains("norm1_context")
                || n.contains("ff_context")
                || n.contains("context_block"))
    });
    if joint {
        return Some(BaseModel::Sd3);
    }
    let sdxl = any(&|n| {
        n.starts_with("lora_te1_")
            || n.starts_with("lora_te2_")
            || n.contains("text_encoder_2")
            || n.starts_with("lora_unet_input_blocks_")
            || n.starts_with("lora_unet_output_blocks_")
            || n.starts_with("lora_unet_middle_block_")
    });
    if sdxl {
        return Some(BaseModel::Sdxl);
    }
    None
}

/// SD1/SD2 (and SDXL without telling names) by cross-attention and text-encoder widths.
fn from_shapes(names: &[(&str, &[u64])]) -> Option<BaseModel> {
    let width = |pred: &dyn Fn(&str) -> bool| -> Option<u64> {
        names.iter().find_map(|(n, shape)| {
            let (module, part) = split(n)?;
            (part == Part::Down && pred(module))
                .then(|| shape.get(1).copied())
                .flatten()
        })
    };
    let context = width(&|m| m.contains("attn2") && (m.contains("to_k") || m.contains("to_v")));
    match context {
        Some(768) => return Some(BaseModel::Sd1),
        Some(1024) => return Some(BaseModel::Sd2),
        Some(2048) => return Some(BaseModel::Sdxl),
        _ => {}
    }
    let text = width(&|m| is_text_encoder(m) && (m.contains("mlp_fc1") || m.contains("q_proj")));
    match text {
        Some(768) => Some(BaseModel::Sd1),
        Some(1024) => Some(BaseModel::Sd2),
        Some(1280) => Some(BaseModel::Sdxl),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_architecture(arch: &str) -> BaseModel {
        let metadata = BTreeMap::from([("modelspec.architecture".to_owned(), arch.to_owned())]);
        // Flux-like keys, which a HunyuanVideo LoRA shares: metadata must decide.
        detect(
            &metadata,
            &[(
                "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight",
                &[4, 3072],
            )],
        )
        .0
    }

    #[test]
    fn architecture_strings_are_read_as_tokens() {
        assert_eq!(
            from_architecture("stable-diffusion-v1/lora"),
            BaseModel::Sd1
        );
        assert_eq!(
            from_architecture("stable-diffusion-v2-768-v/lora"),
            BaseModel::Sd2
        );
        assert_eq!(
            from_architecture("stable-diffusion-xl-v1-base/lora"),
            BaseModel::Sdxl
        );
        assert_eq!(
            from_architecture("stable-diffusion-v3-medium/lora"),
            BaseModel::Sd3
        );
        assert_eq!(from_architecture("flux-1-dev/lora"), BaseModel::Flux);
        // Known to modelspec, unknown here: never the family whose substring it holds.
        assert_eq!(
            from_architecture("stable-cascade-v1-prior/lora"),
            BaseModel::Unknown
        );
        assert_eq!(from_architecture("hunyuan-video/lora"), BaseModel::Unknown);
        let kohya = |v: &str| {
            detect(
                &BTreeMap::from([("ss_base_model_version".to_owned(), v.to_owned())]),
                &[],
            )
            .0
        };
        assert_eq!(kohya("sd_v1"), BaseModel::Sd1);
        assert_eq!(kohya("sd_v2_768_v"), BaseModel::Sd2);
        assert_eq!(kohya("sdxl_base_v1-0"), BaseModel::Sdxl);
        assert_eq!(kohya("sd3"), BaseModel::Sd3);
        assert_eq!(kohya("flux1"), BaseModel::Flux);
        assert_eq!(kohya("something-else"), BaseModel::Unknown);
    }

    fn detect_names(names: &[(&str, &[u64])]) -> BaseModel {
        detect(&BTreeMap::new(), names).0
    }

    #[test]
    fn families_by_key_names() {
        let cases: &[(&str, BaseModel)] = &[
            (
                "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight",
                BaseModel::Flux,
            ),
            (
                "diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight",
                BaseModel::Flux,
            ),
            (
                "transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight",
                BaseModel::Flux,
            ),
            (
                "double_blocks.0.processor.qkv_lora1.down.weight",
                BaseModel::Flux,
            ),
            (
                "transformer.transformer_blocks.0.ff_context.net.0.proj.lora_A.weight",
                BaseModel::Sd3,
            ),
            (
                "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
                BaseModel::Sdxl,
            ),
            (
                "lora_unet_input_blocks_4_1_proj_in.lora_down.weight",
                BaseModel::Sdxl,
            ),
        ];
        for (name, expected) in cases {
            assert_eq!(detect_names(&[(name, &[4, 64])]), *expected, "{name}");
        }
    }

    #[test]
    fn sd1_and_sd2_by_widths() {
        let k =
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight";
        assert_eq!(detect_names(&[(k, &[8, 768])]), BaseModel::Sd1);
        assert_eq!(detect_names(&[(k, &[8, 1024])]), BaseModel::Sd2);
        let te = "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight";
        assert_eq!(detect_names(&[(te, &[8, 1024])]), BaseModel::Sd2);
        assert_eq!(detect_names(&[("x.weight", &[3])]), BaseModel::Unknown);
    }

    #[test]
    fn metadata_wins() {
        let mut meta = BTreeMap::new();
        meta.insert(
            "ss_base_model_version".to_owned(),
            "sdxl_base_v1-0".to_owned(),
        );
        assert_eq!(
            detect(&meta, &[("lora_te_x.lora_down.weight", &[4u64, 768][..])]),
            (BaseModel::Sdxl, "metadata")
        );
    }
}
