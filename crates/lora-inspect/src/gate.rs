//! The upload gate: is the file what it claims, and safe to load?

use std::fs::File;
use std::path::Path;

use lora_core::Extension;

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
        Parsed::Safetensors(h) => Ok(Validated {
            format: Format::Safetensors,
            base_model: header_structure(&h).base_model,
            globals: Vec::new(),
        }),
        Parsed::Torch(scan) => {
            let refused = scan.refused();
            if !refused.is_empty() {
                return Err(InspectError::UnsafePickle { globals: refused });
            }
            Ok(Validated {
                format: scan.format,
                base_model: torch_structure(&scan).base_model,
                globals: scan.globals,
            })
        }
    }
}
