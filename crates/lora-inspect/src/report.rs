//! The two entry points, [`validate`] and [`evaluate`], and the report they build.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use lora_core::{Extension, Sha256};
use serde::Serialize;
use sha2::Digest;

use crate::analyze::{BaseModel, NetworkType, Structure};
use crate::pickle::GlobalRef;
use crate::safetensors::Header;
use crate::torch::{self, TorchScan};
use crate::weights::{self, ModuleStrength, WeightStats};
use crate::{Format, InspectError};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    /// The API spelling (`info`, `warning`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The overall judgement: any error fails, any warning warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

/// What a finding is about: its stable code, how serious it is and what to do.
///
/// The codes are a contract (clients match on them; docs/FINDINGS.md lists them): a
/// variant's [`as_str`](Self::as_str) never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingCode {
    /// The file breaks a safetensors rule.
    InvalidSafetensors,
    /// The archive is not a valid `torch.save` zip.
    InvalidPytorchZip,
    /// The pickle is truncated or malformed.
    InvalidPickle,
    /// The content is another format than the extension says.
    FormatMismatch,
    /// The pickle imports globals a weights-only state dict never needs.
    UnsafePickleGlobal,
    /// Some weights are NaN.
    NanWeights,
    /// Some weights are infinite.
    InfWeights,
    /// A pickle-based format.
    PickleFormat,
    /// Neither metadata, key names nor shapes tell the base model.
    UnknownBaseModel,
    /// No LoRA-style modules were found.
    NoLoraModules,
    /// A module is far stronger than the others.
    StrongModule,
    /// Some weights are very large.
    LargeWeights,
    /// A LyCORIS/PEFT variant was seen.
    NetworkVariant,
    /// Modules have different ranks.
    MixedRanks,
    /// The LoRA also changes the text encoder(s).
    TextEncoderTrained,
    /// The safetensors header has no `__metadata__`.
    NoMetadata,
}

impl FindingCode {
    /// Every code, most serious first (the order of docs/FINDINGS.md).
    pub const ALL: [FindingCode; 16] = [
        FindingCode::InvalidSafetensors,
        FindingCode::InvalidPytorchZip,
        FindingCode::InvalidPickle,
        FindingCode::FormatMismatch,
        FindingCode::UnsafePickleGlobal,
        FindingCode::NanWeights,
        FindingCode::InfWeights,
        FindingCode::PickleFormat,
        FindingCode::UnknownBaseModel,
        FindingCode::NoLoraModules,
        FindingCode::StrongModule,
        FindingCode::LargeWeights,
        FindingCode::NetworkVariant,
        FindingCode::MixedRanks,
        FindingCode::TextEncoderTrained,
        FindingCode::NoMetadata,
    ];

