//! One streaming pass over a safetensors data section: weight health over every float
//! dtype, the `alpha` scalars, and each module's strength ‖ΔW‖_F = scale·‖B·A‖_F computed
//! from the small r×r Gram matrices (‖BA‖²_F = tr((BᵀB)(AAᵀ))) without forming ΔW.
//!
//! [`stream`] reads the bytes, [`health`] counts NaN/Inf and the largest |w|, [`strength`]
//! keeps the factors' Gram matrices and the alphas and turns them into strengths.
//! [`incoming`] is the same health pass over bytes while they arrive (an upload's), with
//! the data section's hash.

mod health;
mod incoming;
mod pickled;
mod product;
mod stream;
mod strength;

use std::collections::HashMap;
use std::path::Path;

use crate::analyze::Structure;
use crate::error::InspectError;
use crate::names::{Part, split};
use crate::safetensors::{Header, TensorInfo};

pub use health::WeightStats;
use health::health;
pub use incoming::{Incoming, Scanned, TensorHealth, scan_file};
pub(crate) use pickled::{scan_legacy_tensors, scan_zip_tensors};
use product::{Factor, Factors};
use stream::Stream;
pub use strength::ModuleStrength;
use strength::{Grams, record, strengths};

#[cfg(target_endian = "big")]
compile_error!(
    "lora-inspect reads little-endian tensors in place; big-endian hosts are not supported"
);

/// Factors larger than this are scanned for health but not used for strengths.
const MAX_FACTOR_ELEMENTS: u64 = 64 << 20;
/// Tensors are read in pieces of at most this many bytes.
const PIECE: usize = 16 << 20;

/// Scans the data section of the safetensors file at `path`, whose header is `header`.
/// The tensors are split into two halves read by two threads, each with its own handle.
///
/// # Errors
///
/// [`InspectError::Io`] when reading fails.
pub fn scan(
    path: &Path,
    header: &Header,
    structure: &mut Structure,
) -> Result<(WeightStats, Vec<ModuleStrength>), InspectError> {
    let total = header.data_len();
    let split_at = header.tensors.partition_point(|t| t.end <= total / 2);
    let (first, second) = header.tensors.split_at(split_at);
    let (a, b) = std::thread::scope(|scope| {
        let other = scope.spawn(|| scan_part(path, header.data_start, second));
        let mine = scan_part(path, header.data_start, first);
        (
            mine,
            other.join().unwrap_or_else(|_| {
                Err(InspectError::invalid(
                    "safetensors",
                    "weight scan thread failed",
                ))
            }),
        )
    });
    let (a, b) = (a?, b?);
    let mut stats = a.stats;
    stats.nan_count += b.stats.nan_count;
    stats.inf_count += b.stats.inf_count;
    stats.max_abs = stats.max_abs.max(b.stats.max_abs);
    stats.scanned_tensors += b.stats.scanned_tensors;
    stats.skipped_tensors += b.stats.skipped_tensors;
    stats.bad_tensors.extend(b.stats.bad_tensors);
    stats.bad_tensors.truncate(10);
    for (module, alpha) in a.alphas.into_iter().chain(b.alphas) {
        structure.set_alpha(&module, alpha);
    }
    let mut grams = a.grams;
    for (module, g) in b.grams {
        let entry = grams.entry(module).or_default();
        entry.down = entry.down.take().or(g.down);
        entry.up = entry.up.take().or(g.up);
    }
    let mut products = a.products;
    for (module, factors) in b.products {
        products.entry(module).or_default().extend(factors);
    }
    Ok((stats, strengths(structure, grams, &products)))
}

struct PartScan {
    stats: WeightStats,
    grams: HashMap<String, Grams>,
    /// LoHa and LoKr factors, decoded, by module.
    products: HashMap<String, Factors>,
    alphas: Vec<(String, f64)>,
}

fn scan_part(
    path: &Path,
    data_start: u64,
    tensors: &[TensorInfo],
) -> Result<PartScan, InspectError> {
    let mut out = PartScan {
        stats: WeightStats::default(),
        grams: HashMap::new(),
        products: HashMap::new(),
        alphas: Vec::new(),
    };
    let (Some(first), Some(last)) = (tensors.first(), tensors.last()) else {
        return Ok(out);
    };
    let mut stream = Stream::open(path, data_start, first.begin, last.end - first.begin)?;
    let stats = &mut out.stats;
    for tensor in tensors {
        let len = (tensor.end - tensor.begin) as usize;
        let factor = split(&tensor.name).filter(|(_, p)| {
            matches!(
                p,
                Part::Down | Part::Up | Part::Alpha | Part::Loha | Part::Lokr
            )
        });
        let keep_all = factor.is_some() && tensor.numel() <= MAX_FACTOR_ELEMENTS;
        if !tensor.dtype.is_float() {
            stats.skipped_tensors += 1;
            stream.skip(len)?;
            continue;
        }
        stats.scanned_tensors += 1;
        let (before_nan, before_inf) = (stats.nan_count, stats.inf_count);
        let elem = (tensor.dtype.bits() / 8) as usize;
        if let Some((module, part)) = factor.filter(|_| keep_all) {
            let raw = stream.next(len)?;
            if part == Part::Alpha {
                // Alphas are scales, reported apart: only NaN and Inf count here.
                let mut alpha = WeightStats::default();
                health(tensor.dtype, raw, &mut alpha);
                stats.nan_count += alpha.nan_count;
                stats.inf_count += alpha.inf_count;
            } else {
                health(tensor.dtype, raw, stats);
            }
            if matches!(part, Part::Loha | Part::Lokr) {
                let mut values = vec![0f32; tensor.numel() as usize];
                crate::dtype::decode(tensor.dtype, raw, &mut values);
                let tail = tensor.name.rsplit('.').next().unwrap_or_default();
                out.products.entry(module.to_owned()).or_default().insert(
                    tail.to_owned(),
                    Factor {
                        shape: tensor.shape.clone(),
                        values,
                    },
                );
            } else {
                record(module, part, tensor, raw, &mut out.alphas, &mut out.grams);
            }
        } else {
            let mut left = len;
            while left > 0 {
                let take = left.min(PIECE / elem * elem);
                health(tensor.dtype, stream.next(take)?, stats);
                left -= take;
            }
        }
        if stats.nan_count + stats.inf_count > before_nan + before_inf
            && stats.bad_tensors.len() < 10
        {
            stats.bad_tensors.push(tensor.name.clone());
        }
    }
    Ok(out)
}
