//! The bucket bin's journal: for a bin entry stored under another name than the file had
//! (a second delete of one name is `name_v2` in the bin), a small object says where it
//! came from, so a restore puts it back there.

use lora_core::PartialPath;
use serde::{Deserialize, Serialize};

/// One journal object's content: `{"original": "styles/a.safetensors"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JournalEntry {
    /// Where the binned file lived.
    pub original: PartialPath,
}

impl JournalEntry {
    /// The object's bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        // A struct of one string field always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an object's bytes; `None` for anything else (a damaged journal entry is
    /// ignored: the bin entry then goes back under its bin name).
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_and_damage_reads_as_none() {
        let entry = JournalEntry {
            original: PartialPath::parse("styles/a.safetensors").unwrap(),
        };
        let bytes = entry.to_bytes();
        assert_eq!(bytes, br#"{"original":"styles/a.safetensors"}"#);
        assert_eq!(JournalEntry::parse(&bytes), Some(entry));
        assert_eq!(JournalEntry::parse(b"{\"original\": \"../x\"}"), None);
        assert_eq!(JournalEntry::parse(b"garbage"), None);
    }
}
