//! Alpha from the metadata, for files whose tensors carry none: diffusers'
//! `lora_adapter_metadata` (a PEFT `LoraConfig`, keys prefixed by component in pipeline
//! saves: `transformer.lora_alpha`, `transformer.alpha_pattern`), else kohya's
//! `ss_network_alpha`; genmo's Mochi fine-tuner writes its ranks and alphas in a `kwargs`
//! JSON entry (`qkv_proj_lora_alpha` for `qkv_x`/`qkv_y`, `out_proj_lora_alpha` for
//! `proj_x`/`proj_y`).

use std::collections::BTreeMap;

use serde_json::Value;

/// The alphas the metadata gives: a default and per-module overrides.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetadataAlpha {
    /// The metadata key they were read from.
    pub source: &'static str,
    default: Option<f64>,
    /// `(component, module pattern, alpha)`; the component is `""` for unprefixed saves.
    patterns: Vec<(String, String, f64)>,
    /// Per component (`transformer`, `unet`, `text_encoder`, or `""`) defaults.
    components: Vec<(String, f64)>,
}

impl MetadataAlpha {
    pub(crate) fn read(metadata: &BTreeMap<String, String>) -> Option<Self> {
        let json = |raw: &String| serde_json::from_str::<Value>(raw).ok();
        if let Some(found) = metadata
            .get("lora_adapter_metadata")
            .and_then(json)
            .and_then(|json| Self::peft(&json, "lora_adapter_metadata"))
        {
            return Some(found);
        }
        // A PEFT adapter config (`adapter_config.json`) some tools embed under a key of
        // their own: a JSON object with `peft_type` and `lora_alpha`.
        let embedded = metadata
            .values()
            .filter_map(json)
            .find(|v| v.get("peft_type").is_some() && v.get("lora_alpha").is_some());
        if let Some(found) = embedded.and_then(|json| Self::peft(&json, "peft_config")) {
            return Some(found);
        }
        if let Some(found) = metadata
            .get("kwargs")
            .and_then(json)
            .and_then(|json| Self::genmo(&json))
        {
            return Some(found);
        }
        let kohya = metadata
            .get("ss_network_alpha")
            .and_then(|a| a.trim().parse::<f64>().ok())
            .filter(|a| a.is_finite())?;
        Some(Self {
            source: "ss_network_alpha",
            default: Some(kohya),
            patterns: Vec::new(),
            components: Vec::new(),
        })
    }

    /// genmo's `kwargs` (`demos/fine_tuner/train.py`: the model's LoRA arguments).
    fn genmo(json: &Value) -> Option<Self> {
        let alpha = |key: &str| json.get(key).and_then(Value::as_f64);
        let mut patterns = Vec::new();
        for (key, modules) in [
            ("qkv_proj_lora_alpha", ["qkv_x", "qkv_y"]),
            ("out_proj_lora_alpha", ["proj_x", "proj_y"]),
        ] {
            if let Some(a) = alpha(key) {
                for m in modules {
                    patterns.push((String::new(), m.to_owned(), a));
                }
            }
        }
        (!patterns.is_empty()).then_some(Self {
            source: "kwargs",
            default: None,
            patterns,
            components: Vec::new(),
        })
    }

    /// A PEFT `LoraConfig` as JSON, flat with `component.` prefixes or plain.
    fn peft(json: &Value, source: &'static str) -> Option<Self> {
        let map = json.as_object()?;
        let mut out = Self {
            source,
            default: None,
            patterns: Vec::new(),
            components: Vec::new(),
        };
        for (key, value) in map {
            let (component, field) = key.rsplit_once('.').unwrap_or(("", key));
            match field {
                "lora_alpha" => {
                    if let Some(a) = value.as_f64() {
                        out.components.push((component.to_owned(), a));
                    }
                }
                "alpha_pattern" => {
                    for (pattern, a) in value.as_object().into_iter().flatten() {
                        if let Some(a) = a.as_f64() {
                            out.patterns
                                .push((component.to_owned(), pattern.clone(), a));
                        }
                    }
                }
                _ => {}
            }
        }
        if out.components.len() == 1 {
            out.default = out.components.first().map(|(_, a)| *a);
        }
        (!out.components.is_empty() || !out.patterns.is_empty()).then_some(out)
    }

    /// The alpha of the module named `module` (its tensor names without the suffix).
    pub(crate) fn for_module(&self, module: &str) -> Option<f64> {
        let known = self
            .components
            .iter()
            .map(|(c, _)| c.as_str())
            .chain(self.patterns.iter().map(|(c, _, _)| c.as_str()));
        let (component, rest) = known
            .filter(|c| !c.is_empty())
            .find_map(|c| Some((c, module.strip_prefix(c)?.strip_prefix('.')?)))
            .unwrap_or(("", module));
        // PEFT matches a pattern against the end of the module's dotted name.
        let pattern = self
            .patterns
            .iter()
            .find(|(c, p, _)| c == component && (rest == p || rest.ends_with(&format!(".{p}"))));
        if let Some((_, _, a)) = pattern {
            return Some(*a);
        }
        self.components
            .iter()
            .find(|(c, _)| c == component)
            .map(|(_, a)| *a)
            .or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Option<MetadataAlpha> {
        MetadataAlpha::read(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn alphas_from_each_convention() {
        // A model-level save: unprefixed.
        let plain = read(&[("lora_adapter_metadata", r#"{"lora_alpha": 16, "r": 8}"#)]).unwrap();
        assert_eq!(plain.for_module("blocks.0.attn.to_q"), Some(16.0));
        // A PEFT config under another key.
        let embedded = read(&[(
            "training_config",
            r#"{"peft_type": "LORA", "lora_alpha": 4, "r": 4}"#,
        )])
        .unwrap();
        assert_eq!(
            (embedded.source, embedded.for_module("x")),
            ("peft_config", Some(4.0))
        );
        let kohya = read(&[("ss_network_alpha", "8.0")]).unwrap();
        assert_eq!(
            (kohya.source, kohya.for_module("x")),
            ("ss_network_alpha", Some(8.0))
        );
        assert_eq!(read(&[("ss_network_alpha", "None")]), None);
        let genmo = read(&[(
            "kwargs",
            r#"{"qkv_proj_lora_rank": 16, "qkv_proj_lora_alpha": 8, "out_proj_lora_rank": 16, "out_proj_lora_alpha": 16}"#,
        )])
        .unwrap();
        assert_eq!(genmo.for_module("blocks.3.attn.qkv_y"), Some(8.0));
        assert_eq!(genmo.for_module("blocks.3.attn.proj_x"), Some(16.0));
        assert_eq!(read(&[("format", "pt")]), None);
    }
}