    /// The stable code, as reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::InvalidSafetensors => "invalid_safetensors",
            FindingCode::InvalidPytorchZip => "invalid_pytorch_zip",
            FindingCode::InvalidPickle => "invalid_pickle",
            FindingCode::FormatMismatch => "format_mismatch",
            FindingCode::UnsafePickleGlobal => "unsafe_pickle_global",
            FindingCode::NanWeights => "nan_weights",
            FindingCode::InfWeights => "inf_weights",
            FindingCode::PickleFormat => "pickle_format",
            FindingCode::UnknownBaseModel => "unknown_base_model",
            FindingCode::NoLoraModules => "no_lora_modules",
            FindingCode::StrongModule => "strong_module",
            FindingCode::LargeWeights => "large_weights",
            FindingCode::NetworkVariant => "network_variant",
            FindingCode::MixedRanks => "mixed_ranks",
            FindingCode::TextEncoderTrained => "text_encoder_trained",
            FindingCode::NoMetadata => "no_metadata",
        }
    }

    /// How serious a finding with this code is.
    pub fn severity(self) -> Severity {
        match self {
            FindingCode::InvalidSafetensors
            | FindingCode::InvalidPytorchZip
            | FindingCode::InvalidPickle
            | FindingCode::FormatMismatch
            | FindingCode::UnsafePickleGlobal
            | FindingCode::NanWeights
            | FindingCode::InfWeights => Severity::Error,
            FindingCode::PickleFormat
            | FindingCode::UnknownBaseModel
            | FindingCode::NoLoraModules
            | FindingCode::StrongModule
            | FindingCode::LargeWeights => Severity::Warning,
            FindingCode::NetworkVariant
            | FindingCode::MixedRanks
            | FindingCode::TextEncoderTrained
            | FindingCode::NoMetadata => Severity::Info,
        }
    }

    /// What it means and what an operator should do about it.
    pub fn advice(self) -> &'static str {
        match self {
            FindingCode::InvalidSafetensors => {
                "The file breaks a safetensors rule. Re-export it; do not load it."
            }
            FindingCode::InvalidPytorchZip => {
                "The archive is not a valid torch.save zip. Re-export it, preferably as safetensors."
            }
            FindingCode::InvalidPickle => {
                "The pickle is truncated or malformed. Re-export it, preferably as safetensors."
            }
            FindingCode::FormatMismatch => {
                "The content is another format than the extension says. Rename or re-export it."
            }
            FindingCode::UnsafePickleGlobal => {
                "The pickle imports code a state dict never needs (possible malware). Delete it; never load it."
            }
            FindingCode::NanWeights => {
                "Some weights are NaN: the training diverged. Retrain or use an earlier checkpoint."
            }
            FindingCode::InfWeights => {
                "Some weights are infinite: the training diverged. Retrain or use an earlier checkpoint."
            }
            FindingCode::PickleFormat => {
                "Pickle-based formats are slower and riskier to load. Convert to safetensors."
            }
            FindingCode::UnknownBaseModel => {
                "The base model could not be told. Check it matches the pipeline before use."
            }
            FindingCode::NoLoraModules => {
                "No LoRA-style modules were found. It may be a full model or another adapter kind."
            }
            FindingCode::StrongModule => {
                "A module is far stronger than the others; it may dominate or break images. Try a lower weight."
            }
            FindingCode::LargeWeights => {
                "Some weights are very large (|w| > 1000). Check the file was not corrupted."
            }
            FindingCode::NetworkVariant => {
                "A LyCORIS/PEFT variant (DoRA, IA³, GLoRA, OFT, BOFT, full diff) was seen; the pipeline must support it."
            }
            FindingCode::MixedRanks => "Modules have different ranks (normal for some trainers).",
            FindingCode::TextEncoderTrained => "The LoRA also changes the text encoder(s).",
            FindingCode::NoMetadata => "No training metadata; provenance is unknown.",
        }
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// By hand rather than derived, so the JSON is `as_str` by construction.
impl Serialize for FindingCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One observation, with a stable machine-readable `code`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// Stable code (see [`FindingCode`]).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: FindingCode,
    /// For people.
    pub message: String,
}

impl Finding {
    /// A finding with `code`'s severity.
    pub fn new(code: FindingCode, message: impl Into<String>) -> Self {
        Self {
            severity: code.severity(),
            code,
            message: message.into(),
        }
    }
}

/// What the upload gate learned about an accepted file.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The container format.
    pub format: Format,
    /// The detected base model.
    pub base_model: BaseModel,
    /// The pickle's globals (all allowed), for pickle-based files.
    pub globals: Vec<GlobalRef>,
}

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

/// Everything [`evaluate`] found out.
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
    /// Detected base model.
    pub base_model: BaseModel,
    /// Where the base model was read from (`metadata`, `keys`, `shapes`, `none`).
    pub base_model_source: &'static str,
    /// Detected network type.
    pub network_type: NetworkType,
    /// Other network kinds seen.
    pub network_variants: Vec<&'static str>,
    /// Dominant rank.
    pub rank: Option<u64>,
    /// Dominant alpha.
    pub alpha: Option<f64>,
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

enum Parsed {
    Safetensors(Header),
    Torch(TorchScan),
}

/// Reads the container, by content and extension.
fn parse(file: &mut File, len: u64, ext: Option<Extension>) -> Result<Parsed, InspectError> {
    file.seek(SeekFrom::Start(0))?;
    let st = Header::read(&mut BufReader::new(&mut *file), len);
    match (ext, st) {
        (Some(Extension::Safetensors) | None, Ok(h)) => Ok(Parsed::Safetensors(h)),
        (Some(e), Ok(_)) => Err(InspectError::FormatMismatch {
            found: "a safetensors file",
            extension: e.to_string(),
        }),
        (Some(Extension::Safetensors), Err(st_err)) => match parse_torch(file, len) {
            Ok(scan) => Err(InspectError::FormatMismatch {
                found: if scan.format == Format::PytorchZip {
                    "a PyTorch zip archive"
                } else {
                    "a pickle"
                },
                extension: "safetensors".into(),
            }),
            Err(_) => Err(st_err),
        },
        (_, Err(st_err)) => match parse_torch(file, len) {
            Ok(scan) => Ok(Parsed::Torch(scan)),
            // Neither format: the safetensors reason, unless reading itself failed.
            Err(e) if ext.is_none() => Err(if e.is_content_error() { st_err } else { e }),
            Err(e) => Err(e),
        },
    }
}

