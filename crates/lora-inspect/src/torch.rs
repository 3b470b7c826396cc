//! PyTorch's pickle-based formats: the zip archive `torch.save` writes since 1.6, and raw
//! or legacy (pre-1.6) pickles.

use std::io::{BufRead, BufReader, Read, Seek};

use crate::error::InspectError;
use crate::format::Format;
use crate::pickle::{self, GlobalRef, PickledTensor};

/// The first pickle of a legacy `torch.save` file.
const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
/// Largest `.pkl` member checked (a state dict's pickle is a few MB; data lives elsewhere).
const MAX_PKL_BYTES: u64 = 1 << 30;

/// What the pickle gate found in a torch file.
#[derive(Debug, Clone)]
pub struct TorchScan {
    /// [`Format::PytorchZip`] or [`Format::Pickle`].
    pub format: Format,
    /// Every distinct global over all pickles, sorted.
    pub globals: Vec<GlobalRef>,
    /// Tensors named in the main pickle.
    pub tensors: Vec<PickledTensor>,
    /// The archive's top-level folder (zip only).
    pub archive_name: Option<String>,
    /// How many pickles were walked.
    pub pickles: usize,
    /// A legacy `torch.save` file's storage keys, in the order their bytes follow the
    /// pickles, and where those bytes start.
    pub legacy_storages: Option<(Vec<String>, u64)>,
}

impl TorchScan {
    /// The refused globals.
    pub fn refused(&self) -> Vec<String> {
        pickle::refused(&self.globals)
    }
}

/// Whether `prefix` starts like a zip archive.
pub fn looks_like_zip(prefix: &[u8]) -> bool {
    prefix.starts_with(b"PK\x03\x04") || prefix.starts_with(b"PK\x05\x06")
}

fn zip_err(e: impl std::fmt::Display) -> InspectError {
    InspectError::invalid("pytorch_zip", e.to_string())
}

/// Checks a torch zip archive: one top-level folder holding `data.pkl`, and every `*.pkl`
/// member walked by the pickle gate.
///
/// # Errors
///
/// [`InspectError::Invalid`] for a broken archive or pickle.
pub fn scan_zip<R: Read + Seek>(reader: R) -> Result<TorchScan, InspectError> {
    let mut archive = zip::ZipArchive::new(reader).map_err(zip_err)?;
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(zip_err)?;
    let mut prefixes = names
        .iter()
        .map(|n| n.split('/').next().unwrap_or_default());
    let archive_name = prefixes.next().unwrap_or_default().to_owned();
    if archive_name.is_empty() || names.iter().any(|n| !n.contains('/')) {
        return Err(zip_err(
            "members must live in one top-level folder, as torch.save writes them",
        ));
    }
    if prefixes.any(|p| p != archive_name) {
        return Err(zip_err("members live in more than one top-level folder"));
    }
    let main = format!("{archive_name}/data.pkl");
    if !names.contains(&main) {
        return Err(zip_err(format!("no {main} member")));
    }
    let mut globals = Vec::new();
    let mut tensors = Vec::new();
    let mut pickles = 0;
    for name in names.iter().filter(|n| n.ends_with(".pkl")) {
        let member = archive.by_name(name).map_err(zip_err)?;
        let size = member.size();
        if size > MAX_PKL_BYTES {
            return Err(zip_err(format!(
                "{name} is larger than {MAX_PKL_BYTES} bytes"
            )));
        }
        let scan = pickle::scan_reader(BufReader::new(member.take(size)), size)
            .map_err(|e| zip_err(format!("{name}: {e}")))?;
        pickles += 1;
        globals.extend(scan.globals);
        if *name == main {
            tensors = scan.tensors;
        }
    }
    globals.sort();
    globals.dedup();
    Ok(TorchScan {
        format: Format::PytorchZip,
        globals,
        tensors,
        archive_name: Some(archive_name),
        pickles,
        legacy_storages: None,
    })
}

/// Checks a raw pickle, or a legacy `torch.save` file (magic number, protocol version,
/// system info, the object, storage keys, then raw storage bytes).
///
/// # Errors
///
/// [`InspectError::Invalid`] for a broken pickle.
pub fn scan_raw(mut reader: impl BufRead, len: u64) -> Result<TorchScan, InspectError> {
    let first = pickle::scan_reader(&mut reader, len)?;
    let mut consumed = first.len;
    let mut globals = first.globals.clone();
    let mut tensors = first.tensors.clone();
    let mut pickles = 1;
    let mut legacy_storages = None;
    if first.root_int == Some(LEGACY_MAGIC) {
        for i in 0..4 {
            let next = pickle::scan_reader(&mut reader, len - consumed)?;
            consumed += next.len;
            pickles += 1;
            globals.extend(next.globals);
            if i == 2 {
                tensors = next.tensors;
            } else if i == 3 {
                legacy_storages = Some((next.root_strings, consumed));
            }
        }
    }
    globals.sort();
    globals.dedup();
    Ok(TorchScan {
        format: Format::Pickle,
        globals,
        tensors,
        archive_name: None,
        pickles,
        legacy_storages,
    })
}
