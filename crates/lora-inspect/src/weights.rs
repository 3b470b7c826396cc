//! One streaming pass over a safetensors data section: weight health over every float
//! dtype, the `alpha` scalars, and each module's strength ‖ΔW‖_F = scale·‖B·A‖_F computed
//! from the small r×r Gram matrices (‖BA‖²_F = tr((BᵀB)(AAᵀ))) without forming ΔW.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::OnceLock;

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use serde::Serialize;

use crate::analyze::{Part, Structure, split};
use crate::safetensors::{Header, TensorInfo};
use crate::{DType, InspectError};

#[cfg(target_endian = "big")]
compile_error!(
    "lora-inspect reads little-endian tensors in place; big-endian hosts are not supported"
);

/// Factors larger than this are scanned for health but not used for strengths.
const MAX_FACTOR_ELEMENTS: u64 = 64 << 20;
/// Tensors are read in pieces of at most this many bytes.
const PIECE: usize = 16 << 20;

/// NaN, Inf and magnitude over all float tensors.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeightStats {
    /// NaN elements.
    pub nan_count: u64,
    /// ±Inf elements.
    pub inf_count: u64,
    /// Largest finite |w|.
    pub max_abs: f64,
    /// Float tensors scanned.
    pub scanned_tensors: usize,
    /// Tensors of other dtypes (integers, bools, sub-byte floats), not scanned.
    pub skipped_tensors: usize,
    /// Up to ten tensors holding NaN or Inf.
    pub bad_tensors: Vec<String>,
}

/// One module's rank, alpha and strength.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModuleStrength {
    /// Module name.
    pub module: String,
    /// Rank.
    pub rank: u64,
    /// Alpha (the rank when the file has none).
    pub alpha: f64,
    /// alpha / rank.
    pub scale: f64,
    /// scale·‖B·A‖_F.
    pub strength: f64,
}

#[derive(Default)]
struct Grams {
    down: Option<Vec<f64>>,
    up: Option<Vec<f64>>,
}

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
    Ok((stats, strengths(structure, grams)))
}

struct PartScan {
    stats: WeightStats,
    grams: HashMap<String, Grams>,
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
        alphas: Vec::new(),
    };
    let Some(first) = tensors.first() else {
        return Ok(out);
    };
    let mut file = BufReader::with_capacity(1 << 20, File::open(path)?);
    file.seek(SeekFrom::Start(data_start + first.begin))?;
    let stats = &mut out.stats;
    let mut raw: Vec<u64> = Vec::new();
    let mut floats: Vec<f32> = Vec::new();
    for tensor in tensors {
        let len = (tensor.end - tensor.begin) as usize;
        let factor =
            split(&tensor.name).filter(|(_, p)| matches!(p, Part::Down | Part::Up | Part::Alpha));
        let keep_all = factor.is_some() && tensor.numel() <= MAX_FACTOR_ELEMENTS;
        if !tensor.dtype.is_float() {
            stats.skipped_tensors += 1;
            skip(&mut file, len)?;
            continue;
        }
        stats.scanned_tensors += 1;
        let (before_nan, before_inf) = (stats.nan_count, stats.inf_count);
        floats.clear();
        let mut left = len;
        let elem = (tensor.dtype.bits() / 8) as usize;
        while left > 0 {
            let take = if keep_all {
                left
            } else {
                left.min(PIECE / elem * elem)
            };
            raw.resize(take.div_ceil(8), 0);
            file.read_exact(&mut bytemuck::cast_slice_mut::<u64, u8>(&mut raw)[..take])?;
            let start = floats.len();
            decode(tensor.dtype, take, &raw, &mut floats);
            health(&floats[start..], stats);
            if !keep_all {
                floats.clear();
            }
            left -= take;
        }
        if stats.nan_count + stats.inf_count > before_nan + before_inf
            && stats.bad_tensors.len() < 10
        {
            stats.bad_tensors.push(tensor.name.clone());
        }
        if let Some((module, part)) = factor.filter(|_| keep_all) {
            record(
                module,
                part,
                tensor,
                &floats,
                &mut out.alphas,
                &mut out.grams,
            );
        }
    }
    Ok(out)
}

fn skip(file: &mut BufReader<File>, len: usize) -> Result<(), InspectError> {
    file.seek_relative(len as i64)?;
    Ok(())
}

