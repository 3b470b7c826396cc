//! The facts a catalogue keeps of a file, read from its header alone (no weights, no
//! hash): family and variant, kind, network type, rank and trigger words.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;

use lora_core::Extension;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::analyze::NetworkType;
use crate::base_model::BaseModel;
use crate::container::{Parsed, header_structure, parse, torch_structure};
use crate::error::InspectError;
use crate::kind::FileKind;

/// At most this many trigger words are kept.
pub const MAX_TRIGGER_WORDS: usize = 20;

/// Where trigger words were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TriggerSource {
    /// `modelspec.trigger_phrase` (SAI's model spec), comma-separated phrases.
    ModelspecTriggerPhrase,
    /// `trained_words` (SimpleTuner, Civitai-style tools): a JSON list or a comma list.
    TrainedWords,
    /// The most frequent tags of `ss_tag_frequency` (kohya, ai-toolkit), over every
    /// dataset folder.
    TagFrequency,
}

impl TriggerSource {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerSource::ModelspecTriggerPhrase => "modelspec_trigger_phrase",
            TriggerSource::TrainedWords => "trained_words",
            TriggerSource::TagFrequency => "tag_frequency",
        }
    }
}

/// A file's trigger words and where they came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TriggerWords {
    /// The words or phrases, most telling first; at most [`MAX_TRIGGER_WORDS`].
    pub words: Vec<String>,
    /// The metadata key they were read from.
    pub source: TriggerSource,
}

/// What a file's header says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The family (`unknown` when the evidence does not settle on one).
    pub base_model: BaseModel,
    /// A finer variant, when the evidence tells it.
    pub base_model_variant: Option<&'static str>,
    /// What the file is.
    pub kind: FileKind,
    /// The adapter's network type.
    pub network_type: NetworkType,
    /// The dominant rank.
    pub rank: Option<u64>,
    /// Trigger words from the metadata, when it has any.
    pub trigger_words: Option<TriggerWords>,
}

/// Reads the facts of the file at `path` from its header (a safetensors header, or a
/// torch file's pickle), trusting the extension only as a hint.
///
/// # Errors
///
/// [`InspectError::Io`] when the file cannot be read; the content errors of
/// [`crate::validate`] when its header cannot be.
pub fn facts(path: &Path) -> Result<Facts, InspectError> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Extension::parse);
    let (structure, metadata) = match parse(&mut file, len, ext)? {
        Parsed::Safetensors(h) => (header_structure(&h), h.metadata),
        Parsed::Torch(scan) => (torch_structure(&scan), BTreeMap::new()),
    };
    Ok(Facts {
        base_model: structure.base_model,
        base_model_variant: structure.identification.variant,
        kind: structure.kind,
        network_type: structure.network_type,
        rank: structure.dominant_rank(),
        trigger_words: trigger_words(&metadata),
    })
}

