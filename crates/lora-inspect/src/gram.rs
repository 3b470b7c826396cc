//! The r×r Gram matrices of a LoRA module's two factors, straight from their stored bytes.
//!
//! ‖B·A‖²_F = tr((BᵀB)(AAᵀ)) needs `A·Aᵀ` of the down factor (r × in, rows in the file)
//! and `Bᵀ·B` of the up factor (out × r). Both are computed in blocks that fit in L1: a
//! block is decoded to f32 once, then multiplied with register tiles so that each value
//! loaded feeds several fused multiply-adds. Every block's f32 partial sums are added into
//! f64 totals, which bounds the rounding error by the block length.

use crate::dtype::{DType, decode};

/// Elements per row (or rows) in a block: 32 rows × 256 f32 = 32 KiB, the size of L1.
const BLOCK: usize = 256;
/// Vector width the tiles are written for (8 f32 = one AVX2 register).
const LANES: usize = 8;

/// `A·Aᵀ` (r × r, row-major) of the r × n row-major matrix stored in `raw` as `dtype`.
///
/// `raw` must hold exactly r·n elements. Each block of columns is transposed while it is
/// decoded, so that the same outer-product kernel as [`of_cols`] does the work: it keeps
/// its accumulators in registers, where a kernel of dot products along the rows needs
/// horizontal sums.
pub(crate) fn of_rows(dtype: DType, raw: &[u8], r: usize, n: usize) -> Vec<f64> {
    let elem = (dtype.bits() / 8) as usize;
    let rs = r.next_multiple_of(2 * LANES);
    let mut panel = vec![0f32; BLOCK * rs];
    // Eight rows decoded side by side, then written eight values at a time.
    let mut lines = vec![[0f32; BLOCK]; LANES];
    let mut acc = vec![0f32; rs * rs];
    let mut g = vec![0f64; r * r];
    for k0 in (0..n).step_by(BLOCK) {
        let kb = BLOCK.min(n - k0);
        for i0 in (0..r).step_by(LANES) {
            for (i, line) in (i0..).zip(lines.iter_mut()) {
                if i < r {
                    let start = (i * n + k0) * elem;
                    decode(dtype, &raw[start..start + kb * elem], &mut line[..kb]);
                } else {
                    line.fill(0.0);
                }
            }
            for (k, row) in panel.chunks_exact_mut(rs).take(kb).enumerate() {
                if let Some(cells) = row[i0..].first_chunk_mut::<LANES>() {
                    for (cell, line) in cells.iter_mut().zip(&lines) {
                        *cell = line[k];
                    }
                }
            }
        }
        outer(&panel[..kb * rs], rs, &mut acc);
        add_upper(&acc, rs, &mut g, r);
    }
    symmetrize(&mut g, r);
    g
}

/// `Bᵀ·B` (r × r, row-major) of the m × r row-major matrix stored in `raw` as `dtype`.
///
/// `raw` must hold exactly m·r elements.
pub(crate) fn of_cols(dtype: DType, raw: &[u8], m: usize, r: usize) -> Vec<f64> {
    let elem = (dtype.bits() / 8) as usize;
    // Sixteen columns per tile: pad each row with zero columns.
    let rs = r.next_multiple_of(2 * LANES);
    let mut panel = vec![0f32; BLOCK * rs];
    let mut acc = vec![0f32; rs * rs];
    let mut g = vec![0f64; r * r];
    for k0 in (0..m).step_by(BLOCK) {
        let kb = BLOCK.min(m - k0);
        let rows = &raw[k0 * r * elem..(k0 + kb) * r * elem];
        if rs == r {
            decode(dtype, rows, &mut panel[..kb * r]);
        } else {
            for (src, line) in rows.chunks_exact(r * elem).zip(panel.chunks_exact_mut(rs)) {
                decode(dtype, src, &mut line[..r]);
            }
        }
        outer(&panel[..kb * rs], rs, &mut acc);
        add_upper(&acc, rs, &mut g, r);
    }
    symmetrize(&mut g, r);
    g
}