/// Appends the first `len` bytes of the aligned buffer `raw` as f32 to `out`.
fn decode(dtype: DType, len: usize, raw: &[u64], out: &mut Vec<f32>) {
    let start = out.len();
    let bytes = &bytemuck::cast_slice::<u64, u8>(raw)[..len];
    match dtype {
        DType::F32 => {
            out.extend_from_slice(&bytemuck::cast_slice::<u64, f32>(raw)[..bytes.len() / 4])
        }
        DType::F64 => out.extend(
            bytemuck::cast_slice::<u64, f64>(raw)[..bytes.len() / 8]
                .iter()
                .map(|x| *x as f32),
        ),
        DType::F16 => {
            let halves: &[f16] =
                bytemuck::cast_slice(&bytemuck::cast_slice::<u64, u16>(raw)[..bytes.len() / 2]);
            out.resize(start + halves.len(), 0.0);
            halves.convert_to_f32_slice(&mut out[start..]);
        }
        DType::BF16 => {
            let halves: &[bf16] =
                bytemuck::cast_slice(&bytemuck::cast_slice::<u64, u16>(raw)[..bytes.len() / 2]);
            out.resize(start + halves.len(), 0.0);
            halves.convert_to_f32_slice(&mut out[start..]);
        }
        DType::F8E4M3 => {
            let table = f8_table(true);
            out.extend(bytes.iter().map(|b| table[usize::from(*b)]));
        }
        DType::F8E5M2 => {
            let table = f8_table(false);
            out.extend(bytes.iter().map(|b| table[usize::from(*b)]));
        }
        _ => {}
    }
}

fn health(values: &[f32], stats: &mut WeightStats) {
    // On |x|'s bit pattern: NaN is above the infinity pattern, and for non-negative floats
    // the integer order is the float order. Integer lanes vectorize without NaN rules.
    const INF: u32 = 0x7f80_0000;
    let (chunks, tail) = values.as_chunks::<8>();
    let mut nan = [0u32; 8];
    let mut inf = [0u32; 8];
    let mut max = [0u32; 8];
    for c in chunks {
        for k in 0..8 {
            let b = c[k].to_bits() & 0x7fff_ffff;
            nan[k] += u32::from(b > INF);
            inf[k] += u32::from(b == INF);
            max[k] = max[k].max(if b < INF { b } else { 0 });
        }
    }
    let mut top = max.into_iter().max().unwrap_or(0);
    let mut n: u64 = nan.iter().map(|x| u64::from(*x)).sum();
    let mut i: u64 = inf.iter().map(|x| u64::from(*x)).sum();
    for x in tail {
        let b = x.to_bits() & 0x7fff_ffff;
        n += u64::from(b > INF);
        i += u64::from(b == INF);
        if b < INF {
            top = top.max(b);
        }
    }
    stats.nan_count += n;
    stats.inf_count += i;
    stats.max_abs = stats.max_abs.max(f64::from(f32::from_bits(top)));
}

fn record(
    module: &str,
    part: Part,
    tensor: &TensorInfo,
    values: &[f32],
    alphas: &mut Vec<(String, f64)>,
    grams: &mut HashMap<String, Grams>,
) {
    match part {
        Part::Alpha => {
            if let Some(a) = values.first().filter(|a| a.is_finite()) {
                alphas.push((module.to_owned(), f64::from(*a)));
            }
        }
        Part::Down => {
            let r = tensor.shape.first().copied().unwrap_or(0) as usize;
            if r > 0 && r <= 1024 && values.len().is_multiple_of(r) {
                grams.entry(module.to_owned()).or_default().down =
                    Some(gram_rows(values, r, values.len() / r));
            }
        }
        Part::Up => {
            let out = tensor.shape.first().copied().unwrap_or(0) as usize;
            let r = tensor.shape.get(1).copied().unwrap_or(0) as usize;
            if r > 0 && r <= 1024 && out > 0 && values.len() == out * r {
                grams.entry(module.to_owned()).or_default().up = Some(gram_cols(values, r));
            }
        }
        _ => {}
    }
}

/// Columns per block: a block of every row stays in L1 while all r² dot products use it.
const BLOCK: usize = 256;

/// The r×r Gram matrix `M·Mᵀ` of the `r` rows (each `n` long) of `m`.
fn gram_rows(m: &[f32], r: usize, n: usize) -> Vec<f64> {
    let mut g = vec![0f64; r * r];
    for k0 in (0..n).step_by(BLOCK) {
        let k1 = (k0 + BLOCK).min(n);
        for i in 0..r {
            let a = &m[i * n + k0..i * n + k1];
            for j in i..r {
                g[i * r + j] += f64::from(dot(a, &m[j * n + k0..j * n + k1]));
            }
        }
    }
    symmetrize(&mut g, r);
    g
}

