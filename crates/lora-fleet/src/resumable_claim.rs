//! One resumable upload of the bucket, claimed by this node: its PATCHes' bytes go on as
//! parts of its multipart upload, and into this disk's copy while this node has seen
//! every byte so far; the last PATCH uses that copy, or reads the whole object back.

use std::any::Any;

use bytes::Bytes;
use lora_store::{
    Append, Appender, Completed, Forward, PatchGuard, ResumableInfo, StagedFile, StoreError,
    UploadClaim, UploadId,
};
use object_store::multipart::PartId;

use crate::lease::Lease;
use crate::resumable::{FleetUploads, Record};
use crate::stream::{InBucket, Plan, RESUMABLE_PART, Stream};

/// A claim on an upload in the bucket: the lease of its `lock` object, held (and renewed)
/// until the claim goes.
#[derive(Debug)]
pub(crate) struct FleetClaim {
    uploads: FleetUploads,
    id: UploadId,
    lease: Lease,
    /// The claim on this disk's copy (none while this node's sweep holds it).
    local: Option<PatchGuard>,
    /// The record as last read or written under the lease (nobody else writes it then).
    known: std::sync::Mutex<Option<Record>>,
}

/// A PATCH's bytes on their way to the upload's parts (and this disk's copy).
#[derive(Debug)]
struct FleetAppend {
    stream: Stream,
    /// The record as the PATCH found it.
    record: Record,
    written: u64,
    local: Option<Appender>,
}

impl Append for FleetAppend {
    fn write(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        self.written += bytes.len() as u64;
        if let Some(local) = &mut self.local {
            local.write(bytes.clone())?;
        }
        self.stream.send(bytes)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl FleetClaim {
    pub(crate) fn new(uploads: FleetUploads, id: UploadId, lease: Lease) -> Self {
        let local = uploads.store.resumable().lock(&id);
        Self {
            uploads,
            id,
            lease,
            local,
            known: std::sync::Mutex::new(None),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Option<Record>> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The record, read once under the lease.
    fn read(&self) -> Result<Option<Record>, StoreError> {
        if let Some(record) = self.known().clone() {
            return Ok(Some(record));
        }
        let record = self
            .uploads
            .run("read an upload's record", self.uploads.record(&self.id))?;
        self.known().clone_from(&record);
        Ok(record)
    }

    /// An appender to this disk's copy at `offset`, if this node has every byte before
    /// it (begun here, or kept up with since); a copy that fell behind is dropped, and
    /// the upload is read back when it completes.
    fn cache(&self, record: &Record, offset: u64) -> Option<Appender> {
        let guard = self.local.as_ref()?;
        let here = self.uploads.store.resumable();
        match here.get(&self.id).ok()?.map(|(_, len)| len) {
            Some(len) if len == offset => {}
            None if offset == 0 => here.create_as(&self.id, &record.info).ok()?,
            Some(_) => {
                here.remove(guard);
                return None;
            }
            None => return None,
        }
        here.appender(guard, offset).ok()
    }

    /// This disk's copy, if it holds the whole upload: staged (hashed while it arrived).
    fn cached_whole(&self, length: u64) -> Option<StagedFile> {
        let guard = self.local.as_ref()?;
        let here = self.uploads.store.resumable();
        match here.get(&self.id) {
            Ok(Some((_, len))) if len == length => here.stage(guard).ok(),
            _ => None,
        }
    }

    /// Lets go of the lease now (from async code; [`UploadClaim::release`] blocks).
    pub(crate) async fn let_go(&self) {
        self.lease.let_go().await;
    }

    fn record(&self) -> Result<Record, StoreError> {
        self.read()?.ok_or_else(|| StoreError::Remote {
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
        )?;
        *self.known() = Some(record.clone());
        Ok(())
    }
}

fn fleet(appender: Box<dyn Append>) -> Result<FleetAppend, StoreError> {
    lora_store::own_appender(appender)
}

impl UploadClaim for FleetClaim {
    fn id(&self) -> &UploadId {
        &self.id
    }

    fn get(&self) -> Result<Option<(ResumableInfo, u64)>, StoreError> {
        Ok(self.read()?.map(|r| {
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
            part_size: RESUMABLE_PART,
        };
        let local = self.cache(&record, offset);
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
            local,
        }))
    }

    fn commit(&self, appender: Box<dyn Append>) -> Result<u64, StoreError> {
        let FleetAppend {
            mut stream,
            mut record,
            written,
            local,
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
        // This disk's copy is made durable before the record acknowledges the bytes: a
        // copy that says it has them does.
        if let Some(local) = local {
            self.uploads.store.resumable().commit(local)?;
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
        let FleetAppend { local, .. } = fleet(appender)?;
        if let (Some(local), Some(guard)) = (local, &self.local) {
            let start = local.start();
            drop(local);
            self.uploads.store.resumable().truncate(guard, start)?;
        }
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
        // Its bytes are in the bucket already: the publish copies them to the name.
        let in_bucket: Box<dyn Forward> = Box::new(InBucket::new(key.clone()));
        if let Some(staged) = self.cached_whole(record.info.length) {
            return Ok(staged.with_forwarded(in_bucket));
        }
        // Read back whole (this node did not see every byte), hashed on the way.
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
        staged.forwarding(in_bucket).finish()
    }

    fn finished(&self, info: ResumableInfo, completed: Completed) -> Result<(), StoreError> {
        let mut record = self.record()?;
        record.info = ResumableInfo {
            completed: Some(completed),
            ..info
        };
        // This disk's copy was published (or read back instead): its description goes.
        if let Some(guard) = &self.local {
            self.uploads.store.resumable().remove(guard);
        }
        self.write(&record)
    }

    fn release(&self) {
        self.uploads.io.block_on(self.lease.let_go());
    }

    fn remove(&self) {
        if let Some(guard) = &self.local {
            self.uploads.store.resumable().remove(guard);
        }
        // The record as read under this claim (once): no second read to learn its parts.
        let record = self.read().ok().flatten();
        let removed = self.uploads.run(
            "remove an upload",
            self.uploads.remove_all(&self.id, record.as_ref()),
        );
        if let Err(e) = removed {
            tracing::warn!(upload = %self.id, error = %e, "cannot remove an upload; the sweep will");
        }
    }
}
