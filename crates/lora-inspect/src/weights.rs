//! One streaming pass over a safetensors data section: weight health over every float
//! dtype, the `alpha` scalars, and each module's strength ‖ΔW‖_F = scale·‖B·A‖_F computed
//! from the small r×r Gram matrices (‖BA‖²_F = tr((BᵀB)(AAᵀ))) without forming ΔW.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::OnceLock;

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use serde::Serialize;

use crate::analyze::{Part, Structure, split};
use crate::gram;
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
    let (Some(first), Some(last)) = (tensors.first(), tensors.last()) else {
        return Ok(out);
    };
    let mut stream = Stream::open(path, data_start, first.begin, last.end - first.begin)?;
    let stats = &mut out.stats;
    for tensor in tensors {
        let len = (tensor.end - tensor.begin) as usize;
        let factor =
            split(&tensor.name).filter(|(_, p)| matches!(p, Part::Down | Part::Up | Part::Alpha));
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
            health(tensor.dtype, raw, stats);
            record(module, part, tensor, raw, &mut out.alphas, &mut out.grams);
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

/// Reads a byte range of a file front to back in large reads, handing out each tensor as
/// a slice of its buffer: no second copy through a `BufReader`, one syscall per window
/// rather than per tensor. A slice sits at the same address modulo 8 as its offset in the
/// data section, so tensors aligned there are aligned in memory even when the header's
/// length is not a multiple of 8.
struct Stream {
    file: File,
    /// Only ever grows (to the largest tensor kept whole); u64 for the alignment.
    buf: Vec<u64>,
    /// Next byte to hand out, and the end of the bytes read, as indexes into `buf`.
    pos: usize,
    filled: usize,
    /// Bytes of the range not read yet.
    unread: u64,
}

/// Bytes read at a time.
const WINDOW: usize = 4 << 20;

impl Stream {
    /// The `len` bytes at `offset` in the data section that starts at `data_start`.
    fn open(path: &Path, data_start: u64, offset: u64, len: u64) -> Result<Self, InspectError> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(data_start + offset))?;
        let lead = (offset % 8) as usize;
        Ok(Self {
            file,
            buf: Vec::new(),
            pos: lead,
            filled: lead,
            unread: len,
        })
    }

    /// The next `len` bytes.
    fn next(&mut self, len: usize) -> Result<&[u8], InspectError> {
        if self.filled - self.pos < len {
            self.refill(len)?;
        }
        let start = self.pos;
        self.pos += len;
        Ok(&bytemuck::cast_slice::<u64, u8>(&self.buf)[start..self.pos])
    }

    fn skip(&mut self, len: usize) -> Result<(), InspectError> {
        let buffered = self.filled - self.pos;
        if len <= buffered {
            self.pos += len;
            return Ok(());
        }
        let beyond = (len - buffered) as u64;
        self.file.seek_relative(beyond as i64)?;
        self.unread = self.unread.saturating_sub(beyond);
        self.pos = (self.pos + len) % 8;
        self.filled = self.pos;
        Ok(())
    }

    /// Moves the unread tail to the front (same alignment) and reads until `len` bytes
    /// are buffered.
    fn refill(&mut self, len: usize) -> Result<(), InspectError> {
        let lead = self.pos % 8;
        let tail = self.filled - self.pos;
        let want = (lead + len).max(WINDOW.min(lead + tail + self.unread as usize));
        if self.buf.len() * 8 < want {
            self.buf.resize(want.div_ceil(8), 0);
        }
        let bytes = bytemuck::cast_slice_mut::<u64, u8>(&mut self.buf);
        bytes.copy_within(self.pos..self.filled, lead);
        self.pos = lead;
        self.filled = lead + tail;
        let room = bytes.len().min(self.filled + self.unread as usize);
        while self.filled - self.pos < len {
            let n = self.file.read(&mut bytes[self.filled..room])?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            self.filled += n;
            self.unread -= n as u64;
        }
        Ok(())
    }
}

