//! Weight health: NaN, ±Inf and the largest finite |w|, on the stored bit patterns.

use half::{bf16, f16};
use serde::Serialize;

use crate::dtype::{DType, f8_table};

/// NaN, Inf and magnitude over all float tensors.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeightStats {
    /// NaN elements.
    pub nan_count: u64,
    /// ±Inf elements.
    pub inf_count: u64,
    /// Largest finite |w| over the weights (the `alpha` scalars are not weights).
    pub max_abs: f64,
    /// Float tensors scanned.
    pub scanned_tensors: usize,
    /// Tensors of other dtypes (integers, bools, sub-byte floats), not scanned.
    pub skipped_tensors: usize,
    /// Up to ten tensors holding NaN or Inf.
    pub bad_tensors: Vec<String>,
}

/// Adds the NaN and Inf counts and the largest finite |x| of `raw` to `stats`, working on
/// the stored bit patterns: no conversion, and integer lanes vectorize without NaN rules.
pub(super) fn health(dtype: DType, raw: &[u8], stats: &mut WeightStats) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
