//! Families from the safetensors `__metadata__` the trainers write.
//!
//! Authoritative: `modelspec.architecture` (SAI's model spec, written by kohya
//! sd-scripts, musubi-tuner, OneTrainer, SimpleTuner), kohya's `ss_base_model_version`
//! and `ss_v2`. Read only when those are absent: the model a LoRA was trained on, by
//! file or repository name (kohya `ss_sd_model_name`, and the `name_or_path`-style
//! fields of JSON values such as ai-toolkit's config or diffusers'
//! `lora_adapter_metadata`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::family::Families;
use super::names::{Named, family, kohya_version};
use super::{BaseModel, EvidenceSource, Signal};

/// JSON fields that hold the base model's name or repository.
const NAME_FIELDS: &[&str] = &[
    "name_or_path",
    "base_model_name_or_path",
    "pretrained_model_name_or_path",
    "base_model",
    "base_model_name",
    "model_family",
    "model_type",
    "arch",
];

/// Metadata keys whose plain value names the model trained on.
const NAME_KEYS: &[&str] = &[
    "ss_sd_model_name",
    "ss_base_model",
    "modelspec.base_model",
    "base_model",
    "model_family",
];

/// `ss_network_module` values that belong to one family's network code (kohya
/// sd-scripts `networks/lora_*.py`, musubi-tuner `networks/lora_*.py`); `networks.lora`,
/// `lycoris.kohya` and the like serve many families and say nothing.
const NETWORK_MODULES: &[(&str, &[BaseModel])] = &[
    ("networks.lora_flux", &[BaseModel::Flux, BaseModel::Chroma]),
    ("networks.oft_flux", &[BaseModel::Flux, BaseModel::Chroma]),
    ("networks.lora_sd3", &[BaseModel::Sd3]),
    ("networks.lora_lumina", &[BaseModel::Lumina2]),
    ("networks.lora_wan", &[BaseModel::Wan]),
    ("networks.lora_framepack", &[BaseModel::Framepack]),
    ("networks.lora_flux_2", &[BaseModel::Flux2]),
    ("networks.lora_qwen_image", &[BaseModel::QwenImage]),
    ("networks.lora_zimage", &[BaseModel::ZImage]),
    ("networks.lora_hv_1_5", &[BaseModel::HunyuanVideo15]),
    ("networks.lora_hunyuan_image", &[BaseModel::HunyuanImage]),
    ("networks.lora_kandinsky", &[BaseModel::Kandinsky5]),
    ("networks.lora_anima", &[BaseModel::Anima]),
];

pub(super) fn signals(metadata: &BTreeMap<String, String>, out: &mut Vec<Signal>) {
    if let Some(arch) = metadata.get("modelspec.architecture") {
        let spelled = arch.split('/').next().unwrap_or_default();
        let mut found = family(spelled);
        // musubi-tuner writes `wan2.1` for every Wan LoRA, 2.2 included
        // (`ARCH_WAN`: "Official Wan2.1 weights does not have sai_model_spec"): no release.
        if spelled == "wan2.1" {
            found = found.map(|(f, _)| (f, None));
        }
        out.push(named(
            format!("modelspec.architecture = {arch}"),
            found,
            true,
        ));
    }
    if let Some(version) = metadata.get("ss_base_model_version")
        && let Some(found) = kohya_version(version)
    {
        out.push(named(
            format!("ss_base_model_version = {version}"),
            Some(found),
            true,
        ));
    }
    if metadata
        .get("ss_v2")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        let v_pred = metadata
            .get("ss_v_parameterization")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        out.push(named(
            format!(
                "ss_v2 = True{}",
                if v_pred {
                    ", ss_v_parameterization = True"
                } else {
                    ""
                }
            ),
            // sd-scripts no longer writes ss_v_parameterization: without it the
            // variant is open, not 512.
            Some((BaseModel::Sd2, v_pred.then_some("768-v"))),
            true,
        ));
    }
    if let Some(module) = metadata.get("ss_network_module")
        && let Some((_, families)) = NETWORK_MODULES.iter().find(|(m, _)| m == module)
    {
        out.push(Signal {
            source: EvidenceSource::Metadata,
            text: format!("ss_network_module = {module}"),
            families: Families::of(families),
            variant: None,
            authoritative: false,
        });
    }
    for key in NAME_KEYS {
        if let Some(value) = metadata.get(*key)
            && let Some(found) = family(value)
        {
            out.push(named(format!("{key} = {value}"), Some(found), false));
        }
    }
    for (key, value) in metadata {
        let trimmed = value.trim_start();
        if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
            continue;
        }
        let Ok(json) = serde_json::from_str::<Value>(value) else {
            continue;
        };
        let mut found = Vec::new();
        names_in(&json, "", &mut found, 0);
        for (path, name) in found {
            if let Some(f) = family(&name) {
                out.push(named(format!("{key}: {path} = {name}"), Some(f), false));
            }
        }
    }
}

fn named(text: String, found: Option<Named>, authoritative: bool) -> Signal {
    Signal {
        source: EvidenceSource::Metadata,
        text,
        families: found.map_or(Families::NONE, |(f, _)| Families::one(f)),
        variant: found.and_then(|(_, v)| v),
        authoritative,
    }
}

/// The string values of [`NAME_FIELDS`] anywhere in `json`, with their paths; at most
/// eight levels deep and eight names, whatever the metadata holds.
fn names_in(json: &Value, path: &str, out: &mut Vec<(String, String)>, depth: usize) {
    if depth > 8 || out.len() >= 8 {
        return;
    }
    match json {
        Value::Object(map) => {
            for (k, v) in map {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match v {
                    Value::String(s) if NAME_FIELDS.contains(&k.as_str()) => {
                        if out.len() < 8 {
                            out.push((here, s.clone()));
                        }
                    }
                    _ => names_in(v, &here, out, depth + 1),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                names_in(v, &format!("{path}[{i}]"), out, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Vec<Signal> {
        let metadata = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut out = Vec::new();
        signals(&metadata, &mut out);
        out
    }

    #[test]
    fn names_inside_json_values_count_but_are_not_authoritative() {
        let found = read(&[(
            "training_info",
            r#"{"config":{"process":[{"model":{"name_or_path":"black-forest-labs/FLUX.1-dev"}}]}}"#,
        )]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].families.single(), Some(BaseModel::Flux));
        assert_eq!(found[0].variant, Some("dev"));
        assert!(!found[0].authoritative);
        assert!(
            found[0]
                .text
                .contains("config.process[0].model.name_or_path")
        );
    }

    #[test]
    fn a_family_s_own_network_module_narrows() {
        let found = read(&[("ss_network_module", "networks.lora_flux")]);
        assert_eq!(
            found[0].families.to_vec(),
            [BaseModel::Flux, BaseModel::Chroma]
        );
        assert!(read(&[("ss_network_module", "networks.lora")]).is_empty());
    }

    #[test]
    fn kohya_v2_flags() {
        let found = read(&[("ss_v2", "True"), ("ss_v_parameterization", "True")]);
        assert_eq!(found[0].families.single(), Some(BaseModel::Sd2));
        assert_eq!(found[0].variant, Some("768-v"));
        assert!(read(&[("ss_v2", "False")]).is_empty());
        assert_eq!(read(&[("ss_v2", "True")])[0].variant, None);
    }
}
