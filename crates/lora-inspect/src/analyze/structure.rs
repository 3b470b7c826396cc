//! The structural facts of a whole file, gathered from its modules: network type and
//! variants, ranks, alphas and block sizes, what kind of file it is ([`crate::kind`]) and
//! its base model ([`crate::base_model`]).

use std::collections::{BTreeMap, HashMap};

use super::module::Module;
use super::network::{NetworkType, overall_type};
use crate::alpha::MetadataAlpha;
use crate::base_model::{self, BaseModel, BaseModelEvidence, EvidenceSource, Identification};
use crate::kind::{self, FileKind, Kind};
use crate::names::{Part, is_text_encoder, split};

/// The structural facts of a file.
#[derive(Debug, Clone)]
pub struct Structure {
    /// Detected base model.
    pub base_model: BaseModel,
    /// Where the base model was read from: `metadata`, `keys`, `shapes` or `none`.
    pub base_model_source: &'static str,
    /// The base model with its variant, evidence and, when split, the candidates.
    pub identification: Identification,
    /// What the file is: a LoRA (or another adapter), or a checkpoint, embedding, VAE,
    /// ControlNet, or unknown.
    pub kind: FileKind,
    pub(crate) kind_detail: Kind,
    /// Detected network type.
    pub network_type: NetworkType,
    /// Modules per network type.
    pub network_types: BTreeMap<NetworkType, usize>,
    /// Features beside the network type: `dora`, `full_diff`, `norm_diff`, `tucker`.
    pub variants: Vec<&'static str>,
    pub(crate) modules: BTreeMap<String, Module>,
    /// Modules that train a text encoder.
    pub text_encoder_modules: usize,
    /// Where the alphas come from: `tensors`, a metadata key, or `None`.
    pub alpha_source: Option<&'static str>,
}

