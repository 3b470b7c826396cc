//! The full evaluation: read the container, scan the weights while hashing, judge,
//! assemble the [`Report`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use lora_core::Extension;

use crate::analyze::Structure;
use crate::container::{Parsed, header_structure, parse, torch_structure};
use crate::error::InspectError;
use crate::findings::{Evidence, Finding, FindingCode, content_finding, judge};
use crate::format::Format;
use crate::hashing::{Hashing, while_hashing};
use crate::report::{Hashes, PickleReport, Report, TensorSummary};
use crate::safetensors::Header;
use crate::torch::TorchScan;
use crate::weights::{self, ModuleStrength, WeightStats};

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
        self.parameters = self.parameters.saturating_add(elements);
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
        let mut structure = header_structure(&header);
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
        let structure = torch_structure(&scan);
        let mut tally = Tally::default();
        for t in &scan.tensors {
            // A pickle's shapes are whatever it says: never trust them to fit.
            tally.add(
                t.shape.iter().fold(1, |n: u64, &d| n.saturating_mul(d)),
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
            kind: structure.kind,
            base_model: structure.base_model,
            base_model_variant: structure.identification.variant,
            base_model_source: structure.base_model_source,
            base_model_evidence: structure.identification.evidence.clone(),
            base_model_candidates: structure.identification.candidates.clone(),
            network_type: structure.network_type,
            network_types: structure.network_types.clone(),
            rank: structure.dominant_rank(),
            full_rank_modules: structure.full_rank_modules(),
            block_size: structure.dominant_block_size(),
            alpha: structure.dominant_alpha(),
            alpha_source: structure.alpha_source,
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
    let mut structure = header_structure(&header);
    let (stats, modules) = weights::scan(path, &header, &mut structure)?;
    Ok((structure, stats, modules))
}

fn guess_format(ext: Option<Extension>) -> Option<Format> {
    match ext? {
        Extension::Safetensors => Some(Format::Safetensors),
        _ => None,
    }
}
