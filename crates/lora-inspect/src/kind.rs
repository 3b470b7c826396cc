//! What a file is when it is not a LoRA: a full checkpoint, a textual-inversion
//! embedding, a VAE or a ControlNet, with the family where its shapes tell (the tell-tale
//! keys ComfyUI's `comfy/model_detection.py`, `comfy/sd.py` and `comfy/controlnet.py`
//! use; see docs/FAMILIES.md).

use std::collections::HashMap;

use serde::Serialize;

use crate::base_model::BaseModel;

/// What kind of file it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FileKind {
    Lora,
    Checkpoint,
    Embedding,
    Vae,
    Controlnet,
    Unknown,
}

impl FileKind {
    /// Every kind.
    pub const ALL: [FileKind; 6] = [
        FileKind::Lora,
        FileKind::Checkpoint,
        FileKind::Embedding,
        FileKind::Vae,
        FileKind::Controlnet,
        FileKind::Unknown,
    ];

    /// Parses the API spelling (case and surrounding blanks ignored).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Lora => "lora",
            FileKind::Checkpoint => "checkpoint",
            FileKind::Embedding => "embedding",
            FileKind::Vae => "vae",
            FileKind::Controlnet => "controlnet",
            FileKind::Unknown => "unknown",
        }
    }

    /// Whether the file was positively identified as something other than a LoRA.
    pub fn is_other(self) -> bool {
        !matches!(self, FileKind::Lora | FileKind::Unknown)
    }
}

/// The kind, the family its shapes tell (for other kinds) and what told it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Kind {
    pub kind: FileKind,
    pub family: Option<BaseModel>,
    pub evidence: String,
}

impl Kind {
    /// For people: "a full SDXL checkpoint", "an SD1 textual-inversion embedding".
    pub(crate) fn describe(&self) -> String {
        let family = self.family.map(label);
        let what = match self.kind {
            FileKind::Checkpoint => "full checkpoint",
            FileKind::Embedding => "textual-inversion embedding",
            FileKind::Vae => "VAE",
            FileKind::Controlnet => "ControlNet",
            FileKind::Lora => "LoRA",
            FileKind::Unknown => "file of unknown kind",
        };
        let words = match family {
            Some(f) if self.kind == FileKind::Checkpoint => format!("full {f} checkpoint"),
            Some(f) => format!("{f} {what}"),
            None => what.to_owned(),
        };
        let article = if words.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U', 'S'])
            && !words.starts_with("full")
        {
            // "an SDXL", "an SD1", "an embedding"; "a VAE" keeps "a".
            if words.starts_with("VAE") { "a" } else { "an" }
        } else {
            "a"
        };
        format!("{article} {words}")
    }
}

/// How people write a family in a sentence.
pub(crate) fn label(family: BaseModel) -> &'static str {
    match family {
        BaseModel::Sd1 => "SD1",
        BaseModel::Sd2 => "SD2",
        BaseModel::Sdxl => "SDXL",
        BaseModel::Sd3 => "SD3",
        BaseModel::Flux => "Flux",
        BaseModel::Flux2 => "Flux.2",
        BaseModel::Chroma => "Chroma",
        BaseModel::HunyuanVideo => "HunyuanVideo",
        BaseModel::Framepack => "FramePack",
        BaseModel::Wan => "Wan",
        BaseModel::Ltxv => "LTX-Video",
        BaseModel::StableCascade => "Stable Cascade",
        BaseModel::Pixart => "PixArt",
        BaseModel::Auraflow => "AuraFlow",
        BaseModel::Lumina2 => "Lumina 2",
        BaseModel::Hidream => "HiDream",
        BaseModel::QwenImage => "Qwen-Image",
        BaseModel::Kolors => "Kolors",
        BaseModel::HunyuanDit => "HunyuanDiT",
        BaseModel::Cogvideox => "CogVideoX",
        BaseModel::Mochi => "Mochi",
        BaseModel::ZImage => "Z-Image",
        BaseModel::HunyuanVideo15 => "HunyuanVideo 1.5",
        BaseModel::HunyuanImage => "HunyuanImage",
        BaseModel::Sana => "Sana",
        BaseModel::Ltx2 => "LTX-2",
        BaseModel::Kandinsky5 => "Kandinsky 5",
        BaseModel::OvisImage => "Ovis-Image",
        BaseModel::Anima => "Anima",
        BaseModel::Unknown => "unknown",
    }
}

