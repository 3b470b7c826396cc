//! Turning a client's partial path into a file the store may act on.

use std::fs;
use std::io;

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::PartialPath;

use crate::StoreError;

/// Which tree a partial path is resolved in; it names the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Area {
    /// `DATA/models/loras`.
    Live,
    /// `DATA/bin/models/loras`.
    Bin,
}

impl Area {
    fn escape_reason(self) -> &'static str {
        match self {
            Area::Live => "it resolves outside the LoRA folder",
            Area::Bin => "it resolves outside the bin",
        }
    }
}

/// A tree with its canonical root, in which partial paths are resolved.
#[derive(Debug)]
pub(crate) struct Resolver {
    area: Area,
    canonical_root: Utf8PathBuf,
}

impl Resolver {
    /// A resolver for `root` (which must exist).
    pub(crate) fn new(area: Area, root: &Utf8Path) -> Result<Self, StoreError> {
        let canonical_root = root
            .canonicalize_utf8()
            .map_err(|e| StoreError::io("resolve", root, e))?;
        Ok(Self {
            area,
            canonical_root,
        })
    }

    /// The canonical root.
    pub(crate) fn root(&self) -> &Utf8Path {
        &self.canonical_root
    }

    /// `file` if it is a symbolic link (never followed: the caller only moves or removes
    /// it), or else what [`Resolver::regular_file`] says.
    pub(crate) fn link_or_regular_file(
        &self,
        file: Utf8PathBuf,
        path: &PartialPath,
    ) -> Result<Utf8PathBuf, StoreError> {
        match fs::symlink_metadata(&file) {
            Ok(meta) if meta.file_type().is_symlink() => Ok(file),
            _ => self.regular_file(file, path),
        }
    }

    /// `file` (the path of `path` in this tree) if it is a regular file whose real location,
    /// symlinks followed, is inside the tree.
    pub(crate) fn regular_file(
        &self,
        file: Utf8PathBuf,
        path: &PartialPath,
    ) -> Result<Utf8PathBuf, StoreError> {
        let not_found = || StoreError::NotFound { path: path.clone() };
        let refused = |reason| StoreError::InvalidPath {
            path: path.clone(),
            reason,
        };
        let target = match file.canonicalize_utf8() {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(StoreError::io("resolve", file, e)),
        };
        if !target.starts_with(&self.canonical_root) {
            return Err(refused(self.area.escape_reason()));
        }
        match fs::metadata(&target) {
            Ok(meta) if meta.is_file() => Ok(file),
            Ok(_) => Err(refused("it is not a regular file")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found()),
            Err(e) => Err(StoreError::io("stat", target, e)),
        }
    }
}