fn parse_torch(file: &mut File, len: u64) -> Result<TorchScan, InspectError> {
    file.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    if torch::looks_like_zip(&magic[..n]) {
        torch::scan_zip(BufReader::new(&mut *file))
    } else {
        torch::scan_raw(BufReader::new(&mut *file), len)
    }
}

/// The upload gate: checks that the file at `path`, uploaded with `extension`, is what
/// it claims and safe to load.
///
/// # Errors
///
/// [`InspectError::Invalid`], [`InspectError::FormatMismatch`] or
/// [`InspectError::UnsafePickle`] to refuse it; [`InspectError::Io`] if it cannot be read.
pub fn validate(path: &Path, extension: Extension) -> Result<Validated, InspectError> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    match parse(&mut file, len, Some(extension))? {
        Parsed::Safetensors(h) => {
            let s = Structure::analyze(
                h.tensors
                    .iter()
                    .map(|t| (t.name.as_str(), t.shape.as_slice())),
                &h.metadata,
            );
            Ok(Validated {
                format: Format::Safetensors,
                base_model: s.base_model,
                globals: Vec::new(),
            })
        }
        Parsed::Torch(scan) => {
            let refused = scan.refused();
            if !refused.is_empty() {
                return Err(InspectError::UnsafePickle { globals: refused });
            }
            let s = Structure::analyze(
                scan.tensors
                    .iter()
                    .map(|t| (t.name.as_str(), t.shape.as_slice())),
                &BTreeMap::new(),
            );
            Ok(Validated {
                format: scan.format,
                base_model: s.base_model,
                globals: scan.globals,
            })
        }
    }
}

/// Which hashes [`evaluate_with`] computes. Each is a full pass over the file, so a
/// caller that already knows the file's SHA-256 (a store that hashed it on upload) saves
/// one, and the tensor hash is only computed when asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hashing {
    /// The file's SHA-256 when the caller knows it; computed otherwise. It is trusted as
    /// given.
    pub known_sha256: Option<Sha256>,
    /// Also compute the SHA-256 of the bytes after the safetensors header (A1111's LoRA
    /// hash); without it the report's `tensor_sha256` is `null`.
    pub tensor_sha256: bool,
}

impl Hashing {
    /// Every hash computed here: what [`evaluate`] does.
    pub fn full() -> Self {
        Self {
            known_sha256: None,
            tensor_sha256: true,
        }
    }
}

/// Evaluates the file at `path` with every hash computed here ([`Hashing::full`]):
/// content problems become findings and a `fail` verdict; only a file that cannot be read
/// at all is an error.
///
/// # Errors
///
/// [`InspectError::Io`] when the file cannot be opened or read.
pub fn evaluate(path: &Path) -> Result<Report, InspectError> {
    evaluate_with(path, &Hashing::full())
}

/// [`evaluate`], computing only the hashes `hashing` asks for.
///
/// # Errors
///
/// [`InspectError::Io`] when the file cannot be opened or read.
pub fn evaluate_with(path: &Path, hashing: &Hashing) -> Result<Report, InspectError> {
    let mut file = File::open(path)?;
    let file_size = file.metadata()?.len();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Extension::parse);
    let parsed = parse(&mut file, file_size, ext);
    let data_start = match &parsed {
        Ok(Parsed::Safetensors(h)) => Some(h.data_start),
        _ => None,
    };
    let (hashes, scan) = while_hashing(path, hashing, data_start, || Scan::of(path, parsed, ext));
    let hashes = hashes?;
    Ok(scan?.into_report(path, file_size, hashes))
}

