//! What this node's replica holds because the bucket had it: the manifest.
//!
//! Only files the manifest lists are ever removed by a sync (when their object is gone
//! from the bucket), so a file someone placed in the folder by hand is never touched.
//! It lives at `.lora-server/replica.json` and is replaced atomically.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{PartialPath, Sha256};
use serde::{Deserialize, Serialize};

/// One replicated file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Replicated {
    /// The object's SHA-256.
    pub sha256: Sha256,
    /// When it was put here (Unix milliseconds): a sync only removes what was here before
    /// it listed the bucket.
    pub since: u64,
    /// Its size in bytes (0 in manifests written before sizes were kept: filled in from
    /// the disk at start).
    #[serde(default)]
    pub size: u64,
    /// When it was last used (Unix milliseconds): ensured, evaluated, or put here. The
    /// working set evicts the least recently used first.
    #[serde(default)]
    pub used: u64,
}

/// The manifest.
#[derive(Debug)]
pub(crate) struct Manifest {
    path: Utf8PathBuf,
    entries: BTreeMap<PartialPath, Replicated>,
}

impl Manifest {
    /// Reads the manifest in `state_dir`; a missing or damaged one starts empty (a damaged
    /// one is logged: nothing will be removed until the files are seen again).
    pub(crate) fn load(state_dir: &Utf8Path) -> Self {
        let path = state_dir.join("replica.json");
        let entries = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the replica manifest is damaged; starting empty");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        Self { path, entries }
    }

    pub(crate) fn get(&self, partial_path: &PartialPath) -> Option<&Replicated> {
        self.entries.get(partial_path)
    }

    pub(crate) fn insert(&mut self, partial_path: &PartialPath, sha256: Sha256, size: u64) {
        let at = now();
        self.entries.insert(
            partial_path.clone(),
            Replicated {
                sha256,
                since: at,
                size,
                used: at,
            },
        );
    }

    /// Puts back a record as it was (an install that failed after its record was written).
    pub(crate) fn put_back(&mut self, partial_path: &PartialPath, record: Replicated) {
        self.entries.insert(partial_path.clone(), record);
    }

    /// Marks a file used now (in memory; saved with the next change).
    pub(crate) fn touch(&mut self, partial_path: &PartialPath) {
        if let Some(entry) = self.entries.get_mut(partial_path) {
            entry.used = now();
        }
    }

    /// Fills in sizes and use times an older manifest lacks, from `size_of`.
    pub(crate) fn fill_in(&mut self, size_of: impl Fn(&PartialPath) -> Option<u64>) {
        for (path, entry) in &mut self.entries {
            if entry.size == 0 {
                entry.size = size_of(path).unwrap_or(0);
            }
            if entry.used == 0 {
                entry.used = entry.since;
            }
        }
    }

    pub(crate) fn remove(&mut self, partial_path: &PartialPath) {
        self.entries.remove(partial_path);
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (&PartialPath, &Replicated)> {
        self.entries.iter()
    }

    /// Writes it (temp file, fsync, rename). A failure is logged: the manifest is a guard
    /// against removing foreign files, and an old one errs on the side of keeping.
    pub(crate) fn save(&self) {
        let result = (|| -> std::io::Result<()> {
            let dir = self.path.parent().unwrap_or(Utf8Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(&mut tmp, &self.entries)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&self.path).map_err(|e| e.error)?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot write the replica manifest");
        }
    }
}

/// Unix milliseconds.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_and_loaded_and_damage_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let state = Utf8Path::from_path(dir.path()).unwrap();
        let mut m = Manifest::load(state);
        let sha = Sha256::parse_hex(&"ab".repeat(32)).unwrap();
        let path = PartialPath::parse("styles/a.safetensors").unwrap();
        m.insert(&path, sha, 5);
        m.save();
        // The form on disk is the one earlier versions wrote: path keys, hex hashes.
        let text = std::fs::read_to_string(state.join("replica.json")).unwrap();
        assert!(
            text.contains(&format!(
                r#""styles/a.safetensors":{{"sha256":"{}""#,
                sha.to_hex()
            )),
            "{text}"
        );
        let again = Manifest::load(state);
        assert_eq!(again.get(&path).unwrap().sha256, sha);
        std::fs::write(state.join("replica.json"), b"{not json").unwrap();
        assert_eq!(Manifest::load(state).entries().count(), 0);
    }
}
