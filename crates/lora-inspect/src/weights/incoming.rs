//! The weight pass of a safetensors file while its bytes arrive: every float tensor's
//! NaN and Inf count and largest |w|, and the SHA-256 of the data section, from chunks
//! handed over in order (an upload's hashing thread sees every byte once; nothing is
//! read back from disk).

use std::io::Read;
use std::path::Path;

use lora_core::Sha256;
use serde::Serialize;
use sha2::Digest;

use super::health::WeightStats;
use super::health::health;
use crate::dtype::DType;
use crate::error::InspectError;
use crate::safetensors::{Header, MAX_HEADER_BYTES, TensorInfo};

/// Bytes of one tensor gathered before they are scanned: an aligned copy (chunks arrive
/// at any address and cut elements anywhere), large enough that the copy and the scan
/// run at memory speed. A multiple of 8, so it always ends on an element boundary.
const WINDOW: usize = 256 << 10;

/// One float tensor's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TensorHealth {
    /// The tensor's name in the header.
    pub name: String,
    /// NaN elements.
    pub nan_count: u64,
    /// ±Inf elements.
    pub inf_count: u64,
    /// Largest finite |w|.
    pub max_abs: f64,
}

impl TensorHealth {
    /// Whether it holds NaN or Inf.
    pub fn is_unhealthy(&self) -> bool {
        self.nan_count + self.inf_count > 0
    }
}

/// What [`Incoming`] found once every byte went by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scanned {
    /// SHA-256 of every byte after the safetensors header (the tensor data section, the
    /// hash that survives metadata edits); `None` when the bytes were not a safetensors
    /// file with a readable header.
    pub tensor_sha256: Option<Sha256>,
    /// Every float tensor the header names, in data order, as far as the bytes went.
    pub tensors: Vec<TensorHealth>,
    /// Tensors of other dtypes (integers, bools, sub-byte floats), not scanned.
    pub skipped_tensors: usize,
    /// Whether every tensor the header names was seen whole.
    pub complete: bool,
}

impl Scanned {
    /// The first tensor, in data order, holding NaN or Inf.
    pub fn first_unhealthy(&self) -> Option<&TensorHealth> {
        self.tensors.iter().find(|t| t.is_unhealthy())
    }

    /// The totals over every tensor, as a report's `weights` gives them (`max_abs` here
    /// includes `alpha` scalars, which the full evaluation leaves out).
    pub fn stats(&self) -> WeightStats {
        let mut stats = WeightStats {
            scanned_tensors: self.tensors.len(),
            skipped_tensors: self.skipped_tensors,
            ..WeightStats::default()
        };
        for t in &self.tensors {
            stats.nan_count += t.nan_count;
            stats.inf_count += t.inf_count;
            stats.max_abs = stats.max_abs.max(t.max_abs);
            if t.is_unhealthy() && stats.bad_tensors.len() < 10 {
                stats.bad_tensors.push(t.name.clone());
            }
        }
        stats
    }
}

/// Scans a safetensors file from its bytes, handed over in order and in pieces of any
/// size: the 8-byte length and the JSON header are gathered, then each float tensor is
/// scanned as its bytes go by, and the bytes after the header are hashed.
///
/// Bytes that are not a safetensors file (a torch zip, a pickle, a broken header) are
/// only counted: the upload gate refuses or checks those from the file.
///
/// ```
/// use lora_inspect::{Incoming, safetensors::build};
///
/// let nan = f32::NAN.to_le_bytes();
/// let bytes = build(&[("a", "F32", &[1], &1.5f32.to_le_bytes()[..]), ("b", "F32", &[1], &nan[..])], &[]);
/// let mut incoming = Incoming::new();
/// for piece in bytes.chunks(3) {
///     incoming.see(piece);
/// }
/// let scanned = incoming.finish();
/// assert!(scanned.complete);
/// assert_eq!(scanned.first_unhealthy().map(|t| t.name.as_str()), Some("b"));
/// assert!(scanned.tensor_sha256.is_some());
/// ```
#[derive(Debug)]
pub struct Incoming {
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// The length prefix and the JSON header, gathering.
    Header(Vec<u8>),
    /// The data section, tensor by tensor.
    Data(Box<Data>),
    /// Not a readable safetensors file: nothing to scan.
    Other,
}

