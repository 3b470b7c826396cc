//! What a LoRA is for and how it is built, from its tensor names and shapes (and its
//! metadata when it says so).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

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

/// How the weight update is factored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NetworkType {
    Lora,
    Locon,
    Loha,
    Lokr,
    Unknown,
}

/// Which part of a module a tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Down,
    Up,
    Mid,
    Alpha,
    Loha,
    Lokr,
    Dora,
    Diff,
    Oft,
    Boft,
    Glora,
    Ia3,
}

/// Splits a tensor name into its module and the part it is, or `None` for other tensors.
pub(crate) fn split(name: &str) -> Option<(&str, Part)> {
    const SUFFIXES: &[(&str, Part)] = &[
        (".lora_down.weight", Part::Down),
        (".lora_up.weight", Part::Up),
        (".lora_mid.weight", Part::Mid),
        (".lora_A.weight", Part::Down),
        (".lora_B.weight", Part::Up),
        (".lora_A.default.weight", Part::Down),
        (".lora_B.default.weight", Part::Up),
        (".lora.down.weight", Part::Down),
        (".lora.up.weight", Part::Up),
        (".down.weight", Part::Down),
        (".up.weight", Part::Up),
        (".alpha", Part::Alpha),
        (".dora_scale", Part::Dora),
        (".diff", Part::Diff),
        (".diff_b", Part::Diff),
        (".on_input", Part::Ia3),
        (".a1.weight", Part::Glora),
        (".a2.weight", Part::Glora),
        (".b1.weight", Part::Glora),
        (".b2.weight", Part::Glora),
    ];
    for (suffix, part) in SUFFIXES {
        if let Some(module) = name.strip_suffix(suffix) {
            // `.down.weight` alone is too common a spelling to trust outside LoRA names.
            if matches!(*suffix, ".down.weight" | ".up.weight")
                && !module.to_ascii_lowercase().contains("lora")
            {
                continue;
            }
            return Some((module, *part));
        }
    }
    let (module, last) = name.rsplit_once('.')?;
    let part = if last.starts_with("hada_") {
        Part::Loha
    } else if last.starts_with("lokr_") {
        Part::Lokr
    } else if last.starts_with("boft_") {
        Part::Boft
    } else if last.starts_with("oft_") {
        Part::Oft
    } else {
        return None;
    };
    Some((module, part))
}

/// One module's factors.
#[derive(Debug, Clone, Default)]
pub(crate) struct Module {
    pub down: Option<Vec<u64>>,
    pub up: Option<Vec<u64>>,
    pub mid: bool,
    pub loha_rank: Option<u64>,
    pub lokr: bool,
    pub alpha: Option<f64>,
}

impl Module {
    pub(crate) fn rank(&self) -> Option<u64> {
        self.down
            .as_ref()
            .and_then(|s| s.first().copied())
            .or_else(|| self.up.as_ref().and_then(|s| s.get(1).copied()))
            .or(self.loha_rank)
    }

    fn is_conv(&self) -> bool {
        self.down
            .as_ref()
            .is_some_and(|s| s.len() == 4 && (s[2] > 1 || s[3] > 1))
            || self.mid
    }
}

/// The structural facts of a LoRA.
#[derive(Debug, Clone)]
pub struct Structure {
    /// Detected base model.
    pub base_model: BaseModel,
    /// Where the base model was read from: `metadata`, `keys`, `shapes` or `none`.
    pub base_model_source: &'static str,
    /// Detected network type.
    pub network_type: NetworkType,
    /// Other network kinds seen (`dora`, `ia3`, `glora`, `oft`, `boft`, `full_diff`).
    pub variants: Vec<&'static str>,
    pub(crate) modules: BTreeMap<String, Module>,
    /// Modules that train a text encoder.
    pub text_encoder_modules: usize,
}

