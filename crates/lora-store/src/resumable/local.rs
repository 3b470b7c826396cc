//! [`Uploads`] on this node's disk: [`Resumable`] and its claims.

use std::any::Any;
use std::sync::Arc;

use bytes::Bytes;
use time::OffsetDateTime;

use super::uploads::{Append, UploadClaim, Uploads, own_appender};
use super::{Appender, Completed, PatchGuard, Resumable, ResumableInfo, UploadId};
use crate::{StagedFile, StoreError};

impl Uploads for Resumable {
    fn create(&self, info: &ResumableInfo) -> Result<UploadId, StoreError> {
        Resumable::create(self, info)
    }

    fn get(&self, id: &UploadId) -> Result<Option<(ResumableInfo, u64)>, StoreError> {
        Resumable::get(self, id)
    }

    fn remove_if_idle(&self, id: &UploadId) -> Result<bool, StoreError> {
        Ok(Resumable::remove_if_idle(self, id))
    }

    fn unfinished_of(&self, owner: &str) -> Result<usize, StoreError> {
        Ok(Resumable::unfinished_of(self, owner))
    }

    fn claim(&self, id: &UploadId) -> Result<Option<Arc<dyn UploadClaim>>, StoreError> {
        Ok(self.lock(id).map(|guard| {
            Arc::new(LocalClaim {
                uploads: self.clone(),
                guard,
            }) as Arc<dyn UploadClaim>
        }))
    }

    fn sweep(&self, now: OffsetDateTime) -> usize {
        Resumable::sweep(self, now)
    }
}

/// A claim on an upload on this disk.
#[derive(Debug)]
struct LocalClaim {
    uploads: Resumable,
    guard: PatchGuard,
}

/// The appender of this disk, as the seam hands it out.
fn local(appender: Box<dyn Append>) -> Result<Appender, StoreError> {
    own_appender(appender)
}

impl UploadClaim for LocalClaim {
    fn id(&self) -> &UploadId {
        self.guard.id()
    }

    fn get(&self) -> Result<Option<(ResumableInfo, u64)>, StoreError> {
        self.uploads.get(self.guard.id())
    }

    fn appender(&self, offset: u64) -> Result<Box<dyn Append>, StoreError> {
        Ok(Box::new(self.uploads.appender(&self.guard, offset)?))
    }

    fn commit(&self, appender: Box<dyn Append>) -> Result<u64, StoreError> {
        self.uploads.commit(local(appender)?)
    }

    fn discard(&self, appender: Box<dyn Append>) -> Result<(), StoreError> {
        let appender = local(appender)?;
        let start = appender.start();
        drop(appender);
        self.uploads.truncate(&self.guard, start)
    }

    fn stage(&self) -> Result<StagedFile, StoreError> {
        self.uploads.stage(&self.guard)
    }

    fn finished(&self, info: ResumableInfo, completed: Completed) -> Result<(), StoreError> {
        self.uploads.finished(&self.guard, info, completed)
    }

    fn remove(&self) {
        self.uploads.remove(&self.guard);
    }
}

impl Append for Appender {
    fn write(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        Appender::write(self, bytes)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}
