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
    let read = |v: &str| -> Option<BaseModel> {
        let v = v.to_ascii_lowercase();
        if v.contains("flux") {
            Some(BaseModel::Flux)
        } else if v.contains("xl") {
            Some(BaseModel::Sdxl)
        } else if v.contains("v3") || v.contains("sd3") {
            Some(BaseModel::Sd3)
        } else if v.contains("v2") {
            Some(BaseModel::Sd2)
        } else if v.contains("v1") {
            Some(BaseModel::Sd1)
        } else {
            None
        }
    };
    ["modelspec.architecture", "ss_base_model_version"]
        .iter()
        .find_map(|k| metadata.get(*k).and_then(|v| read(v)))
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
