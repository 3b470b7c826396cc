use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A SHA-256 digest: 32 bytes, written as 64 lower-case hex digits.
///
/// Every layer that holds a file's hash holds this type, so a value that is not a digest
/// (a damaged record, a hand edit) is refused where it is read, not found out when a
/// report slices it. Serde goes through [`Sha256::parse_hex`]; upper-case digits are
/// accepted on input and written back in lower case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// The digest of these bytes (from a hasher's output).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits.
    ///
    /// # Errors
    ///
    /// [`CoreError::BadSha256`] for anything else: another length, a non-hex character.
    pub fn parse_hex(raw: &str) -> Result<Self, CoreError> {
        let bad = || CoreError::BadSha256 {
            given: raw.chars().take(80).collect(),
        };
        let raw_bytes = raw.as_bytes();
        if raw_bytes.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(raw_bytes.chunks_exact(2)) {
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(bad());
            };
            *byte = hi << 4 | lo;
        }
        Ok(Self(out))
    }

    /// The 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// AutoV2, the short hash A1111 and Civitai show: the first 10 hex digits.
    pub fn autov2(&self) -> String {
        let mut hex = self.to_hex();
        hex.truncate(10);
        hex
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        // Only ASCII digits were written.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl FromStr for Sha256 {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_hex(s)
    }
}

impl TryFrom<String> for Sha256 {
    type Error = CoreError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_hex(&value)
    }
}

impl From<Sha256> for String {
    fn from(value: Sha256) -> Self {
        value.to_hex()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Sha256 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9a-f]{64}$"))
            .min_length(Some(64))
            .max_length(Some(64))
            .description(Some("Lower-case hex SHA-256 (64 digits)."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Sha256 {}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hex_round_trips() {
        let h = Sha256::parse_hex(ABC).unwrap();
        assert_eq!(h.to_hex(), ABC);
        assert_eq!(h.as_bytes()[0], 0xba);
        assert_eq!(h.autov2(), "ba7816bf8f");
        assert_eq!(Sha256::parse_hex(&ABC.to_uppercase()).unwrap(), h);
    }

    #[test]
    fn anything_but_64_hex_digits_is_refused() {
        for bad in [
            "",
            "abc",
            &ABC[..63],
            &format!("{ABC}0"),
            &ABC.replace('b', "g"),
            "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé",
        ] {
            assert!(
                matches!(Sha256::parse_hex(bad), Err(CoreError::BadSha256 { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        let h: Sha256 = serde_json::from_str(&format!("\"{ABC}\"")).unwrap();
        assert_eq!(serde_json::to_string(&h).unwrap(), format!("\"{ABC}\""));
        assert!(serde_json::from_str::<Sha256>("\"0123\"").is_err());
        assert!(serde_json::from_str::<Sha256>("12").is_err());
    }
}
