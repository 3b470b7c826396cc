//! The safetensors format, checked rule by rule before anyone loads the file.
//!
//! Layout: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON, then the
//! data section. Every rule of the contract is checked here: `N ≤ 100 MB` and inside the
//! file; a JSON object without duplicate keys; `__metadata__` a string→string map; each
//! tensor with a known dtype, a shape and `data_offsets` whose length is element count ×
//! dtype size (overflow-checked); the ranges inside the data section, not overlapping and
//! covering it without gaps or trailing bytes.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::Value;

use crate::dtype::DType;
use crate::error::InspectError;

/// Largest header accepted, as the contract (and the reference implementation) say.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

const FORMAT: &str = "safetensors";

/// One tensor's entry in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Its name (`lora_unet_…lora_down.weight`).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Byte range inside the data section.
    pub begin: u64,
    /// End of the byte range (exclusive).
    pub end: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// A validated header.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// The `__metadata__` map (kohya's `ss_*` keys and the like).
    pub metadata: BTreeMap<String, String>,
    /// The tensors, sorted by their position in the data section.
    pub tensors: Vec<TensorInfo>,
    /// Where the data section starts in the file (`8 + N`).
    pub data_start: u64,
}

impl Header {
    /// Reads and validates the header of a file of `file_len` bytes from `reader`, which
    /// must be at the start of the file. Reads exactly `8 + N` bytes.
    ///
    /// # Errors
    ///
    /// [`InspectError::Invalid`] for any broken rule, [`InspectError::Io`] when reading fails.
    pub fn read(reader: &mut impl Read, file_len: u64) -> Result<Self, InspectError> {
        if file_len < 8 {
            return Err(InspectError::invalid(
                FORMAT,
                "shorter than the 8-byte header length",
            ));
        }
        let mut len = [0u8; 8];
        reader.read_exact(&mut len)?;
        let n = header_len(len, file_len)?;
        let mut json = vec![
            0u8;
            usize::try_from(n)
                .map_err(|_| InspectError::invalid(FORMAT, "header too large"))?
        ];
        reader.read_exact(&mut json)?;
        Self::parse_json(&json, Some(file_len - 8 - n), 8 + n)
    }

    /// Validates a header held in memory: `bytes` starts at the beginning of the file and
    /// holds at least the header; `file_len` is the whole file's size.
    ///
    /// # Errors
    ///
    /// [`InspectError::Invalid`] for any broken rule (including `bytes` too short).
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<Self, InspectError> {
        let len: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                InspectError::invalid(FORMAT, "shorter than the 8-byte header length")
            })?;
        let n = header_len(len, file_len)?;
        let json = bytes.get(8..8 + n as usize).ok_or_else(|| {
            InspectError::invalid(FORMAT, "the header runs past the end of the file")
        })?;
        Self::parse_json(json, Some(file_len - 8 - n), 8 + n)
    }

    /// Validates the JSON header of a file whose length is not known yet (one still
    /// arriving): every rule but the one tying the data section to the file's size.
    pub(crate) fn parse_arriving(json: &[u8], data_start: u64) -> Result<Self, InspectError> {
        Self::parse_json(json, None, data_start)
    }

    /// `data_len` is the data section's size, or `None` for "wherever the last tensor ends".
    fn parse_json(
        json: &[u8],
        data_len: Option<u64>,
        data_start: u64,
    ) -> Result<Self, InspectError> {
        let text = std::str::from_utf8(json)
            .map_err(|_| InspectError::invalid(FORMAT, "the header is not UTF-8"))?;
        let entries: UniqueMap = serde_json::from_str(text).map_err(|e| {
            InspectError::invalid(
                FORMAT,
                format!("the header is not a JSON object without duplicate keys: {e}"),
            )
        })?;
        let mut metadata = BTreeMap::new();
        let mut tensors = Vec::with_capacity(entries.0.len());
        for (name, value) in entries.0 {
            if name == "__metadata__" {
                metadata = parse_metadata(value)?;
            } else {
                tensors.push(parse_tensor(name, value)?);
            }
        }
        let data_len = data_len.unwrap_or_else(|| tensors.iter().map(|t| t.end).max().unwrap_or(0));
        check_ranges(&mut tensors, data_len)?;
        Ok(Self {
            metadata,
            tensors,
            data_start,
        })
    }

    /// Size of the data section.
    pub fn data_len(&self) -> u64 {
        self.tensors.last().map_or(0, |t| t.end)
    }
}

fn header_len(len: [u8; 8], file_len: u64) -> Result<u64, InspectError> {
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_BYTES {
        return Err(InspectError::invalid(
            FORMAT,
            format!("header length {n} is over the 100 MB limit"),
        ));
    }
    if n < 2 {
        return Err(InspectError::invalid(
            FORMAT,
            "the header is too short to be a JSON object",
        ));
    }
    if 8 + n > file_len {
        return Err(InspectError::invalid(
            FORMAT,
            format!("header length {n} runs past the end of the {file_len}-byte file"),
        ));
    }
    Ok(n)
}