/// The trigger words a file's metadata gives: `modelspec.trigger_phrase` first, then
/// `trained_words`, then the most frequent tags of `ss_tag_frequency`.
pub fn trigger_words(metadata: &BTreeMap<String, String>) -> Option<TriggerWords> {
    let found = |words: Vec<String>, source| {
        let mut seen = std::collections::HashSet::new();
        let words: Vec<String> = words
            .into_iter()
            .map(|w| w.trim().to_owned())
            .filter(|w| !w.is_empty() && seen.insert(w.to_lowercase()))
            .take(MAX_TRIGGER_WORDS)
            .collect();
        (!words.is_empty()).then_some(TriggerWords { words, source })
    };
    if let Some(phrase) = metadata.get("modelspec.trigger_phrase")
        && let Some(t) = found(comma_list(phrase), TriggerSource::ModelspecTriggerPhrase)
    {
        return Some(t);
    }
    if let Some(words) = metadata.get("trained_words") {
        let list = match serde_json::from_str::<Value>(words) {
            Ok(Value::Array(items)) => items
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => comma_list(words),
        };
        if let Some(t) = found(list, TriggerSource::TrainedWords) {
            return Some(t);
        }
    }
    let frequency = metadata.get("ss_tag_frequency")?;
    let Ok(Value::Object(folders)) = serde_json::from_str::<Value>(frequency) else {
        return None;
    };
    let mut counts: HashMap<String, u64> = HashMap::new();
    for tags in folders.values() {
        for (tag, count) in tags.as_object().into_iter().flatten() {
            *counts.entry(tag.trim().to_owned()).or_default() += count.as_u64().unwrap_or(0);
        }
    }
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    found(
        ranked.into_iter().map(|(tag, _)| tag).collect(),
        TriggerSource::TagFrequency,
    )
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',').map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn trigger_words_from_each_convention_in_order_of_trust() {
        let spec = trigger_words(&meta(&[
            ("modelspec.trigger_phrase", "ohwx man, in a suit ,"),
            ("ss_tag_frequency", r#"{"1_x": {"other": 3}}"#),
        ]))
        .unwrap();
        assert_eq!(spec.words, ["ohwx man", "in a suit"]);
        assert_eq!(spec.source, TriggerSource::ModelspecTriggerPhrase);
        let simpletuner =
            trigger_words(&meta(&[("trained_words", r#"["sks dog", "sks"]"#)])).unwrap();
        assert_eq!(
            (simpletuner.words, simpletuner.source),
            (
                vec!["sks dog".to_owned(), "sks".to_owned()],
                TriggerSource::TrainedWords
            )
        );
        // kohya: counts summed over dataset folders, most frequent first, ties by name.
        let kohya = trigger_words(&meta(&[(
            "ss_tag_frequency",
            r#"{"10_ohwx": {"ohwx": 40, "smile": 12, "outdoors": 12}, "5_reg": {"smile": 30, " Smile": 1}}"#,
        )]))
        .unwrap();
        assert_eq!(kohya.words, ["smile", "ohwx", "outdoors"]);
        assert_eq!(kohya.source, TriggerSource::TagFrequency);
        // At most 20, and nothing from metadata that says nothing.
        let many: String = (0..30)
            .map(|i| format!("\"t{i:02}\": {}", 100 - i))
            .collect::<Vec<_>>()
            .join(",");
        let capped = trigger_words(&meta(&[(
            "ss_tag_frequency",
            &format!("{{\"1_a\": {{{many}}}}}"),
        )]))
        .unwrap();
        assert_eq!(capped.words.len(), MAX_TRIGGER_WORDS);
        assert_eq!(capped.words[0], "t00");
        assert_eq!(
            trigger_words(&meta(&[("ss_tag_frequency", "not json")])),
            None
        );
        assert_eq!(
            trigger_words(&meta(&[("modelspec.trigger_phrase", " , ")])),
            None
        );
    }

    #[test]
    fn facts_come_from_the_header_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.safetensors");
        let down = [0u8; 4 * 768 * 2];
        let up = [0u8; 320 * 4 * 2];
        let k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
        std::fs::write(
            &path,
            crate::safetensors::build(
                &[
                    (&format!("{k}.lora_down.weight"), "F16", &[4, 768], &down),
                    (&format!("{k}.lora_up.weight"), "F16", &[320, 4], &up),
                ],
                &[("ss_tag_frequency", r#"{"1_ohwx": {"ohwx": 1}}"#)],
            ),
        )
        .unwrap();
        let read = facts(&path).unwrap();
        assert_eq!(read.base_model, BaseModel::Sd1);
        assert_eq!(
            (read.kind, read.network_type, read.rank),
            (FileKind::Lora, NetworkType::Lora, Some(4))
        );
        assert_eq!(read.trigger_words.unwrap().words, ["ohwx"]);
        std::fs::write(&path, b"not a safetensors file").unwrap();
        assert!(facts(&path).unwrap_err().is_content_error());
    }
}