/// The r×r Gram matrix `Mᵀ·M` of a matrix `m` with rows `r` long: a sum of outer
/// products of its rows, so rows are read in order and never transposed.
fn gram_cols(m: &[f32], r: usize) -> Vec<f64> {
    let mut g = vec![0f64; r * r];
    let mut acc = vec![0f32; r * r];
    for block in m.chunks(r * BLOCK) {
        acc.fill(0.0);
        for row in block.chunks_exact(r) {
            // The full square (not the triangle): fixed-length lines vectorize fully.
            for (line, x) in acc.chunks_exact_mut(r).zip(row) {
                for (slot, y) in line.iter_mut().zip(row) {
                    *slot = x.mul_add(*y, *slot);
                }
            }
        }
        for (total, part) in g.iter_mut().zip(&acc) {
            *total += f64::from(*part);
        }
    }
    g
}

/// Copies the upper triangle onto the lower one.
fn symmetrize(g: &mut [f64], r: usize) {
    for i in 0..r {
        for j in 0..i {
            g[i * r + j] = g[j * r + i];
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, ra) = a.as_chunks::<16>();
    let (cb, rb) = b.as_chunks::<16>();
    for (x, y) in ca.iter().zip(cb) {
        for k in 0..16 {
            acc[k] = x[k].mul_add(y[k], acc[k]);
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

fn strengths(structure: &Structure, grams: HashMap<String, Grams>) -> Vec<ModuleStrength> {
    let mut out: Vec<ModuleStrength> = grams
        .into_iter()
        .filter_map(|(name, g)| {
            let (ga, gb) = (g.down?, g.up?);
            if ga.len() != gb.len() {
                return None;
            }
            let module = structure.modules.get(&name)?;
            let rank = module.rank()?;
            let alpha = module.alpha.unwrap_or(rank as f64);
            let scale = alpha / rank as f64;
            let sq: f64 = ga.iter().zip(&gb).map(|(a, b)| a * b).sum();
            Some(ModuleStrength {
                module: name,
                rank,
                alpha,
                scale,
                // Summation order (vector width, FMA) moves the last digits between
                // builds: six significant digits are all a heuristic needs.
                strength: round_significant(scale * sq.max(0.0).sqrt(), 6),
            })
        })
        .collect();
    out.sort_by(|a, b| a.module.cmp(&b.module));
    out
}

fn round_significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

fn f8_table(e4m3: bool) -> &'static [f32; 256] {
    static E4M3: OnceLock<[f32; 256]> = OnceLock::new();
    static E5M2: OnceLock<[f32; 256]> = OnceLock::new();
    let (cell, exp_bits, man_bits, bias) = if e4m3 {
        (&E4M3, 4, 3, 7)
    } else {
        (&E5M2, 5, 2, 15)
    };
    cell.get_or_init(|| {
        let mut t = [0f32; 256];
        for (b, v) in t.iter_mut().enumerate() {
            let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
            let exp = (b >> man_bits) & ((1 << exp_bits) - 1);
            let man = b & ((1 << man_bits) - 1);
            let max_exp = (1 << exp_bits) - 1;
            *v = if e4m3 && exp == max_exp && man == (1 << man_bits) - 1 {
                f32::NAN
            } else if !e4m3 && exp == max_exp {
                if man == 0 {
                    sign * f32::INFINITY
                } else {
                    f32::NAN
                }
            } else if exp == 0 {
                sign * (man as f32 / (1 << man_bits) as f32) * 2f32.powi(1 - bias)
            } else {
                sign * (1.0 + man as f32 / (1 << man_bits) as f32) * 2f32.powi(exp as i32 - bias)
            };
        }
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f8_tables_match_known_values() {
        let e4 = f8_table(true);
        assert_eq!(e4[0x38], 1.0);
        assert_eq!(e4[0x7e], 448.0);
        assert!(e4[0x7f].is_nan());
        let e5 = f8_table(false);
        assert_eq!(e5[0x3c], 1.0);
        assert_eq!(e5[0x7b], 57344.0);
        assert!(e5[0x7c].is_infinite());
        assert!(e5[0x7d].is_nan());
    }

    #[test]
    fn gram_trace_equals_frobenius_norm_of_the_product() {
        // B (3×2) · A (2×4), checked against the product formed directly.
        let a = [1.0f32, 2.0, 0.0, -1.0, 0.5, 0.0, 3.0, 1.0];
        let b = [1.0f32, 0.0, 2.0, -1.0, 0.0, 1.0];
        let mut direct = 0f64;
        for i in 0..3 {
            for j in 0..4 {
                let v: f32 = (0..2).map(|k| b[i * 2 + k] * a[k * 4 + j]).sum();
                direct += f64::from(v * v);
            }
        }
        let ga = gram_rows(&a, 2, 4);
        let gb = gram_cols(&b, 2);
        let via_gram: f64 = ga.iter().zip(&gb).map(|(x, y)| x * y).sum();
        assert!((via_gram - direct).abs() < 1e-9, "{via_gram} vs {direct}");
    }
}