/// Full denoisers, by one key each (with any checkpoint prefix removed), in ComfyUI's
/// order of checking.
const DENOISERS: &[(&str, BaseModel)] = &[
    (
        "joint_blocks.0.context_block.attn.qkv.weight",
        BaseModel::Sd3,
    ),
    ("clf.1.weight", BaseModel::StableCascade),
    ("double_layers.0.attn.w1q.weight", BaseModel::Auraflow),
    ("mlp_t5.0.weight", BaseModel::HunyuanDit),
    (
        "txt_in.individual_token_refiner.blocks.0.norm1.weight",
        BaseModel::HunyuanVideo,
    ),
    ("double_stream_modulation_img.lin.weight", BaseModel::Flux2),
    ("distilled_guidance_layer.norms.0.scale", BaseModel::Chroma),
    (
        "distilled_guidance_layer.0.norms.0.scale",
        BaseModel::Chroma,
    ),
    (
        "double_blocks.0.img_attn.norm.key_norm.scale",
        BaseModel::Flux,
    ),
    ("t5_yproj.weight", BaseModel::Mochi),
    (
        "adaln_single.emb.timestep_embedder.linear_1.bias",
        BaseModel::Ltxv,
    ),
    ("t_block.1.weight", BaseModel::Pixart),
    ("cap_embedder.1.weight", BaseModel::Lumina2),
    ("blocks.0.norm1.linear.weight", BaseModel::Cogvideox),
    ("head.modulation", BaseModel::Wan),
    ("caption_projection.0.linear.weight", BaseModel::Hidream),
    ("txt_norm.weight", BaseModel::QwenImage),
    ("x_embedder.weight", BaseModel::Flux),
];

/// Classifies a file by its tensor names and shapes; `lora_modules` is how many LoRA
/// (or LyCORIS, PEFT) modules were found in it.
pub(crate) fn classify(names: &[(&str, &[u64])], lora_modules: usize) -> Kind {
    if lora_modules > 0 {
        return Kind {
            kind: FileKind::Lora,
            family: None,
            evidence: format!("{lora_modules} adapter modules"),
        };
    }
    let shapes: HashMap<&str, &[u64]> = names.iter().copied().collect();
    let has = |k: &str| shapes.contains_key(k);
    let any = |pred: &dyn Fn(&str) -> bool| names.iter().any(|(n, _)| pred(n));
    let found = |kind, family, evidence: &str| Kind {
        kind,
        family,
        evidence: evidence.to_owned(),
    };
    // ControlNets first: they carry a UNet's input blocks too.
    if any(&|n| {
        n.starts_with("control_model.")
            || n.starts_with("zero_convs.")
            || n.starts_with("input_hint_block.")
            || n.starts_with("controlnet_cond_embedding.")
            || n.starts_with("controlnet_down_blocks.")
            || n.starts_with("controlnet_blocks.")
            || n.starts_with("controlnet_x_embedder.")
    }) {
        let family = unet_family(names);
        return found(
            FileKind::Controlnet,
            family,
            "ControlNet keys (zero_convs, input_hint_block, controlnet_*)",
        );
    }
    if let Some(kind) = embedding(&shapes, names.len()) {
        return kind;
    }
    let vae_only = !any(&|n| {
        n.starts_with("model.diffusion_model.")
            || n.starts_with("input_blocks.")
            || n.starts_with("down_blocks.")
            || n.contains("transformer_blocks.")
    });
    if vae_only
        && (has("decoder.conv_in.weight")
            || has("encoder.down.0.block.0.conv1.weight")
            || has("decoder.up_blocks.0.resnets.0.norm1.weight")
            || has("encoder.down_blocks.0.resnets.0.conv1.weight")
            || has("decoder.middle.0.residual.0.gamma")
            || has("decoder.conv_in.conv.weight")
            || has("decoder.up_blocks.0.res_blocks.0.conv1.conv.weight"))
    {
        let family = if has("decoder.middle.0.residual.0.gamma") {
            Some(BaseModel::Wan)
        } else if has("decoder.up_blocks.0.res_blocks.0.conv1.conv.weight") {
            Some(BaseModel::Ltxv)
        } else {
            None
        };
        return found(FileKind::Vae, family, "VAE encoder/decoder keys");
    }
    // A checkpoint's denoiser sits under `model.diffusion_model.` (single-file
    // checkpoints) or bare (diffusion-model files).
    let prefix = if names
        .iter()
        .filter(|(n, _)| n.starts_with("model.diffusion_model."))
        .take(6)
        .count()
        > 5
    {
        "model.diffusion_model."
    } else {
        ""
    };
    let key = |k: &str| format!("{prefix}{k}");
    for (tell, family) in DENOISERS {
        if has(&key(tell)) {
            return found(
                FileKind::Checkpoint,
                Some(*family),
                &format!("denoiser key {tell}"),
            );
        }
    }
    if has(&key("input_blocks.0.0.weight"))
        || has("conv_in.weight") && any(&|n| n.starts_with("down_blocks."))
    {
        return found(
            FileKind::Checkpoint,
            unet_family(names),
            "UNet keys (input_blocks / conv_in)",
        );
    }
    if !prefix.is_empty() {
        return found(FileKind::Checkpoint, None, "model.diffusion_model. keys");
    }
    found(
        FileKind::Unknown,
        None,
        "no adapter modules and no known kind's keys",
    )
}

