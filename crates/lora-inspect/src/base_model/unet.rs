//! Families from the UNets (SD1, SD2, SDXL, Kolors, Stable Cascade) and the text
//! encoders: structure, context width, encoder slots and widths.

use super::Signal;
use super::family::{BaseModel, Families};
use super::layout::{Modules, normalize};

/// The UNet families (SD1, SD2, SDXL and Kolors, which shares SDXL's UNet): structure
/// and the cross-attention (context) width.
pub(super) fn unet(modules: &Modules, out: &mut Vec<Signal>) {
    const UNET: &[&str] = &[
        "down_blocks_",
        "up_blocks_",
        "mid_block_",
        "input_blocks_",
        "output_blocks_",
        "middle_block_",
    ];
    let unet: Vec<(String, Option<u64>)> = modules
        .iter()
        .filter(|(m, _)| !crate::names::is_text_encoder(m))
        .map(|(m, w)| (normalize(m), w.input))
        .filter(|(n, _)| UNet::is(n, UNET))
        .collect();
    if unet.is_empty() {
        return;
    }
    let all = Families::of(&[
        BaseModel::Sd1,
        BaseModel::Sd2,
        BaseModel::Sdxl,
        BaseModel::Kolors,
    ]);
    let xl = Families::of(&[BaseModel::Sdxl, BaseModel::Kolors]);
    let sd12 = Families::of(&[BaseModel::Sd1, BaseModel::Sd2]);
    let any = |pred: &dyn Fn(&str) -> bool| unet.iter().any(|(n, _)| pred(n));
    // Stable Cascade's diffusers UNet: `down_blocks_0_1_attention…` (two indexes).
    if any(&|n| UNet::two_indexes(n)) {
        out.push(Signal::keys(
            "keys: down_blocks_N_M (Stable Cascade's UNet)".into(),
            Families::one(BaseModel::StableCascade),
        ));
        return;
    }
    out.push(Signal::keys("keys: UNet blocks".into(), all));
    // kohya sd-scripts writes the LDM block names only for SDXL
    // (`library/sdxl_original_unet.py`); its SD1/SD2 networks use diffusers' names.
    if modules.keys().any(|m| {
        [
            "lora_unet_input_blocks_",
            "lora_unet_output_blocks_",
            "lora_unet_middle_block_",
        ]
        .iter()
        .any(|p| m.starts_with(p))
    }) {
        out.push(Signal::keys(
            "keys: lora_unet_ with LDM block names (kohya sd-scripts' SDXL UNet)".into(),
            xl,
        ));
    }
    if any(&|n| transformer_depth(n) >= 1) {
        out.push(Signal::keys(
            "keys: transformer_blocks_1 or deeper inside a UNet block (SDXL's depth 2 and 10)"
                .into(),
            xl,
        ));
    }
    if any(&|n| {
        n.starts_with("down_blocks_0_attentions")
            || n.starts_with("up_blocks_3_attentions")
            || n.starts_with("input_blocks_1_1_")
            || n.starts_with("input_blocks_2_1_")
    }) {
        out.push(Signal::keys(
            "keys: attention in the outermost UNet level (SD1/SD2; SDXL has none there)".into(),
            sd12,
        ));
    }
    let context: Vec<u64> = unet
        .iter()
        .filter(|(n, _)| n.ends_with("attn2_to_k") || n.ends_with("attn2_to_v"))
        .filter_map(|(_, w)| *w)
        .collect();
    if let Some(&width) = context.first() {
        let fits = match width {
            768 => Families::one(BaseModel::Sd1),
            1024 => Families::one(BaseModel::Sd2),
            2048 => xl,
            _ => Families::NONE,
        };
        out.push(Signal::shapes(
            format!("shapes: cross-attention context width {width}"),
            fits,
        ));
    }
}

struct UNet;

impl UNet {
    fn is(n: &str, prefixes: &[&str]) -> bool {
        prefixes.iter().any(|p| n.starts_with(p))
    }