impl Structure {
    /// Analyses `(name, shape)` pairs and the metadata.
    pub fn analyze<'a>(
        tensors: impl IntoIterator<Item = (&'a str, &'a [u64])>,
        metadata: &BTreeMap<String, String>,
    ) -> Self {
        let mut modules: BTreeMap<String, Module> = BTreeMap::new();
        let mut names: Vec<(&str, &[u64])> = Vec::new();
        let mut alpha_tensors = false;
        for (name, shape) in tensors {
            names.push((name, shape));
            let Some((module, part)) = split(name) else {
                continue;
            };
            alpha_tensors |= part == Part::Alpha;
            modules
                .entry(module.to_owned())
                .or_default()
                .record(name, part, shape);
        }
        modules.retain(|_, m| m.network_type().is_some());
        let mut network_types: BTreeMap<NetworkType, usize> = BTreeMap::new();
        for m in modules.values() {
            if let Some(t) = m.network_type() {
                *network_types.entry(t).or_default() += 1;
            }
        }
        let network_type = overall_type(&network_types);
        let mut variants = Vec::new();
        let mut seen = |yes: bool, v: &'static str| {
            if yes {
                variants.push(v);
            }
        };
        seen(modules.values().any(|m| m.dora), "dora");
        seen(
            network_type != NetworkType::Full && modules.values().any(|m| m.diff),
            "full_diff",
        );
        seen(modules.values().any(|m| m.norm), "norm_diff");
        seen(modules.values().any(|m| m.mid), "tucker");
        let text_encoder_modules = modules.keys().filter(|k| is_text_encoder(k)).count();
        let kind_detail = kind::classify(&names, modules.len());
        let mut identification = base_model::identify(metadata, &names);
        if kind_detail.kind.is_other()
            && let Some(family) = kind_detail.family
        {
            // Shapes of a checkpoint, embedding or ControlNet tell its family the way
            // ComfyUI's model detection does; it stands for the file as a whole.
            identification.evidence.push(BaseModelEvidence {
                source: EvidenceSource::Keys,
                signal: format!("keys: {}", kind_detail.evidence),
                supports: vec![family],
            });
            if identification.family == BaseModel::Unknown || identification.family == family {
                identification.family = family;
                identification.source = "keys";
                identification.candidates.clear();
            }
        }
        let mut structure = Self {
            base_model: identification.family,
            base_model_source: identification.source,
            identification,
            kind: kind_detail.kind,
            kind_detail,
            network_type,
            network_types,
            variants,
            modules,
            text_encoder_modules,
            alpha_source: alpha_tensors.then_some("tensors"),
        };
        if !alpha_tensors && let Some(meta) = MetadataAlpha::read(metadata) {
            // Only types with a scale take an alpha: (IA)³, OFT and full deltas have none
            // for `ss_network_alpha` (written whatever the algorithm) to set.
            for (name, m) in &mut structure.modules {
                if m.takes_alpha() {
                    m.alpha = meta.for_module(name);
                    structure.alpha_source = Some(meta.source);
                }
            }
        }
        structure
    }

    /// The most common rank over the modules (ties: the larger).
    pub fn dominant_rank(&self) -> Option<u64> {
        mode(self.modules.values().filter_map(Module::rank))
    }

    /// Modules whose factors are whole (LoKr without decomposition): they have no rank.
    pub fn full_rank_modules(&self) -> usize {
        self.modules.values().filter(|m| m.is_full_rank()).count()
    }

    /// The most common OFT / BOFT block size.
    pub fn dominant_block_size(&self) -> Option<u64> {
        mode(self.modules.values().filter_map(|m| m.oft_block))
    }

    /// Number of modules found.
    pub fn module_count(&self) -> usize {
        self.modules.len()
    }

    pub(crate) fn set_alpha(&mut self, module: &str, alpha: f64) {
        if let Some(m) = self.modules.get_mut(module) {
            m.alpha = Some(alpha);
            self.alpha_source = Some("tensors");
        }
    }

    /// The most common alpha (ties: the larger), from the `alpha` tensors or, when the
    /// file has none, the metadata ([`alpha_source`](Self::alpha_source)).
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
            ("n.lora_down.weight", &[8, 320]),
            ("n.lora_up.weight", &[320, 8]),
        ]);
        assert_eq!(locon.network_type, NetworkType::Locon);
        let loha = analyze(&[("m.hada_w1_a", &[320, 16]), ("m.hada_w1_b", &[16, 320])]);
        assert_eq!(
            (loha.network_type, loha.dominant_rank()),
            (NetworkType::Loha, Some(16))
        );
        // LoKr: rank from w2_b (A1111, ComfyUI); whole factors have none.
        let lokr = analyze(&[
            ("m.lokr_w1", &[4, 4]),
            ("m.lokr_w2_a", &[80, 8]),
            ("m.lokr_w2_b", &[8, 80]),
            ("n.lokr_w1", &[4, 4]),
            ("n.lokr_w2", &[80, 80]),
        ]);
        assert_eq!(
            (
                lokr.network_type,
                lokr.dominant_rank(),
                lokr.full_rank_modules()
            ),
            (NetworkType::Lokr, Some(8), 1)
        );
        let dora = analyze(&[
            ("m.lora_A.weight", &[4, 64]),
            ("m.lora_B.weight", &[64, 4]),
            ("m.lora_magnitude_vector", &[64]),
        ]);
        assert_eq!(
            (dora.network_type, dora.variants.as_slice()),
            (NetworkType::Lora, &["dora"][..])
        );
        let oft = analyze(&[("m.oft_blocks", &[80, 4, 4])]);
        assert_eq!(
            (oft.network_type, oft.dominant_block_size()),
            (NetworkType::Oft, Some(4))
        );
        let boft = analyze(&[("m.oft_blocks", &[3, 40, 8, 8])]);
        assert_eq!(
            (boft.network_type, boft.dominant_block_size()),
            (NetworkType::Boft, Some(8))
        );
        let mixed = analyze(&[
            ("m.lora_down.weight", &[4, 64]),
            ("m.lora_up.weight", &[64, 4]),
            ("n.hada_w1_a", &[64, 4]),
            ("n.hada_w1_b", &[4, 64]),
            ("o.diff", &[64]),
        ]);
        assert_eq!(mixed.network_type, NetworkType::Mixed);
        assert_eq!(mixed.network_types.get(&NetworkType::Full), Some(&1));
        let full = analyze(&[
            ("o.diff", &[64, 64]),
            ("o.diff_b", &[64]),
            ("p.w_norm", &[64]),
        ]);
        assert_eq!(
            (full.network_type, full.variants.as_slice()),
            (NetworkType::Full, &["norm_diff"][..])
        );
        let ia3 = analyze(&[("m.weight", &[64]), ("m.on_input", &[])]);
        assert_eq!(ia3.network_type, NetworkType::Ia3);
        let glora = analyze(&[
            ("m.a1.weight", &[64, 4]),
            ("m.a2.weight", &[4, 64]),
            ("m.b1.weight", &[64, 4]),
            ("m.b2.weight", &[4, 64]),
        ]);
        assert_eq!(
            (glora.network_type, glora.dominant_rank()),
            (NetworkType::Glora, Some(4))
        );
    }

    #[test]
    fn alpha_from_metadata_when_the_tensors_have_none() {
        let metadata = BTreeMap::from([(
            "lora_adapter_metadata".to_owned(),
            r#"{"transformer.lora_alpha": 8, "transformer.r": 4, "transformer.alpha_pattern": {"transformer_blocks.1.attn.to_q": 2}}"#.to_owned(),
        )]);
        let s = Structure::analyze(
            [
                (
                    "transformer.transformer_blocks.0.attn.to_q.lora_A.weight",
                    &[4u64, 64][..],
                ),
                (
                    "transformer.transformer_blocks.0.attn.to_q.lora_B.weight",
                    &[64, 4][..],
                ),
                (
                    "transformer.transformer_blocks.1.attn.to_q.lora_A.weight",
                    &[4, 64][..],
                ),
                (
                    "transformer.transformer_blocks.1.attn.to_q.lora_B.weight",
                    &[64, 4][..],
                ),
            ],
            &metadata,
        );
        assert_eq!(s.alpha_source, Some("lora_adapter_metadata"));
        let alphas: Vec<Option<f64>> = s.modules.values().map(|m| m.alpha).collect();
        assert_eq!(alphas, [Some(8.0), Some(2.0)]);
    }
}