fn parse_metadata(value: Value) -> Result<BTreeMap<String, String>, InspectError> {
    let Value::Object(map) = value else {
        return Err(InspectError::invalid(
            FORMAT,
            "__metadata__ is not an object",
        ));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            _ => Err(InspectError::invalid(
                FORMAT,
                format!("__metadata__ value of '{k}' is not a string"),
            )),
        })
        .collect()
}

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

fn parse_tensor(name: String, value: Value) -> Result<TensorInfo, InspectError> {
    let raw: RawTensor = serde_json::from_value(value)
        .map_err(|e| InspectError::invalid(FORMAT, format!("tensor '{name}': {e}")))?;
    let dtype = DType::parse(&raw.dtype).ok_or_else(|| {
        InspectError::invalid(
            FORMAT,
            format!("tensor '{name}' has unknown dtype '{}'", raw.dtype),
        )
    })?;
    let (begin, end) = raw.data_offsets;
    if begin > end {
        return Err(InspectError::invalid(
            FORMAT,
            format!("tensor '{name}' has data_offsets [{begin}, {end}] out of order"),
        ));
    }
    let numel = raw
        .shape
        .iter()
        .try_fold(1u64, |acc, d| acc.checked_mul(*d))
        .ok_or_else(|| {
            InspectError::invalid(FORMAT, format!("tensor '{name}': element count overflows"))
        })?;
    let bits = numel.checked_mul(dtype.bits()).ok_or_else(|| {
        InspectError::invalid(FORMAT, format!("tensor '{name}': byte size overflows"))
    })?;
    if bits % 8 != 0 {
        return Err(InspectError::invalid(
            FORMAT,
            format!("tensor '{name}': {numel} × {dtype} is not a whole number of bytes"),
        ));
    }
    if end - begin != bits / 8 {
        return Err(InspectError::invalid(
            FORMAT,
            format!(
                "tensor '{name}': shape {:?} of {dtype} needs {} bytes but data_offsets span {}",
                raw.shape,
                bits / 8,
                end - begin
            ),
        ));
    }
    Ok(TensorInfo {
        name,
        dtype,
        shape: raw.shape,
        begin,
        end,
    })
}

fn check_ranges(tensors: &mut [TensorInfo], data_len: u64) -> Result<(), InspectError> {
    tensors.sort_by(|a, b| (a.begin, a.end, &a.name).cmp(&(b.begin, b.end, &b.name)));
    let mut covered = 0u64;
    for t in tensors.iter() {
        if t.end > data_len {
            return Err(InspectError::invalid(
                FORMAT,
                format!(
                    "tensor '{}' ends at {} past the {data_len}-byte data section",
                    t.name, t.end
                ),
            ));
        }
        if t.begin < covered {
            return Err(InspectError::invalid(
                FORMAT,
                format!("tensor '{}' overlaps the tensor before it", t.name),
            ));
        }
        if t.begin > covered {
            return Err(InspectError::invalid(
                FORMAT,
                format!(
                    "a gap of {} bytes before tensor '{}'",
                    t.begin - covered,
                    t.name
                ),
            ));
        }
        covered = t.end;
    }
    if covered != data_len {
        return Err(InspectError::invalid(
            FORMAT,
            format!(
                "{} bytes after the last tensor are not described by the header",
                data_len - covered
            ),
        ));
    }
    Ok(())
}

/// A JSON object read in order, refusing duplicate keys (serde_json keeps the last).
struct UniqueMap(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueMap, A::Error> {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    if !seen.insert(k.clone()) {
                        return Err(de::Error::custom(format!("duplicate key '{k}'")));
                    }
                    out.push((k, v));
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Builds a safetensors file in memory (for tests, fixtures and benchmarks).
///
/// ```
/// use lora_inspect::safetensors::{Header, build};
/// let bytes = build(&[("w", "F32", &[2], &[0u8; 8][..])], &[("ss_network_dim", "4")]);
/// let header = Header::parse(&bytes, bytes.len() as u64)?;
/// assert_eq!(header.tensors[0].shape, [2]);
/// assert_eq!(header.metadata["ss_network_dim"], "4");
/// # Ok::<(), lora_inspect::InspectError>(())
/// ```
pub fn build(tensors: &[(&str, &str, &[u64], &[u8])], metadata: &[(&str, &str)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        let meta: serde_json::Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        header.insert("__metadata__".into(), Value::Object(meta));
    }
    let mut offset = 0u64;
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let end = offset + bytes.len() as u64;
        header.insert(
            (*name).to_owned(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, end]}),
        );
        data.extend_from_slice(bytes);
        offset = end;
    }
    let mut json = Value::Object(header).to_string().into_bytes();
    // Pad to 8 bytes like the reference writer.
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&data);
    out
}