/// A textual-inversion embedding: a handful of `[n, width]` vectors under the names
/// kohya, A1111 and ComfyUI use.
fn embedding(shapes: &HashMap<&str, &[u64]>, tensors: usize) -> Option<Kind> {
    let width = |k: &str| {
        shapes
            .get(k)
            .filter(|s| (1..=2).contains(&s.len()))
            .and_then(|s| s.last().copied())
    };
    let found = |family: Option<BaseModel>, evidence: &str| {
        Some(Kind {
            kind: FileKind::Embedding,
            family,
            evidence: evidence.to_owned(),
        })
    };
    if tensors > 8 {
        return None;
    }
    if let (Some(768), Some(1280)) = (width("clip_l"), width("clip_g")) {
        return found(
            Some(BaseModel::Sdxl),
            "clip_l [n, 768] and clip_g [n, 1280]",
        );
    }
    let single = width("emb_params")
        .or_else(|| width("string_to_param.*"))
        .or_else(|| width("*"));
    match single {
        Some(768) => found(Some(BaseModel::Sd1), "emb_params [n, 768]"),
        Some(1024) => found(Some(BaseModel::Sd2), "emb_params [n, 1024]"),
        Some(_) => found(None, "emb_params"),
        None => None,
    }
}

/// SD1/SD2/SDXL from a UNet's cross-attention width, as ComfyUI reads `context_dim`.
fn unet_family(names: &[(&str, &[u64])]) -> Option<BaseModel> {
    let context = names.iter().find_map(|(n, shape)| {
        (n.ends_with("attn2.to_k.weight") && shape.len() == 2).then(|| shape[1])
    })?;
    match context {
        768 => Some(BaseModel::Sd1),
        1024 => Some(BaseModel::Sd2),
        2048 => Some(BaseModel::Sdxl),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_read_as_english() {
        let d = |kind, family| {
            Kind {
                kind,
                family,
                evidence: String::new(),
            }
            .describe()
        };
        assert_eq!(
            d(FileKind::Checkpoint, Some(BaseModel::Sdxl)),
            "a full SDXL checkpoint"
        );
        assert_eq!(d(FileKind::Checkpoint, None), "a full checkpoint");
        assert_eq!(
            d(FileKind::Embedding, Some(BaseModel::Sd1)),
            "an SD1 textual-inversion embedding"
        );
        assert_eq!(d(FileKind::Vae, None), "a VAE");
        assert_eq!(
            d(FileKind::Controlnet, Some(BaseModel::Flux)),
            "a Flux ControlNet"
        );
        assert_eq!(
            d(FileKind::Embedding, None),
            "a textual-inversion embedding"
        );
    }

    #[test]
    fn kinds_by_their_tell_tale_keys() {
        let sdxl_ckpt: Vec<(&str, &[u64])> = vec![
            (
                "model.diffusion_model.input_blocks.0.0.weight",
                &[320, 4, 3, 3],
            ),
            (
                "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight",
                &[640, 2048],
            ),
            ("model.diffusion_model.label_emb.0.0.weight", &[1280, 2816]),
            ("model.diffusion_model.out.2.weight", &[4, 320, 3, 3]),
            ("model.diffusion_model.time_embed.0.weight", &[1280, 320]),
            (
                "model.diffusion_model.middle_block.0.in_layers.0.weight",
                &[1280],
            ),
            ("first_stage_model.decoder.conv_in.weight", &[512, 4, 3, 3]),
        ];
        let k = classify(&sdxl_ckpt, 0);
        assert_eq!(
            (k.kind, k.family),
            (FileKind::Checkpoint, Some(BaseModel::Sdxl))
        );
        let emb: Vec<(&str, &[u64])> = vec![("clip_l", &[4, 768]), ("clip_g", &[4, 1280])];
        assert_eq!(classify(&emb, 0).family, Some(BaseModel::Sdxl));
        let vae: Vec<(&str, &[u64])> = vec![
            ("encoder.down.0.block.0.conv1.weight", &[128, 128, 3, 3]),
            ("decoder.conv_in.weight", &[512, 4, 3, 3]),
        ];
        assert_eq!(classify(&vae, 0).kind, FileKind::Vae);
        let lora: Vec<(&str, &[u64])> = vec![("clip_l", &[4, 768])];
        assert_eq!(classify(&lora, 3).kind, FileKind::Lora);
        let other: Vec<(&str, &[u64])> = vec![("something.weight", &[4, 4])];
        assert_eq!(classify(&other, 0).kind, FileKind::Unknown);
    }
}
