//! Each object's SHA-256, wherever it is kept.
//!
//! An object the node gave its name by copying carries its SHA-256 as metadata
//! (`x-amz-meta-sha256`). An upload streamed to its name cannot: its multipart upload
//! starts before its last byte, so before its hash, and S3 takes metadata only at the
//! start. Its hash goes into a small sum object beside it, `sums/{key}.json`, holding the
//! object's ETag too: a sum describes one object, and a stale one (its object deleted and
//! the name taken again) is ignored. Copies to and from the bin carry the sum along.

use lora_core::Sha256;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::bucket::Listed;
use crate::fleet::Fleet;

/// A sum object's contents.
#[derive(Debug, Serialize, Deserialize)]
struct Sum {
    sha256: Sha256,
    etag: String,
}

/// An object as looked up: its listing, its SHA-256 if known, and whether that came from
/// a sum (which a copy of the object does not carry by itself).
#[derive(Debug, Clone)]
pub(crate) struct Looked {
    pub listed: Listed,
    pub sha256: Option<Sha256>,
    pub from_sum: bool,
}

impl Fleet {
    /// The object at `key` with its SHA-256 (its metadata, else its sum); `None` when
    /// there is no such object.
    pub(crate) async fn look(&self, key: &Path) -> Result<Option<Looked>, object_store::Error> {
        let Some((listed, sha256)) = self.bucket.head(key).await? else {
            return Ok(None);
        };
        if sha256.is_some() {
            return Ok(Some(Looked {
                listed,
                sha256,
                from_sum: false,
            }));
        }
        let sum = self
            .bucket
            .get_small(&self.keys.sum(key))
            .await?
            .and_then(|bytes| serde_json::from_slice::<Sum>(&bytes).ok())
            .filter(|sum| listed.etag.as_deref() == Some(sum.etag.as_str()));
        Ok(Some(Looked {
            listed,
            from_sum: sum.is_some(),
            sha256: sum.map(|s| s.sha256),
        }))
    }

    /// Records `sha256` as the hash of the object now at `key`. A failure is logged, not
    /// returned: the object is live either way, and without a sum its readers hash it
    /// themselves.
    pub(crate) async fn record_sum(&self, key: &Path, sha256: Sha256) {
        let recorded = async {
            let etag = self
                .bucket
                .head(key)
                .await?
                .and_then(|(listed, _)| listed.etag);
            let Some(etag) = etag else {
                return Ok(());
            };
            let sum = serde_json::to_vec(&Sum { sha256, etag }).map_err(|e| {
                object_store::Error::Generic {
                    store: "sums",
                    source: Box::new(e),
                }
            })?;
            self.bucket.put_small(&self.keys.sum(key), sum).await
        }
        .await;
        if let Err(e) = recorded {
            tracing::warn!(%key, error = %e, "cannot record an object's sha256; readers will hash it themselves");
        }
    }

    /// After `looked` was copied to `to`: the sum goes along if that is where its hash was.
    pub(crate) async fn carry_sum(&self, looked: &Looked, to: &Path) {
        if let (true, Some(sha256)) = (looked.from_sum, looked.sha256) {
            self.record_sum(to, sha256).await;
        }
    }

    /// Removes the sum of an object that is gone (a missing sum is fine).
    pub(crate) async fn drop_sum(&self, key: &Path) -> Result<(), object_store::Error> {
        self.bucket.delete(&self.keys.sum(key)).await
    }
}
