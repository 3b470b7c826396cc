//! Sending an upload on while it arrives: a [`Forward`] rides along with a
//! [`crate::StagedUpload`] and sees every chunk the staging file gets, in order.
//!
//! Fleet mode uses it to stream a body to the bucket as parts of a multipart upload while
//! the same bytes fill the local staging file, so publishing no longer waits for a second
//! full pass over the file. The local store has none: [`crate::Repository::stage`] decides.

use std::any::Any;

use bytes::Bytes;
use lora_core::{EntityType, SafeFileName};

use crate::{OnClash, StoreError};

/// Where an upload is expected to go, when that is known before its bytes arrive: a
/// repository may start sending them there. Only a hint: the name is decided at publish,
/// under the usual rules, whatever was aimed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The entity type folder.
    pub entity: EntityType,
    /// The safe file name asked for.
    pub name: SafeFileName,
    /// Whether a taken name is versioned or refused.
    pub on_clash: OnClash,
}

/// The receiving end of a forwarded upload: every chunk written to the staging file, then
/// [`Forward::finish`] once the last one is in.
///
/// Dropping one that did not reach its publish abandons what it sent (a fleet aborts its
/// multipart upload), so a client that goes away leaves nothing behind.
pub trait Forward: Send + std::fmt::Debug {
    /// Sends `chunk` on; may wait while too much is in flight (back-pressure on the body).
    ///
    /// # Errors
    ///
    /// When the destination failed; the upload then fails as a whole.
    fn send(&mut self, chunk: Bytes) -> Result<(), StoreError>;

    /// The last chunk was sent: waits until the destination has acknowledged everything.
    ///
    /// # Errors
    ///
    /// As [`Forward::send`].
    fn finish(&mut self) -> Result<(), StoreError>;

    /// The implementation, for the repository that made it to take back at publish.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}
