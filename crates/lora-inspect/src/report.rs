//! The evaluation report: what [`evaluate`](crate::evaluate) found out, as clients read it.

use std::collections::BTreeMap;

use lora_core::Sha256;
use serde::Serialize;

use crate::analyze::NetworkType;
use crate::base_model::{BaseModel, BaseModelEvidence};
use crate::findings::{Finding, Verdict};
use crate::format::Format;
use crate::kind::FileKind;
use crate::pickle::GlobalRef;
use crate::weights::{ModuleStrength, WeightStats};

/// The pickle part of a report.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PickleReport {
    /// Every global the pickle(s) import, and whether each is allowed.
    pub globals: Vec<GlobalRef>,
    /// How many pickles were walked.
    pub pickles: usize,
    /// The torch archive's top-level folder.
    pub archive_name: Option<String>,
}

/// The hashes A1111 and Civitai use.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hashes {
    /// SHA-256 of the whole file.
    pub sha256: Sha256,
    /// AutoV2: the first 10 hex digits of `sha256`.
    pub autov2: String,
    /// SHA-256 of the bytes after the safetensors header (A1111's LoRA hash); `null`
    /// when it was not asked for or the file is not safetensors.
    pub tensor_sha256: Option<Sha256>,
}

impl Hashes {
    /// The file's hashes; AutoV2 is derived from `sha256`.
    pub fn new(sha256: Sha256, tensor_sha256: Option<Sha256>) -> Self {
        Self {
            sha256,
            autov2: sha256.autov2(),
            tensor_sha256,
        }
    }
}

/// A tensor as listed in a report.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TensorSummary {
    /// Name.
    pub name: String,
    /// dtype, when known.
    pub dtype: Option<String>,
    /// Shape.
    pub shape: Vec<u64>,
}

/// Everything an evaluation found out.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// The file as the caller names it (the API sets the partial path).
    pub partial_path: String,
    /// Container format; `null` when the content is none of them.
    pub format: Option<Format>,
    /// Size in bytes.
    pub file_size: u64,
    /// SHA-256 of the file.
    pub sha256: Sha256,
    /// Hashes.
    pub hashes: Hashes,
    /// `pass`, `warn` or `fail`.
    pub verdict: Verdict,
    /// Observations, most serious first.
    pub findings: Vec<Finding>,
    /// What the file is: `lora` (any adapter), `checkpoint`, `embedding`, `vae`,
    /// `controlnet` or `unknown`.
    pub kind: FileKind,
    /// The model family (docs/FAMILIES.md), `unknown` when the evidence does not settle
    /// on one.
    pub base_model: BaseModel,
    /// A finer variant when the evidence tells it (`pony`, `768-v`, `schnell`,
    /// `sd3.5-large`, `2.1-14b`, …).
    pub base_model_variant: Option<&'static str>,
    /// Where the base model was read from (`metadata`, `keys`, `shapes`, `none`).
    pub base_model_source: &'static str,
    /// Every signal read, with the families it supports.
    pub base_model_evidence: Vec<BaseModelEvidence>,
    /// When the evidence is split (`conflicting_base_model`), the families it fits.
    pub base_model_candidates: Vec<BaseModel>,
    /// Detected network type (`mixed` when modules are of several types).
    pub network_type: NetworkType,
    /// Modules per network type.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, usize>))]
    pub network_types: BTreeMap<NetworkType, usize>,
    /// Features beside the network type: `dora`, `full_diff`, `norm_diff`, `tucker`.
    pub network_variants: Vec<&'static str>,
    /// Dominant rank (`null` when unknown or every module is whole).
    pub rank: Option<u64>,
    /// LoKr modules whose factors are whole (no rank; scale 1).
    pub full_rank_modules: usize,
    /// Dominant OFT / BOFT block size.
    pub block_size: Option<u64>,
    /// Dominant alpha.
    pub alpha: Option<f64>,
    /// Where the alphas come from: `tensors`, `lora_adapter_metadata`, `peft_config`
    /// (a PEFT adapter config embedded in the metadata), `ss_network_alpha`, or `null`
    /// (none: loaders use alpha = rank).
    pub alpha_source: Option<&'static str>,
    /// LoRA modules found.
    pub module_count: usize,
    /// Modules that change a text encoder.
    pub text_encoder_modules: usize,
    /// Tensors.
    pub tensor_count: usize,
    /// Elements over all tensors.
    pub parameter_count: u64,
    /// Tensor count per dtype.
    pub dtypes: BTreeMap<String, usize>,
    /// The safetensors `__metadata__` map.
    pub metadata: BTreeMap<String, String>,
    /// Weight health (safetensors only).
    pub weights: Option<WeightStats>,
    /// Per-module rank, alpha, scale and strength.
    pub modules: Vec<ModuleStrength>,
    /// Pickle globals, for pickle-based files.
    pub pickle: Option<PickleReport>,
    /// Tensors read from a torch pickle (name, dtype, shape), first 1000.
    pub pickled_tensors: Option<Vec<TensorSummary>>,
}

#[cfg(test)]
#[cfg(feature = "openapi")]
mod schema_tests {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    use utoipa::{PartialSchema, ToSchema};

    use super::*;

    fn json(schema: RefOr<Schema>) -> serde_json::Value {
        serde_json::to_value(schema).unwrap()
    }

    #[test]
    fn hashes_are_hex_strings_in_the_schema() {
        let report = json(Report::schema());
        let hashes = json(Hashes::schema());
        let sha = "#/components/schemas/Sha256";
        assert_eq!(report["properties"]["sha256"]["$ref"], sha);
        assert_eq!(hashes["properties"]["sha256"]["$ref"], sha);
        assert_eq!(
            hashes["properties"]["tensor_sha256"]["oneOf"][0]["$ref"],
            sha
        );
        assert_eq!(hashes["properties"]["autov2"]["type"], "string");
        // The referenced schema is registered with the report's, and is a string.
        let mut schemas = Vec::new();
        Report::schemas(&mut schemas);
        let (_, sha256) = schemas
            .into_iter()
            .find(|(name, _)| name == "Sha256")
            .unwrap();
        let sha256 = json(sha256);
        assert_eq!(sha256["type"], "string");
        assert_eq!(sha256["pattern"], "^[0-9a-f]{64}$");
    }
}
