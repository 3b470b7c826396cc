//! Families from the key layout: which block containers the modules sit in, how many
//! blocks there are, what each block holds and how wide it is.
//!
//! Every family is a set of layouts (`table`, one per naming convention). A file is
//! consistent with a layout when each of its transformer modules sits in one of the
//! layout's containers, at an index below that container's block count, in a part the
//! layout's blocks have, at one of its widths, and (where the layout names them) with its
//! output widths. The evidence is the set of families with a consistent layout:
//! elimination, so that a file no layout explains supports nothing rather than the
//! nearest guess. One rule goes further: a file that covers every block of each container
//! it uses, exactly as many as some fitting layouts have and fewer than the others,
//! supports those (trainers target every block unless told otherwise).

use std::collections::{BTreeMap, BTreeSet};

use super::Signal;
use super::family::{BaseModel, Families};
use super::table::{LAYOUTS, Layout};
use crate::names::{Part, split};

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

/// XLabs' x-flux LoRA processors, renamed to the Flux modules they add to (as ComfyUI's
/// `convert_uso_lora` does): stream 1 is the image, stream 2 the text; a single block's
/// `qkv_lora` adds to the q/k/v slice of `linear1`, its `proj_lora` to `linear2`.
const XLABS: &[(&str, &str)] = &[
    ("_processor_qkv_lora1", "_img_attn_qkv"),
    ("_processor_proj_lora1", "_img_attn_proj"),
    ("_processor_qkv_lora2", "_txt_attn_qkv"),
    ("_processor_proj_lora2", "_txt_attn_proj"),
    ("_processor_qkv_lora", "_linear1_qkv"),
    ("_processor_proj_lora", "_linear2"),
];

/// A module name without the trainer's prefix, lowercase, with `_` for `.`.
pub(super) fn normalize(module: &str) -> String {
    let mut rest = module;
    while let Some(stripped) = PREFIXES.iter().find_map(|p| rest.strip_prefix(p)) {
        rest = stripped;
    }
    let mut name = rest.to_ascii_lowercase().replace('.', "_");
    if let Some((from, to)) = XLABS.iter().find(|(from, _)| name.ends_with(from)) {
        name.truncate(name.len() - from.len());
        name.push_str(to);
    }
    name
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
            || rest.ends_with("q_proj")
            || rest.ends_with("to_query")
            || rest.ends_with("qkv_x")
            || rest.ends_with("to_qkv_mlp_proj")
            || rest == "linear1")
}

/// What a module's factors say of the layer it adapts: its input width (the down
/// factor's columns) and output width (the up factor's rows), when 2-D.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Widths {
    pub(super) input: Option<u64>,
    pub(super) output: Option<u64>,
}

/// The modules of a file, by name as written.
pub(super) type Modules = BTreeMap<String, Widths>;

/// The modules of a file and their widths.
pub(super) fn modules(names: &[(&str, &[u64])]) -> Modules {
    let mut out = Modules::new();
    for (name, shape) in names {
        let Some((module, part)) = split(name) else {
            continue;
        };
        let two_d = shape.len() == 2;
        let input = match part {
            Part::Down if two_d => shape.get(1).copied(),
            Part::Loha if name.ends_with("hada_w1_b") && two_d => shape.get(1).copied(),
            _ => None,
        };
        let output = match part {
            Part::Up if two_d => shape.first().copied(),
            _ => None,
        };
        let entry = out.entry(module.to_owned()).or_default();
        entry.input = entry.input.or(input);
        entry.output = entry.output.or(output);
    }
    out
}

/// A transformer module: where it sits, what it is, its widths when known.
struct DitModule<'a> {
    container: &'static str,
    index: u32,
    rest: &'a str,
    widths: Widths,
}

impl Layout {
    fn explains(&self, m: &DitModule<'_>) -> bool {
        let input_fits = match self
            .part_widths
            .iter()
            .find(|(p, _)| starts_with_word(m.rest, p))
        {
            Some((_, widths)) => m.widths.input.is_none_or(|w| widths.contains(&w)),
            None => !is_query(m.rest) || m.widths.input.is_none_or(|w| self.widths.contains(&w)),
        };
        let output_fits = self
            .outs
            .iter()
            .find(|(name, _)| *name == m.rest)
            .is_none_or(|(_, out)| m.widths.output.is_none_or(|w| w == *out));
        self.blocks
            .iter()
            .any(|(c, count)| *c == m.container && m.index < *count)
            && self.parts.iter().any(|p| starts_with_word(m.rest, p))
            && input_fits
            && output_fits
    }

