//! Families from the key layout: which block containers the modules sit in, how many
//! blocks there are, what each block holds and how wide it is.
//!
//! Every family is a set of [`Layout`]s (one per naming convention). A file is
//! consistent with a layout when each of its transformer modules sits in one of the
//! layout's containers, at an index below that container's block count, in a part the
//! layout's blocks have, and at one of its hidden widths. The evidence is the set of
//! families with a consistent layout: elimination, so that a file no layout explains
//! supports nothing rather than the nearest guess.

use std::collections::BTreeMap;

use super::Signal;
use super::family::{BaseModel, Families};
use crate::names::{Part, split};

/// One naming convention of one family's denoiser.
struct Layout {
    family: BaseModel,
    /// Block containers and how many blocks each holds.
    blocks: &'static [(&'static str, u32)],
    /// Hidden sizes (the input width of the attention's query projection).
    widths: &'static [u64],
    /// What a block holds: the leading words of a module's name after its index.
    parts: &'static [&'static str],
}

const FLUX_BFL_PARTS: &[&str] = &[
    "img_attn_qkv",
    "img_attn_proj",
    "img_mlp_0",
    "img_mlp_2",
    "img_mod_lin",
    "txt_attn_qkv",
    "txt_attn_proj",
    "txt_mlp_0",
    "txt_mlp_2",
    "txt_mod_lin",
    "linear1",
    "linear2",
    "modulation_lin",
];
/// Chroma is Flux without the modulation layers (a distilled guidance layer instead).
const CHROMA_BFL_PARTS: &[&str] = &[
    "img_attn_qkv",
    "img_attn_proj",
    "img_mlp_0",
    "img_mlp_2",
    "txt_attn_qkv",
    "txt_attn_proj",
    "txt_mlp_0",
    "txt_mlp_2",
    "linear1",
    "linear2",
];
const HUNYUAN_BFL_PARTS: &[&str] = &[
    "img_attn_qkv",
    "img_attn_proj",
    "img_mlp_fc1",
    "img_mlp_fc2",
    "img_mod_linear",
    "txt_attn_qkv",
    "txt_attn_proj",
    "txt_mlp_fc1",
    "txt_mlp_fc2",
    "txt_mod_linear",
    "linear1",
    "linear2",
    "modulation_linear",
];
/// diffusers' MMDiT double blocks plus single blocks (Flux, HunyuanVideo, FramePack).
const MMDIT_PARTS: &[&str] = &[
    "attn",
    "ff",
    "ff_context",
    "norm1",
    "norm1_context",
    "norm",
    "proj_mlp",
    "proj_out",
];
const CHROMA_PARTS: &[&str] = &["attn", "ff", "ff_context", "proj_mlp", "proj_out"];
const SD3_PARTS: &[&str] = &[
    "attn",
    "attn2",
    "ff",
    "ff_context",
    "norm1",
    "norm1_context",
];
const SD3_SAI_PARTS: &[&str] = &["x_block", "context_block"];

