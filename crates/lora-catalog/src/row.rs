//! What the catalogue holds of a file: where it is and its stamp (from the store's
//! listing), what its header says (from the inspector), the user's metadata; and a page
//! of such entries.

use lora_core::{PartialPath, Sha256};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::meta::UserMeta;

/// A live file as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRow {
    /// `{entity}/{name}`.
    pub path: PartialPath,
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub modified: OffsetDateTime,
    /// SHA-256 when the store knows it.
    pub sha256: Option<Sha256>,
}

/// What a file's header says, in the report's spellings (`flux`, `lora`, …): the
/// catalogue does not interpret them, the service that fills it does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// `base_model`.
    pub base_model: String,
    /// `base_model_variant`.
    pub base_model_variant: Option<String>,
    /// `kind`.
    pub kind: String,
    /// `network_type`.
    pub network_type: String,
    /// The dominant rank.
    pub rank: Option<u64>,
    /// Trigger words from the file's metadata.
    pub trigger_words: Vec<String>,
    /// Where they were read (`tag_frequency`, …), when there are any.
    pub trigger_source: Option<String>,
}

/// What reading a file's header gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// Not read yet (a file placed by hand, or changed since).
    Pending,
    /// Read.
    Facts(Facts),
    /// Its header cannot be read: the facts stay `null`.
    Unreadable,
}

/// One live file with everything the catalogue knows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Where it is, its size, modification time and SHA-256.
    pub live: LiveRow,
    /// SHA-256 of its tensor data, when known.
    pub tensor_sha256: Option<Sha256>,
    /// What its header says.
    pub read: Read,
    /// The user's metadata.
    pub meta: UserMeta,
}

impl Entry {
    /// The facts, when the header was read.
    pub fn facts(&self) -> Option<&Facts> {
        match &self.read {
            Read::Facts(f) => Some(f),
            _ => None,
        }
    }
}

/// A page of entries and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The entries of the page.
    pub items: Vec<Entry>,
    /// How many entries match, over all pages.
    pub total: usize,
}