#[derive(Debug)]
struct Data {
    tensors: Vec<TensorInfo>,
    /// The tensor whose bytes come next.
    next: usize,
    /// Bytes of the data section seen.
    at: u64,
    hash: sha2::Sha256,
    /// The current tensor's bytes not scanned yet (u64s: aligned for any dtype).
    window: Vec<u64>,
    filled: usize,
    current: WeightStats,
    done: Vec<TensorHealth>,
    skipped: usize,
}

impl Default for Incoming {
    fn default() -> Self {
        Self::new()
    }
}

impl Incoming {
    /// A scan before the first byte.
    pub fn new() -> Self {
        Self {
            phase: Phase::Header(Vec::new()),
        }
    }

    /// Takes the next bytes of the file.
    pub fn see(&mut self, mut chunk: &[u8]) {
        while let Phase::Header(gathered) = &mut self.phase {
            // The length prefix first (`Some(8)`), then the header it announces.
            let Some(end) = header_end(gathered) else {
                self.phase = Phase::Other;
                return;
            };
            let end = end as usize;
            let take = (end - gathered.len()).min(chunk.len());
            gathered.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if gathered.len() < end {
                return;
            }
            if end > 8 {
                self.phase = match Header::parse_arriving(&gathered[8..], end as u64) {
                    Ok(header) => Phase::Data(Box::new(Data::new(header.tensors))),
                    Err(_) => Phase::Other,
                };
            }
        }
        if let Phase::Data(data) = &mut self.phase {
            data.see(chunk);
        }
    }

    /// Every byte went by: what was found.
    pub fn finish(self) -> Scanned {
        match self.phase {
            Phase::Data(data) => data.finish(),
            Phase::Header(_) | Phase::Other => Scanned::default(),
        }
    }
}

/// Where the header ends (8 + its length) once the length is known; `None` for a length
/// no safetensors file has, `Some(8)` while it is still arriving.
fn header_end(gathered: &[u8]) -> Option<u64> {
    let Some(len) = gathered.get(..8) else {
        return Some(8);
    };
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(len);
    let n = u64::from_le_bytes(bytes);
    (2..=MAX_HEADER_BYTES).contains(&n).then_some(8 + n)
}

/// Whether [`health`] reads this dtype.
fn scanned(dtype: DType) -> bool {
    dtype.is_float()
}

impl Data {
    fn new(tensors: Vec<TensorInfo>) -> Self {
        Self {
            tensors,
            next: 0,
            at: 0,
            hash: sha2::Sha256::new(),
            window: vec![0u64; WINDOW / 8],
            filled: 0,
            current: WeightStats::default(),
            done: Vec::new(),
            skipped: 0,
        }
    }

    fn see(&mut self, mut chunk: &[u8]) {
        self.hash.update(chunk);
        loop {
            self.close_finished();
            let Some(tensor) = self.tensors.get(self.next) else {
                return;
            };
            if chunk.is_empty() {
                return;
            }
            // The header's rules leave no gaps; bytes before a tensor are stepped over.
            let (begin, end, dtype) = (tensor.begin, tensor.end, tensor.dtype);
            if self.at < begin {
                let gap = usize::try_from(begin - self.at)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                self.at += gap as u64;
                chunk = &chunk[gap..];
                continue;
            }
            let left = usize::try_from(end - self.at).unwrap_or(usize::MAX);
            let mut take = left.min(chunk.len());
            if scanned(dtype) {
                take = take.min(WINDOW - self.filled);
                let window = bytemuck::cast_slice_mut::<u64, u8>(&mut self.window);
                window[self.filled..self.filled + take].copy_from_slice(&chunk[..take]);
                self.filled += take;
                if self.filled == WINDOW {
                    self.scan_window(dtype);
                }
            }
            self.at += take as u64;
            chunk = &chunk[take..];
        }
    }

    fn scan_window(&mut self, dtype: DType) {
        let window = bytemuck::cast_slice::<u64, u8>(&self.window);
        health(dtype, &window[..self.filled], &mut self.current);
        self.filled = 0;
    }

    /// Closes the tensors whose last byte went by (and empty ones).
    fn close_finished(&mut self) {
        while let Some(tensor) = self.tensors.get(self.next) {
            if self.at < tensor.end {
                return;
            }
            let (name, dtype) = (tensor.name.clone(), tensor.dtype);
            if scanned(dtype) {
                self.scan_window(dtype);
                let stats = std::mem::take(&mut self.current);
                self.done.push(TensorHealth {
                    name,
                    nan_count: stats.nan_count,
                    inf_count: stats.inf_count,
                    max_abs: stats.max_abs,
                });
            } else {
                self.skipped += 1;
            }
            self.next += 1;
        }
    }

