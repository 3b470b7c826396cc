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
use crate::weights::{Scanned, scan_file, scan_zip_tensors};

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
    /// A torch zip's folder and tensors, for [`Validated::scan_weights`].
    archive: Option<(String, Vec<PickledTensor>)>,
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
            let archive = scan.archive_name.map(|name| (name, scan.tensors));
            Ok(Validated::new(
                scan.format,
                &structure,
                scan.globals,
                archive,
            ))
        }
    }
}

impl Validated {
    fn new(
        format: Format,
        structure: &Structure,
        globals: Vec<GlobalRef>,
        archive: Option<(String, Vec<PickledTensor>)>,
    ) -> Self {
        Self {
            format,
            base_model: structure.base_model,
            identity: Identity::of(structure),
            globals,
            archive,
        }
    }

    /// Reads the weights of the file it validated (at `path`): each float tensor's NaN,
    /// Inf and largest |w|, and for safetensors the tensor-data hash. Legacy and raw
    /// pickles, whose storages follow the pickle unnamed, come back empty.
    ///
    /// # Errors
    ///
    /// [`InspectError::Io`] when the file cannot be read, [`InspectError::Invalid`] for a
    /// torch zip member that cannot.
    pub fn scan_weights(&self, path: &Path) -> Result<Scanned, InspectError> {
        match (&self.format, &self.archive) {
            (Format::Safetensors, _) => scan_file(path),
            (Format::PytorchZip, Some((archive, tensors))) => {
                scan_zip_tensors(path, archive, tensors)
            }
            _ => Ok(Scanned::default()),
        }
    }
}
