//! What a resumable upload is: its id, its description as creation told it, and once it
//! is published, where it went.

use std::fmt;

use camino::Utf8PathBuf;
use lora_core::{EntityType, PartialPath, Sha256, UploadRoute};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

/// An upload's id: 16 random bytes, written as 32 lower-case hex digits (the last part of
/// its URL).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UploadId(String);

impl UploadId {
    /// A new random id.
    ///
    /// # Errors
    ///
    /// When the system's random source fails.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw)?;
        Ok(Self(hex::encode(raw)))
    }

    /// Reads an id from a URL; `None` for anything but 32 lower-case hex digits.
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = raw.len() == 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(raw.to_owned()))
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UploadId({})", self.0)
    }
}

impl TryFrom<String> for UploadId {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or_else(|| format!("'{raw}' is not an upload id"))
    }
}

impl From<UploadId> for String {
    fn from(id: UploadId) -> Self {
        id.0
    }
}

/// What an upload is, as its creation told it (every value already checked there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumableInfo {
    /// The token's subject that created it: only it may see or change it.
    pub owner: String,
    /// The upload route whose rules it follows (the collection it was created in).
    #[serde(rename = "collection")]
    pub route: UploadRoute,
    /// The client's file name.
    pub filename: String,
    /// The entity type folder it goes to.
    #[serde(deserialize_with = "entity_or_none")]
    pub entity_type: EntityType,
    /// Whether a taken name is versioned (else 409).
    pub use_safe_filename: bool,
    /// What to do when the bytes equal a live file's.
    #[serde(default)]
    pub if_duplicate: lora_core::IfDuplicate,
    /// The announced length.
    pub length: u64,
    /// When it is removed, finished or not.
    #[serde(with = "unix_seconds")]
    pub expires: OffsetDateTime,
    /// Once published: where the file went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<Completed>,
}

impl ResumableInfo {
    /// Whether it has expired at `now`.
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires < now
    }
}

/// A published resumable upload: what its answer is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completed {
    /// `{entity_type}/{stored name}`.
    pub partial_path: PartialPath,
    /// The stored file's absolute path.
    pub file_path: Utf8PathBuf,
    /// Its size in bytes.
    pub file_size: u64,
    /// Its SHA-256.
    pub sha256: Sha256,
    /// SHA-256 of its tensor data, when the content check computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor_sha256: Option<Sha256>,
    /// Live files with the same bytes (besides this one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicate_of: Vec<PartialPath>,
    /// When it was published.
    #[serde(with = "unix_seconds")]
    pub stored_at: OffsetDateTime,
}

/// Descriptions written before the entity type was typed held `null` for "none given".
fn entity_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<EntityType, D::Error> {
    Ok(Option::<EntityType>::deserialize(d)?.unwrap_or(EntityType::NoTypeProvided))
}

/// Whole Unix seconds: the form descriptions have always used.
mod unix_seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub(super) fn serialize<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(at.unix_timestamp())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let secs = i64::deserialize(d)?;
        OffsetDateTime::from_unix_timestamp(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lower_case_hex_digits() {
        let id = UploadId::random().unwrap();
        assert_eq!(UploadId::parse(id.as_str()), Some(id.clone()));
        for bad in [
            "",
            "ABCDEF0123456789abcdef0123456789",
            "../etc",
            &"a".repeat(33),
        ] {
            assert_eq!(UploadId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn descriptions_of_the_earlier_form_still_read() {
        // Written by the service before the fields were typed: a null entity type, a
        // collection name, Unix seconds.
        let old = r#"{"owner":"u","collection":"admin","filename":"a.safetensors",
            "entity_type":null,"use_safe_filename":true,"length":5,"expires":1800000000,
            "result":null}"#;
        let info: ResumableInfo = serde_json::from_str(old).unwrap();
        assert_eq!(info.route, UploadRoute::Admin);
        assert_eq!(info.entity_type, EntityType::NoTypeProvided);
        assert_eq!(info.expires.unix_timestamp(), 1_800_000_000);
        assert!(info.completed.is_none());
    }
}