/// The tensor list in numbers.
#[derive(Default)]
struct Tally {
    tensors: usize,
    parameters: u64,
    dtypes: BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, elements: u64, dtype: String) {
        self.tensors += 1;
        self.parameters += elements;
        *self.dtypes.entry(dtype).or_default() += 1;
    }
}

/// What reading the content found, before anything is judged.
struct Scan {
    format: Option<Format>,
    structure: Structure,
    tally: Tally,
    metadata: BTreeMap<String, String>,
    weights: Option<WeightStats>,
    modules: Vec<ModuleStrength>,
    pickle: Option<PickleReport>,
    pickled_tensors: Option<Vec<TensorSummary>>,
    /// What the reading itself found: an invalid file, a pickle and its refused globals.
    findings: Vec<Finding>,
}

impl Scan {
    /// Content problems become a scan with a finding; only a failed read is an error.
    fn of(
        path: &Path,
        parsed: Result<Parsed, InspectError>,
        ext: Option<Extension>,
    ) -> Result<Self, InspectError> {
        match parsed {
            Ok(Parsed::Safetensors(header)) => Self::safetensors(path, header),
            Ok(Parsed::Torch(scan)) => Ok(Self::torch(scan)),
            Err(e) if e.is_content_error() => Ok(Self::unreadable(guess_format(ext), &e)),
            Err(e) => Err(e),
        }
    }

    fn empty(format: Option<Format>) -> Self {
        Self {
            format,
            structure: Structure::analyze(std::iter::empty(), &BTreeMap::new()),
            tally: Tally::default(),
            metadata: BTreeMap::new(),
            weights: None,
            modules: Vec::new(),
            pickle: None,
            pickled_tensors: None,
            findings: Vec::new(),
        }
    }

    fn unreadable(format: Option<Format>, e: &InspectError) -> Self {
        Self {
            findings: vec![content_finding(e)],
            ..Self::empty(format)
        }
    }

    /// The structure, then the weight pass over the data section.
    fn safetensors(path: &Path, header: Header) -> Result<Self, InspectError> {
        let mut structure = Structure::analyze(
            header
                .tensors
                .iter()
                .map(|t| (t.name.as_str(), t.shape.as_slice())),
            &header.metadata,
        );
        let mut tally = Tally::default();
        for t in &header.tensors {
            tally.add(t.numel(), t.dtype.to_string());
        }
        let (stats, modules) = weights::scan(path, &header, &mut structure)?;
        Ok(Self {
            structure,
            tally,
            metadata: header.metadata,
            weights: Some(stats),
            modules,
            ..Self::empty(Some(Format::Safetensors))
        })
    }

    /// What the pickle gate saw; no weights are read from pickle-based files.
    fn torch(scan: TorchScan) -> Self {
        let structure = Structure::analyze(
            scan.tensors
                .iter()
                .map(|t| (t.name.as_str(), t.shape.as_slice())),
            &BTreeMap::new(),
        );
        let mut tally = Tally::default();
        for t in &scan.tensors {
            tally.add(
                t.shape.iter().product::<u64>(),
                t.dtype
                    .map_or_else(|| "unknown".to_owned(), |d| d.to_string()),
            );
        }
        let mut findings = vec![Finding::new(
            FindingCode::PickleFormat,
            format!("{} is a pickle-based format", scan.format.as_str()),
        )];
        let refused = scan.refused();
        if !refused.is_empty() {
            findings.push(Finding::new(
                FindingCode::UnsafePickleGlobal,
                format!("imports {}", refused.join(", ")),
            ));
        }
        let pickled_tensors = scan
            .tensors
            .iter()
            .take(1000)
            .map(|t| TensorSummary {
                name: t.name.clone(),
                dtype: t.dtype.map(|d| d.to_string()),
                shape: t.shape.clone(),
            })
            .collect();
        Self {
            structure,
            tally,
            pickle: Some(PickleReport {
                globals: scan.globals,
                pickles: scan.pickles,
                archive_name: scan.archive_name,
            }),
            pickled_tensors: Some(pickled_tensors),
            findings,
            ..Self::empty(Some(scan.format))
        }
    }

