//! ‖ΔW‖_F for the LyCORIS product networks, without forming ΔW.
//!
//! * LoHa, ΔW = (A₁B₁) ⊙ (A₂B₂): the Hadamard product of two rank-r products has rank
//!   ≤ r₁r₂ and factors V·Uᵀ, where row i of V (out × r₁r₂) is A₁[i] ⊗ A₂[i] and row j of
//!   U (in × r₁r₂) is B₁[:,j] ⊗ B₂[:,j]. So ‖ΔW‖²_F = tr((VᵀV)(UᵀU)), from two Gram
//!   matrices as for LoRA ([`crate::gram`]).
//! * LoKr, ΔW = W₁ ⊗ W₂: ‖W₁ ⊗ W₂‖_F = ‖W₁‖_F·‖W₂‖_F, each factor whole or a product
//!   of two (its norm from Gram matrices again).
//!
//! Tucker-decomposed modules (`hada_t1`, `lokr_t2`) get no strength.

use std::collections::HashMap;

use crate::dtype::DType;
use crate::gram;

/// A factor tensor of a LoHa or LoKr module, decoded.
#[derive(Debug, Clone)]
pub(super) struct Factor {
    pub shape: Vec<u64>,
    pub values: Vec<f32>,
}

/// Factors by their name's last part (`hada_w1_a`, `lokr_w2_b`, …).
pub(super) type Factors = HashMap<String, Factor>;

/// The product r₁·r₂ above which a LoHa module's Gram matrices are not formed (they are
/// (r₁r₂)², and each row of V and U costs (r₁r₂)²/2 multiply-adds).
const MAX_LOHA_PRODUCT_RANK: usize = 256;

/// ‖(A₁B₁) ⊙ (A₂B₂)‖_F, or `None` when the factors do not fit together.
pub(super) fn loha_norm(f: &Factors) -> Option<f64> {
    if f.contains_key("hada_t1") || f.contains_key("hada_t2") {
        return None;
    }
    let (a1, b1) = (f.get("hada_w1_a")?, f.get("hada_w1_b")?);
    let (a2, b2) = (f.get("hada_w2_a")?, f.get("hada_w2_b")?);
    let out = dim(a1, 0)?;
    let (r1, r2) = (dim(a1, 1)?, dim(a2, 1)?);
    let cols = |b: &Factor| Some(b.values.len() / dim(b, 0)?.max(1));
    let inner = cols(b1)?;
    if dim(a2, 0)? != out
        || dim(b1, 0)? != r1
        || dim(b2, 0)? != r2
        || cols(b2)? != inner
        || r1 * r2 > MAX_LOHA_PRODUCT_RANK
        || a1.values.len() != out * r1
        || a2.values.len() != out * r2
    {
        return None;
    }
    let r = r1 * r2;
    // V: out × r, row i = A₁[i] ⊗ A₂[i].
    let mut v = vec![0f32; out * r];
    for (i, row) in v.chunks_exact_mut(r).enumerate() {
        kron(
            row,
            &a1.values[i * r1..(i + 1) * r1],
            &a2.values[i * r2..(i + 1) * r2],
        );
    }
    // U: in × r, row j = B₁[:,j] ⊗ B₂[:,j] (columns gathered first).
    let mut u = vec![0f32; inner * r];
    let (mut c1, mut c2) = (vec![0f32; r1], vec![0f32; r2]);
    for (j, row) in u.chunks_exact_mut(r).enumerate() {
        for (k, c) in c1.iter_mut().enumerate() {
            *c = b1.values[k * inner + j];
        }
        for (l, c) in c2.iter_mut().enumerate() {
            *c = b2.values[l * inner + j];
        }
        kron(row, &c1, &c2);
    }
    let gv = gram::of_cols(DType::F32, bytemuck::cast_slice(&v), out, r);
    let gu = gram::of_cols(DType::F32, bytemuck::cast_slice(&u), inner, r);
    Some(trace_of_product(&gv, &gu).sqrt())
}

/// `row` = x ⊗ y.
fn kron(row: &mut [f32], x: &[f32], y: &[f32]) {
    for (chunk, a) in row.chunks_exact_mut(y.len()).zip(x) {
        for (cell, b) in chunk.iter_mut().zip(y) {
            *cell = a * b;
        }
    }
}