/// Decodes `bytes` (little-endian `dtype` elements) into `out`, one f32 per element.
/// Dtypes the scan does not read as floats leave `out` untouched.
pub(crate) fn decode(dtype: DType, bytes: &[u8], out: &mut [f32]) {
    match dtype {
        DType::F32 => match bytemuck::try_cast_slice::<u8, f32>(bytes) {
            Ok(values) => out.copy_from_slice(values),
            Err(_) => each(bytes, out, |c: [u8; 4]| f32::from_le_bytes(c)),
        },
        DType::F64 => each(bytes, out, |c: [u8; 8]| f64::from_le_bytes(c) as f32),
        DType::F16 => match bytemuck::try_cast_slice::<u8, f16>(bytes) {
            Ok(halves) => halves.convert_to_f32_slice(out),
            Err(_) => each(bytes, out, |c: [u8; 2]| f16::from_le_bytes(c).to_f32()),
        },
        DType::BF16 => match bytemuck::try_cast_slice::<u8, bf16>(bytes) {
            Ok(halves) => halves.convert_to_f32_slice(out),
            Err(_) => each(bytes, out, |c: [u8; 2]| bf16::from_le_bytes(c).to_f32()),
        },
        DType::F8E4M3 | DType::F8E5M2 => {
            let table = f8_table(dtype == DType::F8E4M3);
            for (o, b) in out.iter_mut().zip(bytes) {
                *o = table[usize::from(*b)];
            }
        }
        _ => {}
    }
}

/// The slow path of [`decode`] for unaligned input.
fn each<const N: usize>(bytes: &[u8], out: &mut [f32], f: impl Fn([u8; N]) -> f32) {
    let (chunks, _) = bytes.as_chunks::<N>();
    for (o, c) in out.iter_mut().zip(chunks) {
        *o = f(*c);
    }
}

/// Adds the NaN and Inf counts and the largest finite |x| of `raw` to `stats`, working on
/// the stored bit patterns: no conversion, and integer lanes vectorize without NaN rules.
fn health(dtype: DType, raw: &[u8], stats: &mut WeightStats) {
    let (nan, inf, max) = match dtype {
        DType::F16 => {
            let (n, i, m) = bits_health::<u16>(raw, 0x7fff, 0x7c00);
            (n, i, f16::from_bits(m).to_f64())
        }
        DType::BF16 => {
            let (n, i, m) = bits_health::<u16>(raw, 0x7fff, 0x7f80);
            (n, i, bf16::from_bits(m).to_f64())
        }
        DType::F32 => {
            let (n, i, m) = bits_health::<u32>(raw, 0x7fff_ffff, 0x7f80_0000);
            (n, i, f64::from(f32::from_bits(m)))
        }
        DType::F64 => {
            let (n, i, m) = bits_health::<u64>(raw, 0x7fff_ffff_ffff_ffff, 0x7ff0_0000_0000_0000);
            (n, i, f64::from_bits(m))
        }
        DType::F8E4M3 | DType::F8E5M2 => {
            let table = f8_table(dtype == DType::F8E4M3);
            let (mut n, mut i, mut m) = (0, 0, 0f64);
            for b in raw {
                let x = table[usize::from(*b)];
                n += u64::from(x.is_nan());
                i += u64::from(x.is_infinite());
                if x.is_finite() {
                    m = m.max(f64::from(x.abs()));
                }
            }
            (n, i, m)
        }
        _ => return,
    };
    stats.nan_count += nan;
    stats.inf_count += inf;
    stats.max_abs = stats.max_abs.max(max);
}

