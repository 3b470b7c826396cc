//! The file hashes of a report, computed beside the weight scan.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use lora_core::Sha256;
use sha2::Digest;

use crate::error::InspectError;
use crate::report::Hashes;

/// Which hashes [`evaluate_with`](crate::evaluate_with) computes. Each is a full pass over
/// the file, so a caller that already knows the file's SHA-256 (a store that hashed it on
/// upload) saves one, and the tensor hash is only computed when asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hashing {
    /// The file's SHA-256 when the caller knows it; computed otherwise. It is trusted as
    /// given.
    pub known_sha256: Option<Sha256>,
    /// Also compute the SHA-256 of the bytes after the safetensors header (A1111's LoRA
    /// hash); without it the report's `tensor_sha256` is `null`.
    pub tensor_sha256: bool,
}

impl Hashing {
    /// Every hash computed here: what [`evaluate`](crate::evaluate) does.
    pub fn full() -> Self {
        Self {
            known_sha256: None,
            tensor_sha256: true,
        }
    }
}

/// Runs `work` on this thread while the hashes `hashing` asks for are computed on others
/// (each is a full pass over the file, as the weight scan is).
pub(crate) fn while_hashing<T>(
    path: &Path,
    hashing: &Hashing,
    data_start: Option<u64>,
    work: impl FnOnce() -> T,
) -> (Result<Hashes, InspectError>, T) {
    std::thread::scope(|scope| {
        let full = match hashing.known_sha256 {
            Some(known) => FileHash::Known(known),
            None => FileHash::Computing(scope.spawn(|| sha256_from(path, 0))),
        };
        let tensor = data_start
            .filter(|_| hashing.tensor_sha256)
            .map(|start| scope.spawn(move || sha256_from(path, start)));
        let done = work();
        let full = match full {
            FileHash::Known(known) => Ok(known),
            FileHash::Computing(h) => h
                .join()
                .unwrap_or_else(|_| Err(InspectError::invalid("file", "hashing thread failed"))),
        };
        let tensor = tensor.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(InspectError::invalid("file", "hashing thread failed")))
        });
        let hashes = full.and_then(|sha256| Ok(Hashes::new(sha256, tensor.transpose()?)));
        (hashes, done)
    })
}

/// A hash given by the caller, or one being computed.
enum FileHash<T> {
    Known(Sha256),
    Computing(T),
}

fn sha256_from(path: &Path, start: u64) -> Result<Sha256, InspectError> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Sha256::from_bytes(hasher.finalize().into()))
}