/// `acc = Pᵀ·P` on and above the diagonal, for the rows (each `rs` long, a multiple of
/// 16) in `panel`: a sum of each row's outer product with itself.
fn outer(panel: &[f32], rs: usize, acc: &mut [f32]) {
    for i0 in (0..rs).step_by(4) {
        for j0 in (i0 / (2 * LANES) * (2 * LANES)..rs).step_by(2 * LANES) {
            // 4 × 16 cells at once: 8 accumulators, 4 broadcasts and 2 loads per 8 FMAs.
            let mut t = [[[0f32; LANES]; 2]; 4];
            for line in panel.chunks_exact(rs) {
                let (Some(x), Some(y)) = (
                    line[i0..].first_chunk::<4>(),
                    line[j0..].first_chunk::<{ 2 * LANES }>(),
                ) else {
                    continue;
                };
                let (y0, y1) = y.split_at(LANES);
                for (tp, xp) in t.iter_mut().zip(x) {
                    for l in 0..LANES {
                        tp[0][l] = xp.mul_add(y0[l], tp[0][l]);
                        tp[1][l] = xp.mul_add(y1[l], tp[1][l]);
                    }
                }
            }
            for (p, tp) in t.iter().enumerate() {
                let cells = &mut acc[(i0 + p) * rs + j0..(i0 + p) * rs + j0 + 2 * LANES];
                let (c0, c1) = cells.split_at_mut(LANES);
                c0.copy_from_slice(&tp[0]);
                c1.copy_from_slice(&tp[1]);
            }
        }
    }
}

/// Adds the upper triangle of the first r × r cells of `acc` (stride `stride`) to `g`.
fn add_upper(acc: &[f32], stride: usize, g: &mut [f64], r: usize) {
    for i in 0..r {
        for j in i..r {
            g[i * r + j] += f64::from(acc[i * stride + j]);
        }
    }
}

/// Copies the upper triangle onto the lower one.
fn symmetrize(g: &mut [f64], r: usize) {
    for i in 0..r {
        for j in 0..i {
            g[i * r + j] = g[j * r + i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// A deterministic matrix with values of both signs and several magnitudes.
    fn matrix(rows: usize, cols: usize, seed: u32) -> Vec<f32> {
        (0..rows * cols)
            .map(|k| {
                let h = (k as u32 ^ seed).wrapping_mul(2_654_435_761) >> 8;
                (h % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn naive(m: &[f32], rows: usize, cols: usize, transpose_first: bool) -> Vec<f64> {
        // transpose_first: MᵀM (cols × cols); else MMᵀ (rows × rows).
        let (n, k) = if transpose_first {
            (cols, rows)
        } else {
            (rows, cols)
        };
        let at = |i: usize, kk: usize| {
            if transpose_first {
                f64::from(m[kk * cols + i])
            } else {
                f64::from(m[i * cols + kk])
            }
        };
        let mut g = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = (0..k).map(|kk| at(i, kk) * at(j, kk)).sum();
            }
        }
        g
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-3 * w.abs().max(1.0),
                "cell {i}: {g} vs {w}"
            );
        }
    }

    #[test]
    fn both_grams_match_the_naive_product_for_awkward_sizes() {
        // Ranks that are and are not multiples of the tiles; lengths around the block.
        for (r, n) in [
            (1, 3),
            (3, 7),
            (4, 256),
            (5, 257),
            (16, 300),
            (32, 640),
            (33, 513),
        ] {
            let a = matrix(r, n, 7);
            assert_close(
                &of_rows(DType::F32, &f32_bytes(&a), r, n),
                &naive(&a, r, n, false),
            );
            let b = matrix(n, r, 11);
            assert_close(
                &of_cols(DType::F32, &f32_bytes(&b), n, r),
                &naive(&b, n, r, true),
            );
        }
    }

    #[test]
    fn half_precision_input_is_decoded_first() {
        let a = [1.0f32, -2.0, 0.5, 4.0];
        let raw: Vec<u8> = a
            .iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect();
        // Rows [1, -2] and [0.5, 4]: A·Aᵀ = [[5, -7.5], [-7.5, 16.25]].
        assert_eq!(
            of_rows(DType::F16, &raw, 2, 2),
            vec![5.0, -7.5, -7.5, 16.25]
        );
        // Columns [1, 0.5] and [-2, 4]: Bᵀ·B = [[1.25, 0], [0, 20]].
        assert_eq!(of_cols(DType::F16, &raw, 2, 2), vec![1.25, 0.0, 0.0, 20.0]);
    }
}
