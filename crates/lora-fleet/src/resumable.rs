//! Resumable (tus) uploads kept in the bucket, so that any node can answer HEAD, PATCH,
//! DELETE and GET for any upload of the fleet, and an upload outlives the node it began on.
//!
//! After tusd's and `@tus/s3-store`'s S3 layout: an upload is a folder `uploads/{id}/`
//! holding its record (`info`: the description creation checked, the S3 multipart upload
//! its whole parts went to, their ETags, and the offset), the multipart upload itself at
//! `data` (an object only once complete), and the bytes after the last whole part in
//! `tail.{offset}` (a PATCH that ends short of a part keeps its tail there; the next PATCH
//! sends it first). The record is written after a PATCH's parts and tail are acknowledged,
//! so an acknowledged offset means the bytes are in the bucket, and a PATCH that dies with
//! its node leaves the upload at the last acknowledged offset. A PATCH holds the upload's
//! lease (`lock`), which holds across nodes.
//!
//! The node that receives the last byte completes the multipart upload, reads the object
//! back into its staging folder (hashing it), and hands it to the ingest path, which
//! checks it and publishes it by a conditional copy to its name.

use std::future::Future;
use std::sync::Arc;

use lora_store::{ResumableInfo, Store, StoreError, UploadId};
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use crate::bucket::Bucket;
use crate::keys::Keys;
use crate::vitals::Vitals;

/// An upload as the bucket keeps it (`uploads/{id}/info`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(flatten)]
    pub info: ResumableInfo,
    /// The S3 multipart upload its whole parts went to, once started.
    #[serde(default)]
    pub multipart: Option<String>,
    /// The ETags of those parts, in order.
    #[serde(default)]
    pub parts: Vec<String>,
    /// The length of the bytes after the last whole part (`tail.{offset}`).
    #[serde(default)]
    pub tail: u64,
    /// Bytes acknowledged.
    pub offset: u64,
}

impl Record {
    /// The offset a client is told: the whole length once published.
    pub(crate) fn told_offset(&self) -> u64 {
        if self.info.completed.is_some() {
            self.info.length
        } else {
            self.offset
        }
    }
}

/// `lora_store::Uploads` in the bucket (the seam's operations: `resumable_uploads`).
/// Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct FleetUploads {
    pub(crate) bucket: Bucket,
    pub(crate) keys: Keys,
    pub(crate) io: Handle,
    pub(crate) vitals: Arc<Vitals>,
    /// This node's store: completed uploads are read back into its staging folder.
    pub(crate) store: Arc<Store>,
    /// Who holds leases taken here.
    pub(crate) node: String,
}

impl FleetUploads {
    /// Runs bucket I/O from a blocking thread; a failure is counted and answered 503.
    pub(crate) fn run<T>(
        &self,
        op: &'static str,
        io: impl Future<Output = Result<T, object_store::Error>>,
    ) -> Result<T, StoreError> {
        match self.io.block_on(io) {
            Ok(value) => {
                self.vitals.reached();
                Ok(value)
            }
            Err(e) => Err(self.vitals.failed(op, e)),
        }
    }

    pub(crate) fn key(&self, id: &UploadId, name: &str) -> Path {
        self.keys.upload(id.as_str(), name)
    }

    pub(crate) fn tail_key(&self, id: &UploadId, offset: u64) -> Path {
        self.key(id, &format!("tail.{offset}"))
    }

    /// The upload's record; `None` when there is none (or it is damaged: such an upload
    /// cannot be trusted, and the sweep removes it).
    pub(crate) async fn record(
        &self,
        id: &UploadId,
    ) -> Result<Option<Record>, object_store::Error> {
        Ok(self
            .bucket
            .get_small(&self.key(id, "info"))
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    pub(crate) async fn write(
        &self,
        id: &UploadId,
        record: &Record,
    ) -> Result<(), object_store::Error> {
        let bytes = serde_json::to_vec(record).map_err(|e| object_store::Error::Generic {
            store: "uploads",
            source: Box::new(e),
        })?;
        self.bucket.put_small(&self.key(id, "info"), bytes).await
    }

    /// Removes everything of an upload but its lease: the multipart upload (aborted), the
    /// data, tails and the record (last, so a removal cut short is found and finished).
    /// `record` is the upload's record as its caller read it (under the lease).
    pub(crate) async fn remove_all(
        &self,
        id: &UploadId,
        record: Option<&Record>,
    ) -> Result<(), object_store::Error> {
        // A published upload's multipart upload was completed: nothing left to free.
        if let Some(record) = record
            && let Some(multipart) = &record.multipart
            && record.info.completed.is_none()
        {
            // Aborted by the sweep of abandoned multipart uploads if this fails.
            let _ = self.bucket.abort(&self.key(id, "data"), multipart).await;
        }
        let info = self.key(id, "info");
        let lock = self.key(id, "lock");
        for listed in self
            .bucket
            .list(&self.keys.upload_root(id.as_str()))
            .await?
        {
            if listed.key != info && listed.key != lock {
                self.bucket.delete(&listed.key).await?;
            }
        }
        self.bucket.delete(&info).await
    }

    /// Every upload's id and record.
    pub(crate) async fn all(&self) -> Result<Vec<(UploadId, Record)>, object_store::Error> {
        let mut out = Vec::new();
        for listed in self.bucket.list(&self.keys.uploads_root()).await? {
            let mut parts = listed.key.parts().rev();
            let (Some(name), Some(id)) = (parts.next(), parts.next()) else {
                continue;
            };
            if name.as_ref() != "info" {
                continue;
            }
            let Some(id) = UploadId::parse(id.as_ref()) else {
                continue;
            };
            if let Some(record) = self.record(&id).await? {
                out.push((id, record));
            }
        }
        Ok(out)
    }
}
