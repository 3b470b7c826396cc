//! The seam for resumable uploads: where they are kept while they arrive. [`Resumable`]
//! (this node's disk) is one; fleet mode keeps them in the bucket, so any node can go on
//! with an upload another began.
//!
//! [`Resumable`]: super::Resumable

use std::any::Any;
use std::sync::Arc;

use bytes::Bytes;
use time::OffsetDateTime;

use super::info::{Completed, ResumableInfo, UploadId};
use crate::{StagedFile, StoreError};

/// Where resumable uploads are kept while they arrive. All methods block.
pub trait Uploads: Send + Sync + std::fmt::Debug + 'static {
    /// Creates an empty upload.
    ///
    /// # Errors
    ///
    /// When its description cannot be written.
    fn create(&self, info: &ResumableInfo) -> Result<UploadId, StoreError>;

    /// The upload's description and offset; `None` when there is no such upload.
    ///
    /// # Errors
    ///
    /// When it cannot be read.
    fn get(&self, id: &UploadId) -> Result<Option<(ResumableInfo, u64)>, StoreError>;

    /// Removes an upload unless a PATCH holds it; whether it was removed.
    ///
    /// # Errors
    ///
    /// When whether a PATCH holds it cannot be told (the shared storage is away).
    fn remove_if_idle(&self, id: &UploadId) -> Result<bool, StoreError>;

    /// How many unfinished uploads `owner` has.
    ///
    /// # Errors
    ///
    /// When they cannot be counted.
    fn unfinished_of(&self, owner: &str) -> Result<usize, StoreError>;

    /// Claims the upload for one PATCH (or a removal); `None` while another holds it.
    ///
    /// # Errors
    ///
    /// When the claim cannot be taken or refused (the shared storage is away).
    fn claim(&self, id: &UploadId) -> Result<Option<Arc<dyn UploadClaim>>, StoreError>;

    /// Removes uploads that expired before `now` (not those a PATCH holds); how many.
    fn sweep(&self, now: OffsetDateTime) -> usize;
}

/// One upload, claimed: only its holder may append to it, stage it or remove it. The
/// claim is released when the last reference goes.
pub trait UploadClaim: Send + Sync + std::fmt::Debug {
    /// The upload claimed.
    fn id(&self) -> &UploadId;

    /// Its description and offset, read under the claim.
    ///
    /// # Errors
    ///
    /// As [`Uploads::get`].
    fn get(&self) -> Result<Option<(ResumableInfo, u64)>, StoreError>;

    /// A writer of a PATCH's bytes from `offset` (the upload's offset).
    ///
    /// # Errors
    ///
    /// When the upload's bytes cannot be opened.
    fn appender(&self, offset: u64) -> Result<Box<dyn Append>, StoreError>;

    /// Makes the appended bytes durable; the new offset, acknowledged from then on.
    ///
    /// # Errors
    ///
    /// When they cannot be made durable (the offset is then not acknowledged).
    fn commit(&self, appender: Box<dyn Append>) -> Result<u64, StoreError>;

    /// Drops what the appender wrote (bytes past the announced length): the offset is
    /// where it was before.
    ///
    /// # Errors
    ///
    /// When they cannot be taken back.
    fn discard(&self, appender: Box<dyn Append>) -> Result<(), StoreError>;

    /// The complete upload as a staged file on this node's disk, hashed, for the ingest
    /// path to check and publish (carrying, in fleet mode, where its bytes already are).
    ///
    /// # Errors
    ///
    /// When it cannot be brought into staging.
    fn stage(&self) -> Result<StagedFile, StoreError>;

    /// Records where the published upload went (for `GET` on its URL until it expires).
    ///
    /// # Errors
    ///
    /// When the record cannot be written.
    fn finished(&self, info: ResumableInfo, completed: Completed) -> Result<(), StoreError>;

    /// Removes the upload and its bytes; what is already gone is fine.
    fn remove(&self);

    /// Lets go of the claim now, before the answer goes out (a client's next PATCH
    /// follows at once); dropping the last reference lets go too, maybe later.
    fn release(&self) {}
}

/// A PATCH's bytes on their way into an upload.
pub trait Append: Send + std::fmt::Debug {
    /// Appends `bytes`.
    ///
    /// # Errors
    ///
    /// When they cannot be written.
    fn write(&mut self, bytes: Bytes) -> Result<(), StoreError>;

    /// The implementation, for the claim that made it.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

/// The appender a claim handed out, as the concrete type it made: an appender of another
/// store (a caller mixing two seams) is an error, not a panic.
///
/// # Errors
///
/// [`StoreError::Remote`] when `appender` is not a `T`.
pub fn own_appender<T: Any>(appender: Box<dyn Append>) -> Result<T, StoreError> {
    appender
        .into_any()
        .downcast::<T>()
        .map(|a| *a)
        .map_err(|_| StoreError::Remote {
            op: "append to an upload",
            reason: "an appender of another store".into(),
        })
}
