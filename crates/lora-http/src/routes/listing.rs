//! The listing's catalogue side: the filter and sort parameters of
//! `GET /api/v1/admin/lora`, and the facts and user metadata a listing item carries.

use lora_catalog::{Entry, Order, Sort, UserMeta};
use lora_core::Sha256;
use lora_inspect::{BaseModel, FileKind, NetworkType, TriggerSource};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiError;
use crate::error::{IssueKind, ValidationIssue};

/// The user's own metadata of a file (`PATCH /api/v1/admin/lora/meta`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct LoRAMeta {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags (filter with `tag`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Trigger words the user chose (beside the file's own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trigger_words: Vec<String>,
    /// The weight the LoRA is best used at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_weight: Option<f64>,
}

impl From<&UserMeta> for LoRAMeta {
    fn from(meta: &UserMeta) -> Self {
        Self {
            description: meta.description().map(str::to_owned),
            tags: meta.tags().to_vec(),
            trigger_words: meta.trigger_words().to_vec(),
            preferred_weight: meta.preferred_weight(),
        }
    }
}

/// What the catalogue knows of a listed file beyond its name, size and time; every field
/// absent while unknown (a file placed by hand until its header is read, one whose header
/// cannot be read, or a server without a catalogue).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CatalogueFacts {
    /// SHA-256 of the tensor data (the bytes after the safetensors header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor_sha256: Option<Sha256>,
    /// The model family, read from the header (docs/FAMILIES.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_model: Option<BaseModel>,
    /// Its variant, when the header tells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_model_variant: Option<String>,
    /// What the file is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FileKind>,
    /// The adapter's network type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_type: Option<NetworkType>,
    /// The dominant rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u64>,
    /// Trigger words from the file's metadata (at most 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_words: Option<Vec<String>>,
    /// Where they were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_words_source: Option<TriggerSource>,
    /// The user's metadata, when there is any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<LoRAMeta>,
}

impl CatalogueFacts {
    /// The fields of `entry`.
    pub(crate) fn of(entry: &Entry) -> Self {
        let facts = entry.facts();
        let source = |s: &str| {
            [
                TriggerSource::ModelspecTriggerPhrase,
                TriggerSource::TrainedWords,
                TriggerSource::TagFrequency,
            ]
            .into_iter()
            .find(|t| t.as_str() == s)
        };
        Self {
            tensor_sha256: entry.tensor_sha256,
            base_model: facts.and_then(|f| BaseModel::parse(&f.base_model)),
            base_model_variant: facts.and_then(|f| f.base_model_variant.clone()),
            kind: facts.and_then(|f| FileKind::parse(&f.kind)),
            network_type: facts.and_then(|f| NetworkType::parse(&f.network_type)),
            rank: facts.and_then(|f| f.rank),
            trigger_words: facts
                .filter(|f| !f.trigger_words.is_empty())
                .map(|f| f.trigger_words.clone()),
            trigger_words_source: facts
                .and_then(|f| f.trigger_source.as_deref())
                .and_then(source),
            meta: (!entry.meta.is_empty()).then(|| LoRAMeta::from(&entry.meta)),
        }
    }
}

/// The catalogue's parameters of a listing, when any is given.
pub(crate) struct Filters {
    pub(crate) base_model: Option<BaseModel>,
    pub(crate) kind: Option<FileKind>,
    pub(crate) sha256: Option<Sha256>,
    pub(crate) tensor_sha256: Option<Sha256>,
    pub(crate) tag: Option<String>,
    pub(crate) q: Option<String>,
    pub(crate) sort: Sort,
    pub(crate) order: Order,
}

/// The longest `q` or `tag` accepted.
const MAX_TEXT: usize = 200;

impl Filters {
    /// Reads the parameters from `last` (the value of a key, the last one given); `None`
    /// when the query names none of them. Every bad value is one issue in `issues`.
    pub(crate) fn parse<'a>(
        last: impl Fn(&str) -> Option<&'a str>,
        issues: &mut Vec<ValidationIssue>,
    ) -> Option<Self> {
        const KEYS: [&str; 8] = [
            "base_model",
            "kind",
            "sha256",
            "tensor_sha256",
            "tag",
            "q",
            "sort",
            "order",
        ];
        if KEYS.iter().all(|k| last(k).is_none()) {
            return None;
        }
        let mut choice = |key: &str, allowed: &[&str]| -> Option<String> {
            let raw = last(key)?.trim().to_ascii_lowercase();
            if allowed.contains(&raw.as_str()) {
                return Some(raw);
            }
            let listed: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
            issues.push(ValidationIssue::with_message(
                &["query", key],
                IssueKind::Enum,
                format!("Input should be {}", listed.join(", ")),
            ));
            None
        };
        let families: Vec<&str> = BaseModel::ALL.iter().map(|b| b.as_str()).collect();
        let base_model = choice("base_model", &families).and_then(|b| BaseModel::parse(&b));
        let kinds: Vec<&str> = FileKind::ALL.iter().map(|k| k.as_str()).collect();
        let kind = choice("kind", &kinds).and_then(|k| FileKind::parse(&k));
        let sort = match choice("sort", &["name", "modified_at", "file_size"]).as_deref() {
            Some("name") => Sort::Name,
            Some("modified_at") => Sort::ModifiedAt,
            Some("file_size") => Sort::FileSize,
            _ => Sort::Path,
        };
        let order = match choice("order", &["asc", "desc"]).as_deref() {
            Some("desc") => Order::Desc,
            _ => Order::Asc,
        };
        let mut hash = |key: &str| {
            let raw = last(key)?;
            match Sha256::parse_hex(raw.trim()) {
                Ok(sha) => Some(sha),
                Err(_) => {
                    issues.push(ValidationIssue::with_message(
                        &["query", key],
                        IssueKind::ValueError,
                        "Value error, expected 64 hexadecimal digits",
                    ));
                    None
                }
            }
        };
        let (sha256, tensor_sha256) = (hash("sha256"), hash("tensor_sha256"));
        let mut text = |key: &str| {
            let raw = last(key)?.trim().to_owned();
            if raw.chars().count() > MAX_TEXT {
                issues.push(ValidationIssue::with_message(
                    &["query", key],
                    IssueKind::ValueError,
                    format!("Value error, at most {MAX_TEXT} characters"),
                ));
                return None;
            }
            (!raw.is_empty()).then_some(raw)
        };
        let (tag, q) = (text("tag"), text("q"));
        Some(Self {
            base_model,
            kind,
            sha256,
            tensor_sha256,
            tag,
            q,
            sort,
            order,
        })
    }

    /// The catalogue's query for a page.
    pub(crate) fn query(
        &self,
        entity: Option<lora_core::EntityType>,
        offset: usize,
        limit: usize,
    ) -> lora_catalog::Query {
        lora_catalog::Query {
            entity,
            base_model: self.base_model.map(|b| b.as_str().to_owned()),
            kind: self.kind.map(|k| k.as_str().to_owned()),
            sha256: self.sha256,
            tensor_sha256: self.tensor_sha256,
            tag: self.tag.clone(),
            q: self.q.clone(),
            sort: self.sort,
            order: self.order,
            offset,
            limit,
        }
    }
}

/// A 503 for filters on a server whose catalogue could not be opened.
pub(crate) fn no_catalogue() -> ApiError {
    ApiError::NoCatalogue
}
