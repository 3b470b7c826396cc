//! The live listing: which LoRA files each entity folder holds, without rescanning folders
//! that have not changed.
//!
//! A folder's sorted name list is cached with the folder's mtime. Creating, removing or
//! renaming an entry changes that mtime, so an unchanged mtime means an unchanged list,
//! with one exception: two changes within one tick of the filesystem clock leave the same
//! mtime. Like git's "racy" index entries, a list read while its folder's mtime is
//! recent is therefore not trusted and the folder is read again next time.

use std::collections::HashMap;
use std::fs;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use camino::Utf8Path;
use lora_core::{EntityType, Extension};

use crate::StoreError;
use crate::error::io_err;

/// How old a folder's mtime must be before a list read from it is trusted.
const RACY_WINDOW: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Snapshot {
    mtime: SystemTime,
    trusted: bool,
    names: Arc<Vec<String>>,
}

/// Per-entity cache of sorted file names.
#[derive(Debug, Default)]
pub(crate) struct DirCache {
    entries: Mutex<HashMap<EntityType, Snapshot>>,
}

impl DirCache {
    /// The sorted names of the LoRA files in `dir` (the folder of `entity`).
    pub(crate) fn names(
        &self,
        entity: EntityType,
        dir: &Utf8Path,
    ) -> Result<Arc<Vec<String>>, StoreError> {
        let mtime = match fs::metadata(dir) {
            Ok(meta) => meta.modified().map_err(io_err("stat", dir))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Arc::default()),
            Err(e) => return Err(StoreError::io("stat", dir, e)),
        };
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(snap) = entries.get(&entity)
                && snap.trusted
                && snap.mtime == mtime
            {
                return Ok(Arc::clone(&snap.names));
            }
        }
        let names = Arc::new(scan(dir)?);
        let trusted = SystemTime::now()
            .duration_since(mtime)
            .is_ok_and(|age| age > RACY_WINDOW);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(
            entity,
            Snapshot {
                mtime,
                trusted,
                names: Arc::clone(&names),
            },
        );
        Ok(names)
    }
}

/// Reads `dir`: regular files (or symlinks to them) with a LoRA extension and a name that
/// is valid UTF-8 and not hidden, sorted bytewise.
fn scan(dir: &Utf8Path) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("read", dir))? {
        let entry = entry.map_err(io_err("read", dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || Extension::of_file_name(&name).is_none() {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let is_file = kind.is_file()
            || (kind.is_symlink() && fs::metadata(entry.path()).is_ok_and(|m| m.is_file()));
        if is_file {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}
