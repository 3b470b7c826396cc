//! How a LoRA is built, from its tensor names and shapes: modules, ranks, alphas,
//! network type and variants (and its base model, from [`crate::base_model`]).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::base_model::{self, BaseModel};
use crate::names::{Part, is_text_encoder, split};

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
        let (base_model, base_model_source) = base_model::detect(metadata, &names);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(names: &[(&str, &[u64])]) -> Structure {
        Structure::analyze(names.iter().map(|(n, s)| (*n, *s)), &BTreeMap::new())
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
