//! Element types and how their stored bytes decode to f32.

use std::fmt;
use std::sync::OnceLock;

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// A safetensors element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum DType {
    Bool,
    F4,
    F6E2M3,
    F6E3M2,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    F8E8M0,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
}

impl DType {
    /// Parses the safetensors spelling (`F16`, `BF16`, `F8_E4M3`, …).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "BOOL" => DType::Bool,
            "F4" => DType::F4,
            "F6_E2M3" => DType::F6E2M3,
            "F6_E3M2" => DType::F6E3M2,
            "U8" => DType::U8,
            "I8" => DType::I8,
            "F8_E5M2" => DType::F8E5M2,
            "F8_E4M3" => DType::F8E4M3,
            "F8_E8M0" => DType::F8E8M0,
            "I16" => DType::I16,
            "U16" => DType::U16,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            "I32" => DType::I32,
            "U32" => DType::U32,
            "F32" => DType::F32,
            "C64" => DType::C64,
            "F64" => DType::F64,
            "I64" => DType::I64,
            "U64" => DType::U64,
            _ => return None,
        })
    }

    /// The safetensors spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::F4 => "F4",
            DType::F6E2M3 => "F6_E2M3",
            DType::F6E3M2 => "F6_E3M2",
            DType::U8 => "U8",
            DType::I8 => "I8",
            DType::F8E5M2 => "F8_E5M2",
            DType::F8E4M3 => "F8_E4M3",
            DType::F8E8M0 => "F8_E8M0",
            DType::I16 => "I16",
            DType::U16 => "U16",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::I32 => "I32",
            DType::U32 => "U32",
            DType::F32 => "F32",
            DType::C64 => "C64",
            DType::F64 => "F64",
            DType::I64 => "I64",
            DType::U64 => "U64",
        }
    }

    /// Size of one element in bits.
    pub fn bits(self) -> u64 {
        match self {
            DType::F4 => 4,
            DType::F6E2M3 | DType::F6E3M2 => 6,
            DType::Bool | DType::U8 | DType::I8 | DType::F8E5M2 | DType::F8E4M3 | DType::F8E8M0 => {
                8
            }
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 16,
            DType::I32 | DType::U32 | DType::F32 => 32,
            DType::C64 | DType::F64 | DType::I64 | DType::U64 => 64,
        }
    }

    /// Whether the weight scan reads it as floating point.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F16 | DType::BF16 | DType::F32 | DType::F64 | DType::F8E5M2 | DType::F8E4M3
        )
    }

    /// The dtype of a torch storage class name (`HalfStorage` → F16), for pickled tensors.
    pub fn from_torch_storage(name: &str) -> Option<Self> {
        Some(match name {
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "ByteStorage" => DType::U8,
            "CharStorage" => DType::I8,
            "ShortStorage" => DType::I16,
            "IntStorage" => DType::I32,
            "LongStorage" => DType::I64,
            "BoolStorage" => DType::Bool,
            "Float8_e4m3fnStorage" => DType::F8E4M3,
            "Float8_e5m2Storage" => DType::F8E5M2,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

pub(crate) fn f8_table(e4m3: bool) -> &'static [f32; 256] {
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
}