    /// `down_blocks_0_1_…`: a second index right after the first.
    fn two_indexes(n: &str) -> bool {
        let Some(rest) = n
            .strip_prefix("down_blocks_")
            .or_else(|| n.strip_prefix("up_blocks_"))
        else {
            return false;
        };
        let mut parts = rest.split('_');
        let first = parts.next().unwrap_or_default();
        let second = parts.next().unwrap_or_default();
        !first.is_empty()
            && first.bytes().all(|b| b.is_ascii_digit())
            && !second.is_empty()
            && second.bytes().all(|b| b.is_ascii_digit())
    }
}

/// The K of `…transformer_blocks_K_…` inside a UNet block (0 when absent).
fn transformer_depth(n: &str) -> u32 {
    n.split_once("transformer_blocks_")
        .and_then(|(_, rest)| rest.split('_').next())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// The text encoders: which slots are trained and how wide they are.
pub(super) fn text_encoders(modules: &Modules, out: &mut Vec<Signal>) {
    let te: Vec<(String, Option<u64>)> = modules
        .iter()
        .filter(|(m, _)| crate::names::is_text_encoder(m))
        .map(|(m, w)| (m.to_ascii_lowercase().replace('.', "_"), w.input))
        .collect();
    if te.is_empty() {
        return;
    }
    if te
        .iter()
        .any(|(n, _)| n.contains("self_attention_query_key_value") || n.contains("dense_h_to_4h"))
    {
        out.push(Signal::keys(
            "keys: ChatGLM text encoder (Kolors)".into(),
            Families::one(BaseModel::Kolors),
        ));
        return;
    }
    let slot = |n: &str| -> u8 {
        if n.starts_with("lora_te1_") || n.starts_with("text_encoder_1") || n.starts_with("te1") {
            1
        } else if n.starts_with("lora_te2_")
            || n.starts_with("text_encoder_2")
            || n.starts_with("te2")
        {
            2
        } else if n.starts_with("lora_te3_") || n.starts_with("text_encoder_3") {
            3
        } else if n.starts_with("lora_te_") {
            0
        } else {
            // diffusers `text_encoder.` (or a PEFT prefix before it): the first encoder.
            4
        }
    };
    let clip_width = |s: u8| {
        te.iter()
            .filter(|(n, _)| slot(n) == s && (n.ends_with("q_proj") || n.ends_with("mlp_fc1")))
            .find_map(|(_, w)| *w)
    };
    let slots: std::collections::BTreeSet<u8> = te.iter().map(|(n, _)| slot(n)).collect();
    let (text, fits) = if slots.contains(&2) {
        (
            "keys: a second CLIP text encoder (lora_te2 / text_encoder_2)",
            Families::of(&[BaseModel::Sdxl, BaseModel::Sd3]),
        )
    } else if slots.contains(&3) {
        (
            "keys: a T5 text encoder (lora_te3 / text_encoder_3)",
            Families::of(&[BaseModel::Sd3, BaseModel::Flux]),
        )
    } else if slots.contains(&1) {
        (
            "keys: the first of several text encoders (lora_te1)",
            Families::of(&[BaseModel::Sdxl, BaseModel::Sd3, BaseModel::Flux]),
        )
    } else if slots.contains(&0) {
        (
            "keys: a single text encoder (lora_te)",
            Families::of(&[BaseModel::Sd1, BaseModel::Sd2]),
        )
    } else {
        (
            "keys: a text encoder (text_encoder)",
            Families::of(&[
                BaseModel::Sd1,
                BaseModel::Sd2,
                BaseModel::Sdxl,
                BaseModel::Sd3,
                BaseModel::Flux,
            ]),
        )
    };
    out.push(Signal::keys(text.into(), fits));
    let first = clip_width(0).or(clip_width(1)).or(clip_width(4));
    if let Some(width) = first {
        let fits = match width {
            768 => Families::of(&[
                BaseModel::Sd1,
                BaseModel::Sdxl,
                BaseModel::Sd3,
                BaseModel::Flux,
            ]),
            1024 => Families::one(BaseModel::Sd2),
            _ => Families::NONE,
        };
        out.push(Signal::shapes(
            format!("shapes: text encoder width {width}"),
            fits,
        ));
    }
    if let Some(width) = clip_width(2) {
        out.push(Signal::shapes(
            format!("shapes: second text encoder width {width}"),
            if width == 1280 {
                Families::of(&[BaseModel::Sdxl, BaseModel::Sd3])
            } else {
                Families::NONE
            },
        ));
    }
}
