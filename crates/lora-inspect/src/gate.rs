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
use crate::pickle::GlobalRef;

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
        )),
        Parsed::Torch(scan) => {
            let refused = scan.refused();
            if !refused.is_empty() {
                return Err(InspectError::UnsafePickle { globals: refused });
            }
            Ok(Validated::new(
                scan.format,
                &torch_structure(&scan),
                scan.globals,
            ))
        }
    }
}

impl Validated {
    fn new(format: Format, structure: &Structure, globals: Vec<GlobalRef>) -> Self {
        Self {
            format,
            base_model: structure.base_model,
            identity: Identity::of(structure),
            globals,
        }
    }
}