const LAYOUTS: &[Layout] = &[
    Layout {
        family: BaseModel::Flux,
        blocks: &[("double_blocks", 19), ("single_blocks", 38)],
        widths: &[3072],
        parts: FLUX_BFL_PARTS,
    },
    Layout {
        family: BaseModel::Flux,
        blocks: &[
            ("transformer_blocks", 19),
            ("single_transformer_blocks", 38),
        ],
        widths: &[3072],
        parts: MMDIT_PARTS,
    },
    Layout {
        family: BaseModel::Chroma,
        blocks: &[("double_blocks", 19), ("single_blocks", 38)],
        widths: &[3072],
        parts: CHROMA_BFL_PARTS,
    },
    Layout {
        family: BaseModel::Chroma,
        blocks: &[
            ("transformer_blocks", 19),
            ("single_transformer_blocks", 38),
        ],
        widths: &[3072],
        parts: CHROMA_PARTS,
    },
    Layout {
        family: BaseModel::Flux2,
        blocks: &[("double_blocks", 8), ("single_blocks", 48)],
        widths: &[6144],
        parts: FLUX_BFL_PARTS,
    },
    Layout {
        family: BaseModel::Flux2,
        blocks: &[("transformer_blocks", 8), ("single_transformer_blocks", 48)],
        widths: &[6144],
        parts: MMDIT_PARTS,
    },
    Layout {
        family: BaseModel::HunyuanVideo,
        blocks: &[("double_blocks", 20), ("single_blocks", 40)],
        widths: &[3072],
        parts: HUNYUAN_BFL_PARTS,
    },
    Layout {
        family: BaseModel::HunyuanVideo,
        blocks: &[
            ("transformer_blocks", 20),
            ("single_transformer_blocks", 40),
        ],
        widths: &[3072],
        parts: MMDIT_PARTS,
    },
    Layout {
        family: BaseModel::Framepack,
        blocks: &[
            ("transformer_blocks", 20),
            ("single_transformer_blocks", 40),
        ],
        widths: &[3072],
        parts: MMDIT_PARTS,
    },
    Layout {
        family: BaseModel::Sd3,
        blocks: &[("joint_blocks", 38)],
        widths: &[1536, 2432],
        parts: SD3_SAI_PARTS,
    },
    Layout {
        family: BaseModel::Sd3,
        blocks: &[("transformer_blocks", 38)],
        widths: &[1536, 2432],
        parts: SD3_PARTS,
    },
    Layout {
        family: BaseModel::Auraflow,
        blocks: &[
            ("joint_transformer_blocks", 4),
            ("single_transformer_blocks", 32),
        ],
        widths: &[3072],
        parts: &["attn", "ff", "ff_context", "norm1", "norm1_context"],
    },
    Layout {
        family: BaseModel::QwenImage,
        blocks: &[("transformer_blocks", 60)],
        widths: &[3072],
        parts: &["attn", "img_mlp", "txt_mlp", "img_mod", "txt_mod"],
    },
    Layout {
        family: BaseModel::Mochi,
        blocks: &[("transformer_blocks", 48)],
        widths: &[3072],
        parts: &["attn1", "ff", "ff_context", "norm1", "norm1_context"],
    },
    Layout {
        family: BaseModel::Cogvideox,
        blocks: &[("transformer_blocks", 42)],
        widths: &[1920, 3072],
        parts: &["attn1", "ff", "norm1", "norm2"],
    },
    Layout {
        family: BaseModel::Ltxv,
        blocks: &[("transformer_blocks", 48)],
        widths: &[2048, 4096],
        parts: &["attn1", "attn2", "ff"],
    },
    Layout {
        family: BaseModel::Pixart,
        blocks: &[("transformer_blocks", 28)],
        widths: &[1152],
        parts: &["attn1", "attn2", "ff"],
    },
    Layout {
        family: BaseModel::Lumina2,
        blocks: &[("layers", 26), ("noise_refiner", 2), ("context_refiner", 2)],
        widths: &[2304],
        parts: &[
            "attention",
            "attn",
            "feed_forward",
            "adaln_modulation",
            "norm1",
        ],
    },
    Layout {
        family: BaseModel::Hidream,
        blocks: &[("double_stream_blocks", 16), ("single_stream_blocks", 32)],
        widths: &[2560],
        parts: &["block"],
    },
    Layout {
        family: BaseModel::Wan,
        blocks: &[("blocks", 40)],
        widths: &[1536, 3072, 5120],
        parts: &["self_attn", "cross_attn", "ffn", "attn1", "attn2"],
    },
    Layout {
        family: BaseModel::HunyuanDit,
        blocks: &[("blocks", 40)],
        widths: &[1408],
        parts: &["attn1", "attn2", "ff", "norm1", "norm2", "skip_linear"],
    },
];

/// Prefixes the trainers put before the denoiser's own module names.
const PREFIXES: &[&str] = &[
    "base_model.model.",
    "model.diffusion_model.",
    "diffusion_model.",
    "transformer.",
    "unet.",
    "lora_unet_",
    "lora_transformer_",
    "lora_prior_unet_",
    "lycoris_",
];

/// A module name without the trainer's prefix, lowercase, with `_` for `.`.
pub(super) fn normalize(module: &str) -> String {
    let mut rest = module;
    while let Some(stripped) = PREFIXES.iter().find_map(|p| rest.strip_prefix(p)) {
        rest = stripped;
    }
    rest.to_ascii_lowercase().replace('.', "_")
}

/// Every layout's block containers, longest first (so `single_transformer_blocks` is
/// tried before `transformer_blocks`, and that before `blocks`).
static CONTAINERS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut containers: Vec<&'static str> = LAYOUTS
        .iter()
        .flat_map(|l| l.blocks.iter().map(|(c, _)| *c))
        .collect();
    containers.sort_by_key(|c| (std::cmp::Reverse(c.len()), *c));
    containers.dedup();
    containers
});

/// `container_N_rest` → (container, N, rest), for the known containers.
fn block(name: &str) -> Option<(&'static str, u32, &str)> {
    CONTAINERS.iter().copied().find_map(|c| {
        let after = name.strip_prefix(c)?.strip_prefix('_')?;
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let index = after[..digits].parse().ok()?;
        let rest = &after[digits..];
        let rest = rest.strip_prefix('_').unwrap_or(rest);
        (rest.is_empty() || digits < after.len() && after.as_bytes()[digits] == b'_')
            .then_some((c, index, rest))
    })
}