/// NaN count, Inf count and the largest finite magnitude's bits, for IEEE floats stored
/// as `T`: with the sign masked off, NaNs are above the infinity pattern and the integer
/// order of finite values is their magnitude order.
fn bits_health<T>(raw: &[u8], magnitude: T, inf_bits: T) -> (u64, u64, T)
where
    T: bytemuck::Pod + Ord + Default + std::ops::BitAnd<Output = T>,
{
    let values: std::borrow::Cow<'_, [T]> = match bytemuck::try_cast_slice(raw) {
        Ok(v) => v.into(),
        Err(_) => raw
            .chunks_exact(size_of::<T>())
            .map(bytemuck::pod_read_unaligned::<T>)
            .collect::<Vec<T>>()
            .into(),
    };
    // Integer reductions are associative, so these plain loops vectorize as they are.
    let magnitudes = || values.iter().map(|x| *x & magnitude);
    let top = magnitudes().fold(T::default(), T::max);
    // The usual case: the largest pattern is below infinity, so there is nothing to count.
    if top < inf_bits {
        return (0, 0, top);
    }
    let nan = magnitudes().map(|b| u64::from(b > inf_bits)).sum();
    let inf = magnitudes().map(|b| u64::from(b == inf_bits)).sum();
    let finite = magnitudes()
        .map(|b| if b < inf_bits { b } else { T::default() })
        .fold(T::default(), T::max);
    (nan, inf, finite)
}

fn record(
    module: &str,
    part: Part,
    tensor: &TensorInfo,
    raw: &[u8],
    alphas: &mut Vec<(String, f64)>,
    grams: &mut HashMap<String, Grams>,
) {
    let elements = tensor.numel() as usize;
    match part {
        Part::Alpha => {
            let elem = (tensor.dtype.bits() / 8) as usize;
            let mut first = [0f32];
            if elements > 0 && raw.len() >= elem {
                decode(tensor.dtype, &raw[..elem], &mut first);
                if first[0].is_finite() {
                    alphas.push((module.to_owned(), f64::from(first[0])));
                }
            }
        }
        Part::Down => {
            let r = tensor.shape.first().copied().unwrap_or(0) as usize;
            if r > 0 && r <= 1024 && elements.is_multiple_of(r) {
                grams.entry(module.to_owned()).or_default().down =
                    Some(gram::of_rows(tensor.dtype, raw, r, elements / r));
            }
        }
        Part::Up => {
            let out = tensor.shape.first().copied().unwrap_or(0) as usize;
            let r = tensor.shape.get(1).copied().unwrap_or(0) as usize;
            if r > 0 && r <= 1024 && out > 0 && elements == out * r {
                grams.entry(module.to_owned()).or_default().up =
                    Some(gram::of_cols(tensor.dtype, raw, out, r));
            }
        }
        _ => {}
    }
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
    fn health_reads_bit_patterns_of_every_float_dtype() {
        let mut stats = WeightStats::default();
        let halves: Vec<u8> = [1.5f32, -3.0, f32::NAN, f32::INFINITY, -0.25]
            .iter()
            .flat_map(|x| f16::from_f32(*x).to_le_bytes())
            .collect();
        health(DType::F16, &halves, &mut stats);
        assert_eq!(
            (stats.nan_count, stats.inf_count, stats.max_abs),
            (1, 1, 3.0)
        );
        let doubles: Vec<u8> = [-7.0f64, f64::NEG_INFINITY]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        health(DType::F64, &doubles, &mut stats);
        assert_eq!(
            (stats.nan_count, stats.inf_count, stats.max_abs),
            (1, 2, 7.0)
        );
        // 40 bf16 values: the vector lanes and the tail both count.
        let many: Vec<u8> = (0..40)
            .flat_map(|k| bf16::from_f32(if k == 37 { f32::NAN } else { k as f32 }).to_le_bytes())
            .collect();
        health(DType::BF16, &many, &mut stats);
        assert_eq!(
            (stats.nan_count, stats.inf_count, stats.max_abs),
            (2, 2, 39.0)
        );
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
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let ga = gram::of_rows(DType::F32, &bytes(&a), 2, 4);
        let gb = gram::of_cols(DType::F32, &bytes(&b), 3, 2);
        let via_gram: f64 = ga.iter().zip(&gb).map(|(x, y)| x * y).sum();
        assert!((via_gram - direct).abs() < 1e-9, "{via_gram} vs {direct}");
    }
}