    /// Judges the scan and assembles the report.
    fn into_report(self, path: &Path, file_size: u64, hashes: Hashes) -> Report {
        let evidence = Evidence {
            structure: &self.structure,
            weights: self.weights.as_ref(),
            modules: &self.modules,
            metadata: &self.metadata,
            format: self.format,
        };
        let (findings, verdict) = judge(&evidence, self.findings);
        let structure = self.structure;
        Report {
            partial_path: path.display().to_string(),
            format: self.format,
            file_size,
            sha256: hashes.sha256,
            hashes,
            verdict,
            findings,
            base_model: structure.base_model,
            base_model_source: structure.base_model_source,
            network_type: structure.network_type,
            rank: structure.dominant_rank(),
            alpha: structure.dominant_alpha(),
            module_count: structure.module_count(),
            text_encoder_modules: structure.text_encoder_modules,
            network_variants: structure.variants,
            tensor_count: self.tally.tensors,
            parameter_count: self.tally.parameters,
            dtypes: self.tally.dtypes,
            metadata: self.metadata,
            weights: self.weights,
            modules: self.modules,
            pickle: self.pickle,
            pickled_tensors: self.pickled_tensors,
        }
    }
}

/// Runs `work` on this thread while the hashes `hashing` asks for are computed on others
/// (each is a full pass over the file, as the weight scan is).
fn while_hashing<T>(
    path: &Path,
    hashing: &Hashing,
    data_start: Option<u64>,
    work: impl FnOnce() -> T,
) -> (Result<Hashes, InspectError>, T) {
    std::thread::scope(|scope| {
        let full = match hashing.known_sha256 {
            Some(known) => FileHash::Known(known),
            None => FileHash::Computing(scope.spawn(|| sha256_from(path, 0))),
        };
        let tensor = data_start
            .filter(|_| hashing.tensor_sha256)
            .map(|start| scope.spawn(move || sha256_from(path, start)));
        let done = work();
        let full = match full {
            FileHash::Known(known) => Ok(known),
            FileHash::Computing(h) => h
                .join()
                .unwrap_or_else(|_| Err(InspectError::invalid("file", "hashing thread failed"))),
        };
        let tensor = tensor.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(InspectError::invalid("file", "hashing thread failed")))
        });
        let hashes = full.and_then(|sha256| Ok(Hashes::new(sha256, tensor.transpose()?)));
        (hashes, done)
    })
}

/// Only the weight pass of [`evaluate`] on a safetensors file: structure, weight health
/// and per-module strengths, without hashes or findings.
///
/// # Errors
///
/// [`InspectError::Invalid`] for a file that is not valid safetensors, [`InspectError::Io`]
/// when reading fails.
pub fn scan_weights(
    path: &Path,
) -> Result<(Structure, WeightStats, Vec<ModuleStrength>), InspectError> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let header = Header::read(&mut BufReader::new(&mut file), len)?;
    let mut structure = Structure::analyze(
        header
            .tensors
            .iter()
            .map(|t| (t.name.as_str(), t.shape.as_slice())),
        &header.metadata,
    );
    let (stats, modules) = weights::scan(path, &header, &mut structure)?;
    Ok((structure, stats, modules))
}

fn guess_format(ext: Option<Extension>) -> Option<Format> {
    match ext? {
        Extension::Safetensors => Some(Format::Safetensors),
        _ => None,
    }
}

fn content_finding(e: &InspectError) -> Finding {
    let code = match e {
        InspectError::Invalid {
            format: "safetensors",
            ..
        } => FindingCode::InvalidSafetensors,
        InspectError::Invalid {
            format: "pytorch_zip",
            ..
        } => FindingCode::InvalidPytorchZip,
        InspectError::Invalid { .. } | InspectError::Io(_) => FindingCode::InvalidPickle,
        InspectError::FormatMismatch { .. } => FindingCode::FormatMismatch,
        InspectError::UnsafePickle { .. } => FindingCode::UnsafePickleGlobal,
    };
    Finding::new(code, e.to_string())
}

/// What the findings are judged on.
#[derive(Clone, Copy)]
struct Evidence<'a> {
    structure: &'a Structure,
    weights: Option<&'a WeightStats>,
    modules: &'a [ModuleStrength],
    metadata: &'a BTreeMap<String, String>,
    format: Option<Format>,
}

/// Adds what `evidence` shows to the `findings` of the reading, most serious first, and
/// the verdict they make: any error fails, any warning warns.
fn judge(evidence: &Evidence<'_>, mut findings: Vec<Finding>) -> (Vec<Finding>, Verdict) {
    observe(evidence, &mut findings);
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let verdict = if findings.iter().any(|f| f.severity == Severity::Error) {
        Verdict::Fail
    } else if findings.iter().any(|f| f.severity == Severity::Warning) {
        Verdict::Warn
    } else {
        Verdict::Pass
    };
    (findings, verdict)
}