/// `rest` is `part` or starts with `part_`.
fn starts_with_word(rest: &str, part: &str) -> bool {
    rest.strip_prefix(part)
        .is_some_and(|tail| tail.is_empty() || tail.starts_with('_'))
}

/// A module whose down factor's input width is the hidden size.
fn is_query(rest: &str) -> bool {
    !rest.contains("add_q")
        && (rest.ends_with("to_q")
            || rest.ends_with("qkv")
            || rest.ends_with("_q")
            || rest == "linear1")
}

/// A transformer module: where it sits, what it is, its input width when known.
struct DitModule<'a> {
    container: &'static str,
    index: u32,
    rest: &'a str,
    width: Option<u64>,
}

impl Layout {
    fn explains(&self, m: &DitModule<'_>) -> bool {
        self.blocks
            .iter()
            .any(|(c, count)| *c == m.container && m.index < *count)
            && self.parts.iter().any(|p| starts_with_word(m.rest, p))
            && (!is_query(m.rest) || m.width.is_none_or(|w| self.widths.contains(&w)))
    }
}

/// The modules of a file: normalized name → input width of its down factor.
pub(super) fn modules(names: &[(&str, &[u64])]) -> BTreeMap<String, Option<u64>> {
    let mut out: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for (name, shape) in names {
        let Some((module, part)) = split(name) else {
            continue;
        };
        let width = match part {
            Part::Down if shape.len() == 2 => shape.get(1).copied(),
            Part::Loha if name.ends_with("hada_w1_b") && shape.len() == 2 => shape.get(1).copied(),
            _ => None,
        };
        let entry = out.entry(module.to_owned()).or_default();
        *entry = entry.or(width);
    }
    out
}

/// The signals of the denoiser's transformer blocks.
pub(super) fn transformer(modules: &BTreeMap<String, Option<u64>>, out: &mut Vec<Signal>) {
    let normalized: Vec<(String, Option<u64>)> = modules
        .iter()
        .filter(|(m, _)| !crate::names::is_text_encoder(m))
        .map(|(m, w)| (normalize(m), *w))
        .collect();
    let dit: Vec<DitModule<'_>> = normalized
        .iter()
        .filter_map(|(n, width)| {
            let (container, index, rest) = block(n)?;
            Some(DitModule {
                container,
                index,
                rest,
                width: *width,
            })
        })
        .collect();
    let mut fits = Families::NONE;
    if !dit.is_empty() {
        fits = LAYOUTS
            .iter()
            .filter(|l| dit.iter().all(|m| l.explains(m)))
            .fold(Families::NONE, |set, l| set.or(Families::one(l.family)));
        out.push(Signal::keys(describe_blocks(&dit), fits));
    }
    if normalized
        .iter()
        .any(|(n, _)| n.starts_with("distilled_guidance_layer"))
    {
        out.push(Signal::keys(
            "keys: distilled_guidance_layer (Chroma's replacement for Flux's modulation)".into(),
            Families::one(BaseModel::Chroma),
        ));
    }
    if normalized.iter().any(|(n, _)| n.contains("token_refiner")) {
        out.push(Signal::keys(
            "keys: token_refiner (HunyuanVideo's text refiner)".into(),
            Families::of(&[BaseModel::HunyuanVideo, BaseModel::Framepack]),
        ));
    }
    if normalized
        .iter()
        .any(|(n, _)| n.starts_with("clean_x_embedder") || n.starts_with("image_projection"))
    {
        out.push(Signal::keys(
            "keys: clean_x_embedder / image_projection (FramePack's additions)".into(),
            Families::one(BaseModel::Framepack),
        ));
    }
    // musubi-tuner is the one trainer that writes diffusers' HunyuanVideo block names with
    // kohya's `lora_unet_` prefix: its FramePack networks (`networks/lora_framepack.py`).
    let musubi_framepack = modules.keys().any(|m| {
        m.starts_with("lora_unet_transformer_blocks_")
            || m.starts_with("lora_unet_single_transformer_blocks_")
    }) && dit.iter().any(|m| {
        (m.container == "transformer_blocks" && m.index >= 19)
            || (m.container == "single_transformer_blocks" && m.index >= 38)
    });
    if musubi_framepack && fits.contains(BaseModel::Framepack) {
        out.push(Signal::keys(
            "keys: lora_unet_ with diffusers HunyuanVideo block names beyond Flux's (musubi-tuner FramePack)".into(),
            Families::one(BaseModel::Framepack),
        ));
    }
    if normalized
        .iter()
        .any(|(n, _)| n.contains("_kv_mapper") || n.contains("_channelwise_"))
    {
        out.push(Signal::keys(
            "keys: kv_mapper / channelwise (Stable Cascade's Würstchen blocks)".into(),
            Families::one(BaseModel::StableCascade),
        ));
    }
}

