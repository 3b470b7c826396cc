//! The index: the last listing of the bucket's live files, with the SHA-256s learnt since.
//! Listings answer from it, so they work while the bucket is away.

use std::collections::BTreeMap;

use lora_core::{PartialPath, Sha256};

use crate::bucket::Listed;

/// A live object as the index knows it.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub listed: Listed,
    pub sha256: Option<Sha256>,
}

/// The last listing of the bucket's live files.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub live: BTreeMap<PartialPath, Known>,
    pub loaded: bool,
}

impl Index {
    /// Replaces the listing with `objects`, keeping the SHA-256 of every object that is
    /// unchanged (same ETag and size).
    pub(crate) fn replace(&mut self, objects: &[(PartialPath, Listed)]) {
        let live = objects
            .iter()
            .map(|(path, listed)| {
                let sha256 = self
                    .live
                    .get(path)
                    .filter(|k| k.listed.etag == listed.etag && k.listed.size == listed.size)
                    .and_then(|k| k.sha256);
                (
                    path.clone(),
                    Known {
                        listed: listed.clone(),
                        sha256,
                    },
                )
            })
            .collect();
        self.live = live;
        self.loaded = true;
    }
}
