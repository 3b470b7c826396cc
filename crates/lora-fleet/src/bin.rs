//! The bucket's bin: its entries (with where each came from, from the journal) and
//! removing them for good.

use std::collections::BTreeMap;

use lora_store::{BinEntry, Purged, StoreError};

use crate::fleet::Fleet;
use crate::journal::JournalEntry;

impl Fleet {
    pub(crate) fn bin_entries(&self) -> Result<Vec<BinEntry>, StoreError> {
        let (bin, journal) = self
            .block_on(async {
                let bin = self.bucket.list(&self.keys.bin_root()).await?;
                let journal = self.bucket.list(&self.keys.journal_root()).await?;
                let mut origins = BTreeMap::new();
                for entry in journal {
                    if let (Some(bin_path), Some(bytes)) = (
                        self.keys.journaled(&entry.key),
                        self.bucket.get_small(&entry.key).await?,
                    ) && let Some(entry) = JournalEntry::parse(&bytes)
                    {
                        origins.insert(bin_path, entry.original);
                    }
                }
                Ok::<_, object_store::Error>((bin, origins))
            })
            .map_err(|e| self.remote("list the bin", e))?;
        self.reached();
        let root = self.keys.bin_root();
        let mut entries: Vec<BinEntry> = bin
            .into_iter()
            .filter_map(|l| {
                let bin_path = self.keys.partial(&root, &l.key)?;
                Some(BinEntry {
                    original: journal
                        .get(&bin_path)
                        .cloned()
                        .unwrap_or_else(|| bin_path.clone()),
                    bin_path,
                    len: l.size,
                    deleted_at: l.modified,
                    sha256: None,
                    tensor_sha256: None,
                })
            })
            .collect();
        entries.sort_by_key(|e| e.bin_path.to_string());
        Ok(entries)
    }

    pub(crate) fn purge_entries(&self, entries: &[BinEntry]) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        for entry in entries {
            self.block_on(async {
                let key = self.keys.bin(&entry.bin_path);
                self.bucket.delete(&key).await?;
                self.drop_sum(&key).await?;
                self.bucket
                    .delete(&self.keys.journal(&entry.bin_path))
                    .await
            })
            .map_err(|e| self.remote("purge from the bin", e))?;
            purged.paths.push(entry.bin_path.clone());
            purged.bytes += entry.len;
        }
        Ok(purged)
    }
}
