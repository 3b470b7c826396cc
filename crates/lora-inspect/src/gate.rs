//! The upload gate: is the file what it claims, and safe to load?

use std::fs::File;
use std::path::Path;

use lora_core::Extension;

use crate::admission::Identity;
use crate::analyze::Structure;
use crate::base_model::BaseModel;
use crate::container::{Parsed, header_structure, parse, torch_structure};
use crate::error::InspectError;
use crate::format::Format;
use crate::pickle::{GlobalRef, PickledTensor};
use crate::weights::{Scanned, scan_file, scan_legacy_tensors, scan_zip_tensors};

/// What the upload gate learned about an accepted file.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The container format.
    pub format: Format,
    /// The detected base model.
    pub base_model: BaseModel,
    /// What the file is and its family, for [`Admission`](crate::Admission).
    pub identity: Identity,
    /// The pickle's globals (all allowed), for pickle-based files.
    pub globals: Vec<GlobalRef>,
    /// Where a torch file's tensors' bytes are, for [`Validated::scan_weights`].
    storages: Option<(Storages, Vec<PickledTensor>)>,
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
        Parsed::Safetensors(h) => Ok(Validated::new(
            Format::Safetensors,
            &header_structure(&h),
            Vec::new(),
            None,
        )),
        Parsed::Torch(scan) => {
            let refused = scan.refused();
            if !refused.is_empty() {
                return Err(InspectError::UnsafePickle { globals: refused });
            }
            let structure = torch_structure(&scan);
            let storages = match (scan.archive_name, scan.legacy_storages) {
                (Some(archive), _) => Some(Storages::Zip(archive)),
                (None, Some((keys, start))) => Some(Storages::Legacy(keys, start)),
                (None, None) => None,
            };
            let storages = storages.map(|s| (s, scan.tensors));
            Ok(Validated::new(
                scan.format,
                &structure,
                scan.globals,
                storages,
            ))
        }
    }
}

/// Where a torch file keeps its storages' bytes.
#[derive(Debug, Clone)]
enum Storages {
    /// A zip archive's `{folder}/data/{key}` members.
    Zip(String),
    /// A legacy file's storages, in this key order, from this offset.
    Legacy(Vec<String>, u64),
}

impl Validated {
    fn new(
        format: Format,
        structure: &Structure,
        globals: Vec<GlobalRef>,
        storages: Option<(Storages, Vec<PickledTensor>)>,
    ) -> Self {
        Self {
            format,
            base_model: structure.base_model,
            identity: Identity::of(structure),
            globals,
            storages,
        }
    }

    /// Reads the weights of the file it validated (at `path`): each float tensor's NaN,
    /// Inf and largest |w|, and for safetensors the tensor-data hash. A raw pickle holds
    /// no tensor bytes: it comes back empty.
    ///
    /// # Errors
    ///
    /// [`InspectError::Io`] when the file cannot be read, [`InspectError::Invalid`] for a
    /// torch zip member that cannot.
    pub fn scan_weights(&self, path: &Path) -> Result<Scanned, InspectError> {
        match (&self.format, &self.storages) {
            (Format::Safetensors, _) => scan_file(path),
            (_, Some((Storages::Zip(archive), tensors))) => {
                scan_zip_tensors(path, archive, tensors)
            }
            (_, Some((Storages::Legacy(keys, start), tensors))) => {
                scan_legacy_tensors(path, keys, *start, tensors)
            }
            _ => Ok(Scanned::default()),
        }
    }
}