    fn finish(mut self) -> Scanned {
        self.close_finished();
        Scanned {
            tensor_sha256: Some(Sha256::from_bytes(self.hash.finalize().into())),
            complete: self.next == self.tensors.len(),
            tensors: self.done,
            skipped_tensors: self.skipped,
        }
    }
}

/// [`Incoming`] over a file on disk, read front to back once: for files that did not
/// stream through a scan (a resumable upload completed from parts, an object a fleet node
/// downloaded).
///
/// # Errors
///
/// [`InspectError::Io`] when the file cannot be read.
pub fn scan_file(path: &Path) -> Result<Scanned, InspectError> {
    let mut file = std::fs::File::open(path)?;
    let mut incoming = Incoming::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        incoming.see(&buf[..n]);
        if matches!(incoming.phase, Phase::Other) {
            break;
        }
    }
    Ok(incoming.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safetensors::build;

    fn f32s(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn sample() -> Vec<u8> {
        let big: Vec<f32> = (0..100_000).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut bad = big.clone();
        bad[77_777] = f32::INFINITY;
        bad[3] = f32::NAN;
        let halves: Vec<u8> = [0.5f32, -9.0]
            .iter()
            .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
            .collect();
        build(
            &[
                ("a.lora_down.weight", "F32", &[100_000], &f32s(&big)),
                ("b.lora_up.weight", "F32", &[100_000], &f32s(&bad)),
                ("c.step", "I64", &[1], &7i64.to_le_bytes()),
                ("d.alpha", "BF16", &[2], &halves),
                ("e.empty", "F16", &[0], &[]),
            ],
            &[("ss_network_dim", "4")],
        )
    }

    fn scan_in(bytes: &[u8], piece: usize) -> Scanned {
        let mut incoming = Incoming::new();
        for chunk in bytes.chunks(piece) {
            incoming.see(chunk);
        }
        incoming.finish()
    }

    #[test]
    fn every_split_of_the_bytes_gives_the_same_scan() {
        let bytes = sample();
        let whole = scan_in(&bytes, bytes.len());
        assert!(whole.complete);
        assert_eq!(whole.skipped_tensors, 1, "the I64 tensor");
        let names: Vec<&str> = whole.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a.lora_down.weight",
                "b.lora_up.weight",
                "d.alpha",
                "e.empty"
            ]
        );
        let b = &whole.tensors[1];
        assert_eq!((b.nan_count, b.inf_count, b.max_abs), (1, 1, 3.0));
        assert_eq!(whole.tensors[2].max_abs, 9.0);
        assert_eq!(
            whole.first_unhealthy().map(|t| t.name.as_str()),
            Some("b.lora_up.weight")
        );
        let header = Header::parse(&bytes, bytes.len() as u64).unwrap();
        let expected =
            Sha256::from_bytes(sha2::Sha256::digest(&bytes[header.data_start as usize..]).into());
        assert_eq!(whole.tensor_sha256, Some(expected));
        for piece in [1, 3, 7, 8, 4096, 65_537, WINDOW + 5] {
            assert_eq!(scan_in(&bytes, piece), whole, "pieces of {piece} bytes");
        }
        let stats = whole.stats();
        assert_eq!((stats.nan_count, stats.inf_count), (1, 1));
        assert_eq!(stats.bad_tensors, ["b.lora_up.weight"]);
    }

    #[test]
    fn a_cut_file_is_incomplete_and_other_bytes_are_not_scanned() {
        let bytes = sample();
        let cut = scan_in(&bytes[..bytes.len() - 10], 1000);
        assert!(!cut.complete);
        assert_eq!(cut.tensors.len(), 2, "the tensors before the cut");
        let zip = scan_in(b"PK\x03\x04 and the rest of an archive", 4);
        assert_eq!(zip, Scanned::default());
        let broken = build(&[("a", "F32", &[1], &[0; 4])], &[]);
        let mut broken = broken.clone();
        broken[9] = b'!';
        assert_eq!(
            scan_in(&broken, 5).tensor_sha256,
            None,
            "an unreadable header"
        );
    }

    #[test]
    fn a_file_on_disk_scans_as_its_bytes_do() {
        let bytes = sample();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(scan_file(&path).unwrap(), scan_in(&bytes, 4096));
    }
}