impl Structure {
    /// Analyses `(name, shape)` pairs and the metadata.
    pub fn analyze<'a>(
        tensors: impl IntoIterator<Item = (&'a str, &'a [u64])>,
        metadata: &BTreeMap<String, String>,
    ) -> Self {
        let mut modules: BTreeMap<String, Module> = BTreeMap::new();
        let mut names: Vec<(&str, &[u64])> = Vec::new();
        let mut variants = Vec::new();
        let seen = |v: &'static str, variants: &mut Vec<&'static str>| {
            if !variants.contains(&v) {
                variants.push(v);
            }
        };
        let (mut loha, mut lokr) = (false, false);
        for (name, shape) in tensors {
            names.push((name, shape));
            let Some((module, part)) = split(name) else {
                continue;
            };
            let m = modules.entry(module.to_owned()).or_default();
            match part {
                Part::Down => m.down = Some(shape.to_vec()),
                Part::Up => m.up = Some(shape.to_vec()),
                Part::Mid => m.mid = true,
                Part::Alpha => {}
                Part::Loha => {
                    loha = true;
                    if name.ends_with("hada_w1_b") {
                        m.loha_rank = shape.first().copied();
                    }
                }
                Part::Lokr => {
                    lokr = true;
                    m.lokr = true;
                }
                Part::Dora => seen("dora", &mut variants),
                Part::Diff => seen("full_diff", &mut variants),
                Part::Oft => seen("oft", &mut variants),
                Part::Boft => seen("boft", &mut variants),
                Part::Glora => seen("glora", &mut variants),
                Part::Ia3 => seen("ia3", &mut variants),
            }
        }
        modules
            .retain(|_, m| m.down.is_some() || m.up.is_some() || m.loha_rank.is_some() || m.lokr);
        let network_type = if lokr {
            NetworkType::Lokr
        } else if loha {
            NetworkType::Loha
        } else if modules.values().any(Module::is_conv) {
            NetworkType::Locon
        } else if modules.values().any(|m| m.down.is_some()) {
            NetworkType::Lora
        } else {
            NetworkType::Unknown
        };
        let text_encoder_modules = modules.keys().filter(|k| is_text_encoder(k)).count();
        let (base_model, base_model_source) = detect_base_model(metadata, &names);
        Self {
            base_model,
            base_model_source,
            network_type,
            variants,
            modules,
            text_encoder_modules,
        }
    }

    /// The most common rank over the modules (ties: the larger).
    pub fn dominant_rank(&self) -> Option<u64> {
        mode(self.modules.values().filter_map(Module::rank))
    }

    /// Number of modules found.
    pub fn module_count(&self) -> usize {
        self.modules.len()
    }

    pub(crate) fn set_alpha(&mut self, module: &str, alpha: f64) {
        if let Some(m) = self.modules.get_mut(module) {
            m.alpha = Some(alpha);
        }
    }

    /// The most common alpha (ties: the larger), from the `alpha` tensors.
    pub fn dominant_alpha(&self) -> Option<f64> {
        let mut counts: HashMap<u64, usize> = HashMap::new();
        for a in self.modules.values().filter_map(|m| m.alpha) {
            *counts.entry(a.to_bits()).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by(|a, b| {
                a.1.cmp(&b.1)
                    .then(f64::from_bits(a.0).total_cmp(&f64::from_bits(b.0)))
            })
            .map(|(bits, _)| f64::from_bits(bits))
    }
}

fn mode(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(v, c)| (*c, *v))
        .map(|(v, _)| v)
}

fn is_text_encoder(module: &str) -> bool {
    module.starts_with("lora_te")
        || module.contains("text_encoder")
        || module.starts_with("te1")
        || module.starts_with("te2")
}

fn detect_base_model(
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

    fn analyze(names: &[(&str, &[u64])]) -> Structure {
        Structure::analyze(names.iter().map(|(n, s)| (*n, *s)), &BTreeMap::new())
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
            assert_eq!(analyze(&[(name, &[4, 64])]).base_model, *expected, "{name}");
        }
    }

    #[test]
    fn sd1_and_sd2_by_widths() {
        let k =
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight";
        assert_eq!(analyze(&[(k, &[8, 768])]).base_model, BaseModel::Sd1);
        assert_eq!(analyze(&[(k, &[8, 1024])]).base_model, BaseModel::Sd2);
        let te = "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight";
        assert_eq!(analyze(&[(te, &[8, 1024])]).base_model, BaseModel::Sd2);
        assert_eq!(
            analyze(&[("x.weight", &[3])]).base_model,
            BaseModel::Unknown
        );
    }

    #[test]
    fn metadata_wins() {
        let mut meta = BTreeMap::new();
        meta.insert(
            "ss_base_model_version".to_owned(),
            "sdxl_base_v1-0".to_owned(),
        );
        let s = Structure::analyze([("lora_te_x.lora_down.weight", &[4u64, 768][..])], &meta);
        assert_eq!(
            (s.base_model, s.base_model_source),
            (BaseModel::Sdxl, "metadata")
        );
    }

    #[test]
    fn network_types() {
        let lora = analyze(&[
            ("m.lora_down.weight", &[4, 320]),
            ("m.lora_up.weight", &[320, 4]),
        ]);
        assert_eq!(
            (lora.network_type, lora.dominant_rank()),
            (NetworkType::Lora, Some(4))
        );
        let locon = analyze(&[
            ("m.lora_down.weight", &[8, 320, 3, 3]),
            ("m.lora_up.weight", &[320, 8, 1, 1]),
        ]);
        assert_eq!(locon.network_type, NetworkType::Locon);
        let loha = analyze(&[("m.hada_w1_a", &[320, 16]), ("m.hada_w1_b", &[16, 320])]);
        assert_eq!(
            (loha.network_type, loha.dominant_rank()),
            (NetworkType::Loha, Some(16))
        );
        let lokr = analyze(&[("m.lokr_w1", &[4, 4]), ("m.lokr_w2", &[80, 80])]);
        assert_eq!(lokr.network_type, NetworkType::Lokr);
        let dora = analyze(&[
            ("m.lora_A.weight", &[4, 64]),
            ("m.lora_B.weight", &[64, 4]),
            ("m.dora_scale", &[1, 64]),
        ]);
        assert_eq!(
            (dora.network_type, dora.variants.as_slice()),
            (NetworkType::Lora, &["dora"][..])
        );
    }
}