    /// Whether `covered` (container → block indexes) is every block of each container it
    /// names, exactly as many as this layout has.
    fn covered_exactly(&self, covered: &BTreeMap<&str, BTreeSet<u32>>) -> bool {
        covered.iter().all(|(container, indexes)| {
            self.blocks.iter().any(|(c, count)| {
                c == container
                    && indexes.len() as u32 == *count
                    && indexes.last() == Some(&(count - 1))
            })
        })
    }
}

/// The denoiser's modules, normalized (text encoders left out).
fn normalized(modules: &Modules) -> Vec<(String, Widths)> {
    modules
        .iter()
        .filter(|(m, _)| !crate::names::is_text_encoder(m))
        .map(|(m, w)| (normalize(m), *w))
        .collect()
}

/// The modules that sit in a known block container.
fn dit(normalized: &[(String, Widths)]) -> Vec<DitModule<'_>> {
    normalized
        .iter()
        .filter_map(|(n, widths)| {
            let (container, index, rest) = block(n)?;
            Some(DitModule {
                container,
                index,
                rest,
                widths: *widths,
            })
        })
        .collect()
}

/// The layouts that explain every module of `dit`.
fn fitting<'a>(dit: &'a [DitModule<'_>]) -> impl Iterator<Item = &'static Layout> + 'a {
    LAYOUTS
        .iter()
        .filter(move |l| !dit.is_empty() && dit.iter().all(|m| l.explains(m)))
}

/// The fewest blocks a file must cover for full coverage to count: a container of two
/// refiner blocks, or a handful of blocks, is no sign of "every block by default".
const FULL_COVERAGE_MIN_BLOCKS: usize = 8;

