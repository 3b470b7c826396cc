//! A pickle gate: walks a pickle's opcodes without executing anything, records every
//! global it would import, and rebuilds just enough of the object graph to name the
//! tensors of a state dict.
//!
//! Every opcode of protocols 0–5 is understood. Globals come from `GLOBAL`, `INST`,
//! `STACK_GLOBAL` (its module and name resolved through the stack and the memo; anything
//! it cannot resolve counts as an unknown, refused global) and the `EXT*` extension
//! registry (always refused). `REDUCE`, `OBJ`, `NEWOBJ` and `BUILD` only ever call what a
//! global brought in, so gating the globals gates them.
//!
//! It is bounded: each opcode consumes input, lengths are checked against what is left
//! before anything is allocated, and the stack, memo and object graph have caps.
//!
//! Inside: the allowlist ([`is_allowed`]); a bounded reader of opcode arguments; the
//! opcode machine, its opcodes named as in CPython's `pickletools`; and the reading of
//! [`PickledTensor`]s off the object graph the machine rebuilt.

mod allowlist;
mod input;
mod machine;
mod opcode;
mod tensors;

use std::io::BufRead;

use crate::error::InspectError;

pub use allowlist::is_allowed;
pub use tensors::PickledTensor;

/// A global a pickle imports, and whether a weights-only load may import it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GlobalRef {
    /// `module.name`.
    pub name: String,
    /// Whether it is on the weights-only allowlist.
    pub allowed: bool,
}

/// What walking one pickle found.
#[derive(Debug, Clone)]
pub struct PickleScan {
    /// Every distinct global, sorted.
    pub globals: Vec<GlobalRef>,
    /// Tensors found in dicts of the unpickled object.
    pub tensors: Vec<PickledTensor>,
    /// Bytes consumed, up to and including `STOP`.
    pub len: u64,
    /// The root object, if it is a small integer (legacy torch files start with a magic number).
    pub root_int: Option<i128>,
    /// The root object's strings, if it is a list of them (a legacy torch file's storage
    /// keys).
    pub root_strings: Vec<String>,
}

impl PickleScan {
    /// The globals that are not allowed.
    pub fn refused(&self) -> Vec<String> {
        refused(&self.globals)
    }
}

/// The names of the globals in `globals` that are not allowed.
pub fn refused(globals: &[GlobalRef]) -> Vec<String> {
    globals
        .iter()
        .filter(|g| !g.allowed)
        .map(|g| g.name.clone())
        .collect()
}

/// Walks the pickle at the start of `data` to its `STOP`.
///
/// # Errors
///
/// [`InspectError::Invalid`] for truncated or malformed pickles and for input past the caps.
/// Refused globals are *not* an error here: see [`PickleScan::refused`].
pub fn scan(data: &[u8]) -> Result<PickleScan, InspectError> {
    scan_reader(data, data.len() as u64)
}

/// Walks the pickle at the current position of `src`, of which at most `len` bytes may
/// be read, streaming: large byte strings are skipped, never held.
///
/// # Errors
///
/// As [`scan`], plus [`InspectError::Io`] when reading fails.
pub fn scan_reader(src: impl BufRead, len: u64) -> Result<PickleScan, InspectError> {
    let walk = machine::walk(src, len)?;
    let mut globals: Vec<GlobalRef> = walk
        .globals
        .iter()
        .map(|(module, name)| GlobalRef {
            name: format!("{module}.{name}"),
            allowed: is_allowed(module, name),
        })
        .collect();
    if walk.unresolved > 0 {
        globals.push(GlobalRef {
            name: "<STACK_GLOBAL with a computed name>".into(),
            allowed: false,
        });
    }
    Ok(PickleScan {
        globals,
        tensors: tensors::collect(&walk.root),
        len: walk.len,
        root_int: walk.root_int(),
        root_strings: walk.root_strings(),
    })
}