/// ‖W₁‖_F·‖W₂‖_F, each factor whole (`lokr_w1`) or a product (`lokr_w1_a`·`lokr_w1_b`).
pub(super) fn lokr_norm(f: &Factors) -> Option<f64> {
    if f.contains_key("lokr_t2") {
        return None;
    }
    Some(lokr_factor(f, "lokr_w1")? * lokr_factor(f, "lokr_w2")?)
}

fn lokr_factor(f: &Factors, name: &str) -> Option<f64> {
    if let Some(whole) = f.get(name) {
        return Some(
            whole
                .values
                .iter()
                .map(|x| f64::from(*x) * f64::from(*x))
                .sum::<f64>()
                .sqrt(),
        );
    }
    let a = f.get(&format!("{name}_a"))?;
    let b = f.get(&format!("{name}_b"))?;
    let (rows, r) = (dim(a, 0)?, dim(a, 1)?);
    if dim(b, 0)? != r || a.values.len() != rows * r || r == 0 {
        return None;
    }
    let inner = b.values.len() / r;
    let ga = gram::of_cols(DType::F32, bytemuck::cast_slice(&a.values), rows, r);
    let gb = gram::of_rows(DType::F32, bytemuck::cast_slice(&b.values), r, inner);
    Some(trace_of_product(&ga, &gb).sqrt())
}

/// tr(G·H) of two symmetric matrices: the sum of their elementwise product.
fn trace_of_product(g: &[f64], h: &[f64]) -> f64 {
    g.iter().zip(h).map(|(a, b)| a * b).sum::<f64>().max(0.0)
}

fn dim(f: &Factor, at: usize) -> Option<usize> {
    f.shape.get(at).map(|d| *d as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factor(rows: usize, cols: usize, seed: u32) -> Factor {
        let values = (0..rows * cols)
            .map(|k| {
                let h = (k as u32 ^ seed).wrapping_mul(2_654_435_761) >> 8;
                (h % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        Factor {
            shape: vec![rows as u64, cols as u64],
            values,
        }
    }

    fn product(a: &Factor, b: &Factor) -> Vec<f64> {
        let (n, r) = (a.shape[0] as usize, a.shape[1] as usize);
        let m = b.shape[1] as usize;
        let mut out = vec![0f64; n * m];
        for i in 0..n {
            for j in 0..m {
                out[i * m + j] = (0..r)
                    .map(|k| f64::from(a.values[i * r + k]) * f64::from(b.values[k * m + j]))
                    .sum();
            }
        }
        out
    }

    #[test]
    fn loha_norm_matches_the_hadamard_product_formed_directly() {
        let (out, inner) = (7, 9);
        let f = Factors::from([
            ("hada_w1_a".to_owned(), factor(out, 3, 1)),
            ("hada_w1_b".to_owned(), factor(3, inner, 2)),
            ("hada_w2_a".to_owned(), factor(out, 2, 3)),
            ("hada_w2_b".to_owned(), factor(2, inner, 4)),
        ]);
        let p1 = product(&f["hada_w1_a"], &f["hada_w1_b"]);
        let p2 = product(&f["hada_w2_a"], &f["hada_w2_b"]);
        let direct = p1
            .iter()
            .zip(&p2)
            .map(|(x, y)| (x * y) * (x * y))
            .sum::<f64>()
            .sqrt();
        let got = loha_norm(&f).unwrap();
        assert!((got - direct).abs() < 1e-4 * direct, "{got} vs {direct}");
    }

    #[test]
    fn lokr_norm_is_the_product_of_the_factor_norms() {
        let w1 = factor(4, 5, 1);
        let (a, b) = (factor(6, 2, 2), factor(2, 8, 3));
        let direct_w2: f64 = product(&a, &b).iter().map(|x| x * x).sum::<f64>().sqrt();
        let direct_w1: f64 = w1
            .values
            .iter()
            .map(|x| f64::from(*x).powi(2))
            .sum::<f64>()
            .sqrt();
        let f = Factors::from([
            ("lokr_w1".to_owned(), w1),
            ("lokr_w2_a".to_owned(), a),
            ("lokr_w2_b".to_owned(), b),
        ]);
        let got = lokr_norm(&f).unwrap();
        let want = direct_w1 * direct_w2;
        assert!((got - want).abs() < 1e-4 * want, "{got} vs {want}");
        // A missing factor: no strength rather than a wrong one.
        let mut partial = f.clone();
        partial.remove("lokr_w1");
        assert_eq!(lokr_norm(&partial), None);
    }
}
