//! Per-module strength ‖ΔW‖_F = scale·‖B·A‖_F, from the factors' Gram matrices.

use std::collections::HashMap;

use serde::Serialize;

use crate::analyze::{NetworkType, Structure};
use crate::dtype::decode;
use crate::gram;
use crate::names::Part;
use crate::safetensors::TensorInfo;

use super::product::{Factors, loha_norm, lokr_norm};

/// One module's rank, alpha and strength.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModuleStrength {
    /// Module name.
    pub module: String,
    /// Network type of the module.
    pub network_type: NetworkType,
    /// Rank (`null` for LoKr factors kept whole).
    pub rank: Option<u64>,
    /// Alpha (the rank when the file has none).
    pub alpha: f64,
    /// alpha / rank (1 for whole LoKr factors).
    pub scale: f64,
    /// scale·‖B·A‖_F.
    pub strength: f64,
}

/// The Gram matrices of one module's two factors, as they are found.
#[derive(Default)]
pub(super) struct Grams {
    pub down: Option<Vec<f64>>,
    pub up: Option<Vec<f64>>,
}

pub(super) fn record(
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

pub(super) fn strengths(
    structure: &Structure,
    grams: HashMap<String, Grams>,
    products: &HashMap<String, Factors>,
) -> Vec<ModuleStrength> {
    let product_strengths = products.iter().filter_map(|(name, factors)| {
        let module = structure.modules.get(name)?;
        let network_type = module.network_type()?;
        let norm = match network_type {
            NetworkType::Loha => loha_norm(factors)?,
            NetworkType::Lokr => lokr_norm(factors)?,
            _ => return None,
        };
        let scale = module.scale()?;
        let rank = module.rank();
        Some(ModuleStrength {
            module: name.clone(),
            network_type,
            rank,
            alpha: module
                .alpha
                .unwrap_or_else(|| rank.map_or(1.0, |r| r as f64)),
            scale,
            strength: round_significant(scale * norm, 6),
        })
    });
    let mut out: Vec<ModuleStrength> = grams
        .into_iter()
        .filter_map(|(name, g)| {
            let (ga, gb) = (g.down?, g.up?);
            if ga.len() != gb.len() {
                return None;
            }
            let module = structure.modules.get(&name)?;
            let rank = module.rank()?;
            let scale = module.scale()?;
            let sq: f64 = ga.iter().zip(&gb).map(|(a, b)| a * b).sum();
            Some(ModuleStrength {
                module: name,
                network_type: module.network_type()?,
                rank: Some(rank),
                alpha: module.alpha.unwrap_or(rank as f64),
                scale,
                // Summation order (vector width, FMA) moves the last digits between
                // builds: six significant digits are all a heuristic needs.
                strength: round_significant(scale * sq.max(0.0).sqrt(), 6),
            })
        })
        .chain(product_strengths)
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

#[cfg(test)]
mod tests {
    use crate::dtype::DType;
    use crate::gram;

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
