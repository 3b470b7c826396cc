//! One resumable upload of the bucket, claimed by this node: its PATCHes' bytes go on as
//! parts of its multipart upload, and the last one reads the whole object back.

use std::any::Any;

use bytes::Bytes;
use lora_store::{
    Append, Completed, Forward, ResumableInfo, StagedFile, StoreError, UploadClaim, UploadId,
};
use object_store::multipart::PartId;

use crate::lease::Lease;
use crate::resumable::{FleetUploads, Record};
use crate::stream::{InBucket, Plan, Stream};

/// A claim on an upload in the bucket: the lease of its `lock` object, held (and renewed)
/// until the claim goes.
#[derive(Debug)]
pub(crate) struct FleetClaim {
    uploads: FleetUploads,
    id: UploadId,
    lease: Lease,
}

/// A PATCH's bytes on their way to the upload's parts.
#[derive(Debug)]
struct FleetAppend {
    stream: Stream,
    /// The record as the PATCH found it.
    record: Record,
    written: u64,
}

impl Append for FleetAppend {
    fn write(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        self.written += bytes.len() as u64;
        self.stream.send(bytes)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl FleetClaim {
    pub(crate) fn new(uploads: FleetUploads, id: UploadId, lease: Lease) -> Self {
        Self { uploads, id, lease }
    }

    fn record(&self) -> Result<Record, StoreError> {
        self.uploads
            .run("read an upload's record", self.uploads.record(&self.id))?
            .ok_or_else(|| StoreError::Remote {
                op: "read an upload's record",
                reason: format!("upload {} is gone", self.id),
            })
    }

    /// Writes the record, unless the lease was lost meanwhile (another node may be
    /// writing the upload now: its record wins).
    fn write(&self, record: &Record) -> Result<(), StoreError> {
        if self.lease.lost() {
            return Err(StoreError::Remote {
                op: "hold an upload's lease",
                reason: "another node took the upload over".into(),
            });
        }
        self.uploads.run(
            "write an upload's record",
            self.uploads.write(&self.id, record),
        )
    }
}

fn fleet(appender: Box<dyn Append>) -> Result<FleetAppend, StoreError> {
    appender
        .into_any()
        .downcast::<FleetAppend>()
        .map(|a| *a)
        .map_err(|_| StoreError::Remote {
            op: "append to an upload",
            reason: "an appender of another store".into(),
        })
}

impl UploadClaim for FleetClaim {
    fn id(&self) -> &UploadId {
        &self.id
    }

    fn get(&self) -> Result<Option<(ResumableInfo, u64)>, StoreError> {
        let record = self
            .uploads
            .run("read an upload's record", self.uploads.record(&self.id))?;
        Ok(record.map(|r| {
            let offset = r.told_offset();
            (r.info, offset)
        }))
    }

    fn appender(&self, offset: u64) -> Result<Box<dyn Append>, StoreError> {
        let mut record = self.record()?;
        if record.offset != offset {
            return Err(StoreError::Remote {
                op: "append to an upload",
                reason: format!("the upload is at {}, not {offset}", record.offset),
            });
        }
        // The multipart upload is started, and recorded, before any part: a PATCH that
        // dies leaves its parts in the upload the next PATCH adds to (and overwrites),
        // never in one nobody knows.
        if record.multipart.is_none() {
            let data = self.uploads.key(&self.id, "data");
            let multipart = self.uploads.run(
                "start an upload's multipart upload",
                self.uploads.bucket.create_multipart(&data),
            )?;
            record.multipart = Some(multipart);
            self.write(&record)?;
        }
        // The last PATCH's tail goes first, so parts stay whole.
        let mut before = Vec::new();
        if record.tail > 0 {
            let key = self.uploads.tail_key(&self.id, record.offset);
            let tail = self
                .uploads
                .run("read an upload's tail", self.uploads.bucket.get_small(&key))?
                .filter(|t| t.len() as u64 == record.tail)
                .ok_or_else(|| StoreError::Remote {
                    op: "read an upload's tail",
                    reason: format!("{key} is missing or not {} bytes", record.tail),
                })?;
            before.push(Bytes::from(tail));
        }
        let plan = Plan {
            upload: record.multipart.clone(),
            first_index: record.parts.len(),
            before,
            owned: false,
        };
        let stream = Stream::with_plan(
            self.uploads.bucket.clone(),
            self.uploads.io.clone(),
            std::sync::Arc::clone(&self.uploads.vitals),
            self.uploads.key(&self.id, "data"),
            None,
            plan,
        );
        Ok(Box::new(FleetAppend {
            stream,
            record,
            written: 0,
        }))
    }

    fn commit(&self, appender: Box<dyn Append>) -> Result<u64, StoreError> {
        let FleetAppend {
            mut stream,
            mut record,
            written,
        } = fleet(appender)?;
        let offset = record.offset + written;
        let complete = offset >= record.info.length;
        // Unfinished: what is short of a whole part is kept aside as the new tail.
        let pumped = stream.end(!complete)?;
        let old_tail = (record.tail > 0).then(|| self.uploads.tail_key(&self.id, record.offset));
        let rest: Vec<u8> = pumped.rest.iter().flat_map(|b| b.iter().copied()).collect();
        if !rest.is_empty() {
            let key = self.uploads.tail_key(&self.id, offset);
            self.uploads.run(
                "keep an upload's tail",
                self.uploads.bucket.put_small(&key, rest.clone()),
            )?;
        }
        record.multipart = pumped.upload.or(record.multipart);
        record
            .parts
            .extend(pumped.parts.into_iter().map(|p| p.content_id));
        record.tail = rest.len() as u64;
        record.offset = offset;
        self.write(&record)?;
        if let Some(old) = old_tail.filter(|old| *old != self.uploads.tail_key(&self.id, offset)) {
            // Superseded: the record names the new one (a leftover goes with the upload).
            let _ = self.uploads.run(
                "remove an upload's old tail",
                self.uploads.bucket.delete(&old),
            );
        }
        Ok(offset)
    }

    fn discard(&self, appender: Box<dyn Append>) -> Result<(), StoreError> {
        // Nothing is acknowledged until the record says so: parts sent past it are
        // replaced by the next PATCH's.
        drop(fleet(appender)?);
        Ok(())
    }

    fn stage(&self) -> Result<StagedFile, StoreError> {
        let record = self.record()?;
        let key = match &record.multipart {
            Some(multipart) if record.tail == 0 => {
                let data = self.uploads.key(&self.id, "data");
                let parts = record
                    .parts
                    .iter()
                    .map(|etag| PartId {
                        content_id: etag.clone(),
                    })
                    .collect();
                self.uploads.run(
                    "complete an upload's parts",
                    self.uploads.bucket.complete(&data, multipart, parts),
                )?;
                data
            }
            // Every byte is sent as a part by the PATCH that completes the upload.
            _ => {
                return Err(StoreError::Remote {
                    op: "complete an upload",
                    reason: format!("upload {} has bytes outside its parts", self.id),
                });
            }
        };
        // Read back whole (this node may have seen none of it), hashed on the way.
        let mut staged = self.uploads.store.stage()?;
        let found = self.uploads.io.block_on(
            self.uploads
                .bucket
                .download(&key, |chunk| staged.write(&chunk)),
        );
        match found {
            Ok(true) => {}
            Ok(false) => {
                return Err(StoreError::Remote {
                    op: "read a completed upload back",
                    reason: format!("{key} is gone"),
                });
            }
            Err(crate::bucket::DownloadError::Bucket(e)) => {
                return Err(self
                    .uploads
                    .vitals
                    .failed("read a completed upload back", e));
            }
            Err(crate::bucket::DownloadError::Local(e)) => return Err(e),
        }
        if staged.len() != record.info.length {
            return Err(StoreError::Remote {
                op: "read a completed upload back",
                reason: format!(
                    "{key} holds {} bytes, not {}",
                    staged.len(),
                    record.info.length
                ),
            });
        }
        // Its bytes are in the bucket already: the publish copies them to the name.
        let in_bucket: Box<dyn Forward> = Box::new(InBucket::new(key));
        staged.forwarding(in_bucket).finish()
    }

    fn finished(&self, info: ResumableInfo, completed: Completed) -> Result<(), StoreError> {
        let mut record = self.record()?;
        record.info = ResumableInfo {
            completed: Some(completed),
            ..info
        };
        self.write(&record)
    }

    fn remove(&self) {
        let removed = self
            .uploads
            .run("remove an upload", self.uploads.remove_all(&self.id));
        if let Err(e) = removed {
            tracing::warn!(upload = %self.id, error = %e, "cannot remove an upload; the sweep will");
        }
    }
}
