//! Alpha from the metadata, for files whose tensors carry none: diffusers'
//! `lora_adapter_metadata` (a PEFT `LoraConfig`, keys prefixed by component in pipeline
//! saves: `transformer.lora_alpha`, `transformer.alpha_pattern`), else kohya's
//! `ss_network_alpha`.

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
        if let Some(found) = metadata
            .get("lora_adapter_metadata")
            .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
            .and_then(|json| Self::peft(&json))
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

    /// A PEFT `LoraConfig` as JSON, flat with `component.` prefixes or plain.
    fn peft(json: &Value) -> Option<Self> {
        let map = json.as_object()?;
        let mut out = Self {
            source: "lora_adapter_metadata",
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
