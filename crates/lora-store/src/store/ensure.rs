//! Handing out a live file for a pipeline to open: its path, size and SHA-256.

use std::fs::File;
use std::io::BufReader;

use camino::Utf8Path;
use lora_core::{PartialPath, Sha256};
use sha2::Digest;

use super::outcomes::Ensured;
use super::parts::Store;
use crate::StoreError;
use crate::error::io_err;

/// How often a file that keeps changing while it is hashed is looked at again.
const ATTEMPTS: usize = 3;

impl Store {
    /// The live file at `path`, with its SHA-256: the remembered one, or computed now (one
    /// pass) and remembered for the next call.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when there is no such file (or it changed under each of
    /// three reads), [`StoreError::InvalidPath`] for what is not a regular file inside
    /// the LoRA folder, [`StoreError::Unavailable`] when the data directory is gone.
    pub fn ensure(&self, path: &PartialPath) -> Result<Ensured, StoreError> {
        for _ in 0..ATTEMPTS {
            let seen = self.examine(path)?;
            let sha256 = match seen.sha256 {
                Some(known) => known,
                None => {
                    let computed = hash_file(&seen.path)?;
                    // Changed while hashed: the hash may not be this version's.
                    if !self.remember_sha256(path, &seen, computed) {
                        continue;
                    }
                    computed
                }
            };
            return Ok(Ensured {
                partial_path: path.clone(),
                path: seen.path,
                len: seen.len,
                sha256,
                fetched: false,
                fetch_seconds: 0.0,
            });
        }
        Err(StoreError::NotFound { path: path.clone() })
    }
}

fn hash_file(path: &Utf8Path) -> Result<Sha256, StoreError> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut BufReader::with_capacity(1 << 20, file), &mut hasher)
        .map_err(io_err("hash", path))?;
    Ok(Sha256::from_bytes(hasher.finalize().into()))
}
