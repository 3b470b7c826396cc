//! Which container a file is, by content *and* extension, read far enough to judge it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use lora_core::Extension;

use crate::analyze::Structure;
use crate::error::InspectError;
use crate::format::Format;
use crate::safetensors::Header;
use crate::torch::{self, TorchScan};

/// A container read far enough to judge it.
pub(crate) enum Parsed {
    Safetensors(Header),
    Torch(TorchScan),
}

/// Reads the container, by content and extension.
pub(crate) fn parse(
    file: &mut File,
    len: u64,
    ext: Option<Extension>,
) -> Result<Parsed, InspectError> {
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

/// What a safetensors header's tensor list and metadata say about the LoRA.
pub(crate) fn header_structure(header: &Header) -> Structure {
    Structure::analyze(
        header
            .tensors
            .iter()
            .map(|t| (t.name.as_str(), t.shape.as_slice())),
        &header.metadata,
    )
}

/// What a pickle's tensor list says about the LoRA (pickles carry no metadata map).
pub(crate) fn torch_structure(scan: &TorchScan) -> Structure {
    Structure::analyze(
        scan.tensors
            .iter()
            .map(|t| (t.name.as_str(), t.shape.as_slice())),
        &BTreeMap::new(),
    )
}