/// The signals of the denoiser's transformer blocks.
pub(super) fn transformer(modules: &Modules, out: &mut Vec<Signal>) {
    let normalized = normalized(modules);
    let dit = dit(&normalized);
    let mut fits = Families::NONE;
    if !dit.is_empty() {
        let layouts: Vec<&Layout> = fitting(&dit).collect();
        fits = layouts
            .iter()
            .fold(Families::NONE, |set, l| set.or(Families::one(l.family)));
        out.push(Signal::keys(describe_blocks(&dit), fits));
        let covered = coverage(&dit);
        let blocks: usize = covered.values().map(BTreeSet::len).sum();
        let exact = layouts
            .iter()
            .filter(|l| l.covered_exactly(&covered))
            .fold(Families::NONE, |set, l| set.or(Families::one(l.family)));
        if blocks >= FULL_COVERAGE_MIN_BLOCKS && !exact.is_empty() && exact != fits {
            let containers: Vec<String> = covered
                .iter()
                .map(|(c, i)| format!("{c} 0–{}", i.len() - 1))
                .collect();
            out.push(Signal::keys(
                format!(
                    "keys: every block of {} (exactly the block count of {}; the others have more)",
                    containers.join(", "),
                    exact
                        .to_vec()
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                exact,
            ));
        }
    }
    extras(modules, &normalized, &dit, fits, out);
}

/// Container → the block indexes the file's modules sit in.
fn coverage(dit: &[DitModule<'_>]) -> BTreeMap<&'static str, BTreeSet<u32>> {
    let mut covered: BTreeMap<&'static str, BTreeSet<u32>> = BTreeMap::new();
    for m in dit {
        covered.entry(m.container).or_default().insert(m.index);
    }
    covered
}

/// Keys outside the blocks that only one family (or two) has.
fn extras(
    modules: &Modules,
    normalized: &[(String, Widths)],
    dit: &[DitModule<'_>],
    fits: Families,
    out: &mut Vec<Signal>,
) {
    let any = |pred: &dyn Fn(&str) -> bool| normalized.iter().any(|(n, _)| pred(n));
    let mut tell = |present: bool, text: &str, families: &[BaseModel]| {
        if present {
            out.push(Signal::keys(text.into(), Families::of(families)));
        }
    };
    tell(
        any(&|n| n.starts_with("distilled_guidance_layer")),
        "keys: distilled_guidance_layer (Chroma's replacement for Flux's modulation)",
        &[BaseModel::Chroma],
    );
    tell(
        any(&|n| {
            [
                "nerf_blocks",
                "nerf_image_embedder",
                "nerf_final_layer",
                "img_in_patch",
            ]
            .iter()
            .any(|p| starts_with_word(n, p))
        }),
        "keys: nerf_* / img_in_patch (Chroma1-Radiance's pixel-space head)",
        &[BaseModel::Chroma],
    );
    tell(
        any(&|n| n.contains("token_refiner")),
        "keys: token_refiner (HunyuanVideo's text refiner)",
        &[BaseModel::HunyuanVideo, BaseModel::Framepack],
    );
    tell(
        any(&|n| n.starts_with("clean_x_embedder") || n.starts_with("image_projection")),
        "keys: clean_x_embedder / image_projection (FramePack's additions)",
        &[BaseModel::Framepack],
    );
    // x-flux (XLabs) trains Flux.1 only (`src/flux/modules/layers.py`).
    tell(
        modules.keys().any(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("processor.qkv_lora") || m.contains("processor.proj_lora")
        }),
        "keys: processor.qkv_lora / proj_lora (XLabs' x-flux trainer, Flux only)",
        &[BaseModel::Flux],
    );
    tell(
        any(&|n| n.starts_with("llm_adapter") || n.starts_with("text_conditioner")),
        "keys: llm_adapter / text_conditioner (Anima's text adapter)",
        &[BaseModel::Anima],
    );
    // musubi-tuner is the one trainer that writes diffusers' HunyuanVideo block names with
    // kohya's `lora_unet_` prefix: its FramePack networks (`networks/lora_framepack.py`).
    let musubi_framepack = modules.keys().any(|m| {
        m.starts_with("lora_unet_transformer_blocks_")
            || m.starts_with("lora_unet_single_transformer_blocks_")
    }) && dit.iter().any(|m| {
        (m.container == "transformer_blocks" && m.index >= 19)
            || (m.container == "single_transformer_blocks" && m.index >= 38)
    });
    tell(
        musubi_framepack && fits.contains(BaseModel::Framepack),
        "keys: lora_unet_ with diffusers HunyuanVideo block names beyond Flux's (musubi-tuner FramePack)",
        &[BaseModel::Framepack],
    );
    tell(
        any(&|n| n.contains("_kv_mapper") || n.contains("_channelwise_")),
        "keys: kv_mapper / channelwise (Stable Cascade's Würstchen blocks)",
        &[BaseModel::StableCascade],
    );
}

/// `double_blocks 0–18, single_blocks 0–37; width 3072`.
fn describe_blocks(dit: &[DitModule<'_>]) -> String {
    let mut ranges: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut widths: Vec<u64> = Vec::new();
    for m in dit {
        let r = ranges.entry(m.container).or_insert((m.index, m.index));
        r.0 = r.0.min(m.index);
        r.1 = r.1.max(m.index);
        if let Some(w) = m.widths.input.filter(|_| is_query(m.rest))
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

/// The variant, from the metadata's (`named`) refined by the shapes: the metadata's
/// wins where it is finer; the shapes fill in what it leaves open (a Wan release from
/// ai-toolkit's `wan_2.1` with the 14B width gives `2.1-14b`), from the layouts of
/// `family` the file fits when they agree on one (Flux.2 klein by width, Kandinsky 5 by
/// width and blocks), or from rules of their own.
pub(super) fn variant(
    family: BaseModel,
    modules: &Modules,
    named: Option<&'static str>,
) -> Option<&'static str> {
    let normalized = normalized(modules);
    let dit = dit(&normalized);
    let widths = || {
        dit.iter()
            .filter(|m| is_query(m.rest))
            .filter_map(|m| m.widths.input)
    };
    let has = |pred: &dyn Fn(&str) -> bool| normalized.iter().any(|(n, _)| pred(n));
    let mut of_family = fitting(&dit)
        .filter(|l| l.family == family)
        .map(|l| l.variant);
    let from_layouts = of_family
        .next()
        .flatten()
        .filter(|first| of_family.all(|v| v == Some(first)));
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
                // The one 3072-wide Wan: 2.2 TI2V 5B (30 blocks, FFN 14336).
                Some("2.2-ti2v-5b")
            } else if named == Some("2.1") && widths().any(|w| w == 5120) {
                Some("2.1-14b")
            } else {
                named
            }
        }
        BaseModel::Chroma if has(&|n| n.starts_with("nerf_") || n.starts_with("img_in_patch")) => {
            Some("radiance")
        }
        // Sana 1600M and 4800M share their width: 4800M has 60 blocks, 1600M 20.
        BaseModel::Sana if widths().any(|w| w == 2240) => {
            let covered = coverage(&dit);
            let blocks = covered.get("transformer_blocks");
            if blocks.is_some_and(|b| b.last().is_some_and(|i| *i >= 20)) {
                Some("4800m")
            } else if blocks.is_some_and(|b| b.len() == 20 && b.last() == Some(&19)) {
                Some("1600m")
            } else {
                None
            }
        }
        _ => from_layouts,
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