/// `double_blocks 0–18, single_blocks 0–37; width 3072`.
fn describe_blocks(dit: &[DitModule<'_>]) -> String {
    let mut ranges: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut widths: Vec<u64> = Vec::new();
    for m in dit {
        let r = ranges.entry(m.container).or_insert((m.index, m.index));
        r.0 = r.0.min(m.index);
        r.1 = r.1.max(m.index);
        if let Some(w) = m.width.filter(|_| is_query(m.rest))
            && !widths.contains(&w)
        {
            widths.push(w);
        }
    }
    let mut text = ranges
        .iter()
        .map(|(c, (lo, hi))| format!("{c} {lo}–{hi}"))
        .collect::<Vec<_>>()
        .join(", ");
    if !widths.is_empty() {
        widths.sort_unstable();
        let widths: Vec<String> = widths.iter().map(u64::to_string).collect();
        text.push_str(&format!("; hidden width {}", widths.join("/")));
    }
    format!("keys: {text}")
}

/// The variant the denoiser's shapes tell, for the family the evidence settled on.
/// The variant, from the metadata's (`named`) refined by the shapes: the metadata's
/// wins where it is finer; the shapes fill in what it leaves open (a Wan release from
/// ai-toolkit's `wan_2.1` with the 14B width gives `2.1-14b`).
pub(super) fn variant(
    family: BaseModel,
    modules: &BTreeMap<String, Option<u64>>,
    named: Option<&'static str>,
) -> Option<&'static str> {
    let normalized: Vec<(String, Option<u64>)> =
        modules.iter().map(|(m, w)| (normalize(m), *w)).collect();
    let widths = || {
        normalized.iter().filter_map(|(n, w)| {
            let (_, _, rest) = block(n)?;
            w.filter(|_| is_query(rest))
        })
    };
    let has = |pred: &dyn Fn(&str) -> bool| normalized.iter().any(|(n, _)| pred(n));
    match family {
        _ if named.is_some() && family != BaseModel::Wan => named,
        BaseModel::Sd3 => {
            if widths().any(|w| w == 2432) {
                Some("sd3.5-large")
            } else if has(&|n| {
                block(n).is_some_and(|(_, _, rest)| {
                    starts_with_word(rest, "attn2") || rest.starts_with("x_block_attn2")
                })
            }) {
                Some("sd3.5-medium")
            } else {
                None
            }
        }
        BaseModel::Wan => {
            if named.is_some_and(|v| v != "2.1") {
                named
            } else if has(&|n| n.contains("cross_attn_k_img") || n.contains("add_k_proj")) {
                // Image cross-attention exists only in Wan 2.1's I2V/FLF2V 14B models.
                Some("2.1-14b")
            } else if widths().any(|w| w == 1536) {
                Some("2.1-t2v-1.3b")
            } else if widths().any(|w| w == 3072) {
                Some("2.2")
            } else if named == Some("2.1") && widths().any(|w| w == 5120) {
                Some("2.1-14b")
            } else {
                named
            }
        }
        // Flux.2 dev is the 6144-wide model (klein 4B and 9B are 3072 and 4096).
        BaseModel::Flux2 if widths().any(|w| w == 6144) => Some("dev"),
        _ => None,
    }
}

/// The UNet families (SD1, SD2, SDXL and Kolors, which shares SDXL's UNet): structure
/// and the cross-attention (context) width.
pub(super) fn unet(modules: &BTreeMap<String, Option<u64>>, out: &mut Vec<Signal>) {
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
        .map(|(m, w)| (normalize(m), *w))
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
pub(super) fn text_encoders(modules: &BTreeMap<String, Option<u64>>, out: &mut Vec<Signal>) {
    let te: Vec<(String, Option<u64>)> = modules
        .iter()
        .filter(|(m, _)| crate::names::is_text_encoder(m))
        .map(|(m, w)| (m.to_ascii_lowercase().replace('.', "_"), *w))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_read_after_the_trainers_prefix() {
        assert_eq!(
            normalize("lora_unet_single_transformer_blocks_3_attn_to_q"),
            "single_transformer_blocks_3_attn_to_q"
        );
        assert_eq!(
            normalize("base_model.model.transformer.blocks.0.self_attn.q"),
            "blocks_0_self_attn_q"
        );
        assert_eq!(
            block("single_transformer_blocks_3_attn_to_q"),
            Some(("single_transformer_blocks", 3, "attn_to_q"))
        );
        assert_eq!(
            block("double_blocks_12_img_mlp_0"),
            Some(("double_blocks", 12, "img_mlp_0"))
        );
        assert_eq!(block("down_blocks_0_attentions_0"), None);
        assert!(starts_with_word("img_mod_lin", "img_mod_lin"));
        assert!(!starts_with_word("img_mod_linear", "img_mod_lin"));
    }
}