fn observe(evidence: &Evidence<'_>, findings: &mut Vec<Finding>) {
    let Evidence {
        structure,
        weights,
        modules,
        metadata,
        format,
    } = *evidence;
    let valid = !findings.iter().any(|f| f.severity == Severity::Error);
    if let Some(w) = weights {
        if w.nan_count > 0 {
            findings.push(Finding::new(
                FindingCode::NanWeights,
                format!(
                    "{} NaN weights (in {})",
                    w.nan_count,
                    w.bad_tensors.join(", ")
                ),
            ));
        }
        if w.inf_count > 0 {
            findings.push(Finding::new(
                FindingCode::InfWeights,
                format!(
                    "{} infinite weights (in {})",
                    w.inf_count,
                    w.bad_tensors.join(", ")
                ),
            ));
        }
        if w.max_abs > 1000.0 {
            findings.push(Finding::new(
                FindingCode::LargeWeights,
                format!("max |w| is {}", w.max_abs),
            ));
        }
    }
    if !valid || format.is_none() {
        return;
    }
    if structure.base_model == BaseModel::Unknown {
        findings.push(Finding::new(
            FindingCode::UnknownBaseModel,
            "no metadata, key names or shapes tell the base model",
        ));
    }
    if structure.module_count() == 0 {
        findings.push(Finding::new(
            FindingCode::NoLoraModules,
            "no lora_down/lora_up, lora_A/lora_B, LoHa or LoKr tensors",
        ));
    }
    if !structure.variants.is_empty() {
        findings.push(Finding::new(
            FindingCode::NetworkVariant,
            format!("also seen: {}", structure.variants.join(", ")),
        ));
    }
    let ranks: std::collections::BTreeSet<u64> = modules.iter().map(|m| m.rank).collect();
    if ranks.len() > 1 {
        findings.push(Finding::new(
            FindingCode::MixedRanks,
            format!("ranks {ranks:?}"),
        ));
    }
    if structure.text_encoder_modules > 0 {
        findings.push(Finding::new(
            FindingCode::TextEncoderTrained,
            format!("{} text-encoder modules", structure.text_encoder_modules),
        ));
    }
    if format == Some(Format::Safetensors) && metadata.is_empty() {
        findings.push(Finding::new(
            FindingCode::NoMetadata,
            "the safetensors header has no __metadata__",
        ));
    }
    let mut strengths: Vec<f64> = modules
        .iter()
        .map(|m| m.strength)
        .filter(|s| s.is_finite())
        .collect();
    if strengths.len() >= 8 {
        strengths.sort_by(f64::total_cmp);
        let median = strengths[strengths.len() / 2];
        let strong: Vec<&str> = modules
            .iter()
            .filter(|m| median > 0.0 && m.strength > 10.0 * median)
            .map(|m| m.module.as_str())
            .take(5)
            .collect();
        if !strong.is_empty() {
            findings.push(Finding::new(
                FindingCode::StrongModule,
                format!(
                    "over 10× the median strength {median:.4}: {}",
                    strong.join(", ")
                ),
            ));
        }
    }
}

/// A hash given by the caller, or one being computed.
enum FileHash<T> {
    Known(Sha256),
    Computing(T),
}

fn sha256_from(path: &Path, start: u64) -> Result<Sha256, InspectError> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Sha256::from_bytes(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_distinct_and_serialize_as_their_stable_spelling() {
        let spelled: HashSet<&str> = FindingCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(spelled.len(), FindingCode::ALL.len());
        for code in FindingCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert_eq!(code.to_string(), code.as_str());
            assert!(!code.advice().is_empty());
        }
        for severity in [Severity::Info, Severity::Warning, Severity::Error] {
            assert_eq!(serde_json::to_value(severity).unwrap(), severity.as_str());
        }
    }

    #[test]
    fn a_finding_takes_its_codes_severity() {
        let f = Finding::new(FindingCode::NanWeights, "1 NaN weights (in x)");
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"severity":"error","code":"nan_weights","message":"1 NaN weights (in x)"}"#
        );
    }
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
