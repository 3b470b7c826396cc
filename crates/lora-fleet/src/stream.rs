//! Streaming an upload to the bucket while it arrives: the [`Forward`] a fleet node puts
//! on a staging file, so the local file and the bucket's parts fill together and a
//! publish waits for no second pass over the bytes.
//!
//! The staging writer hands each chunk to a task on the fleet's I/O runtime through a
//! bounded queue; the task cuts them into [`PART`]-sized parts (without copying: parts are
//! lists of the body's own reference-counted chunks) and keeps at most
//! [`PARTS_IN_FLIGHT`] of them sending. A full queue makes the writer wait, which makes
//! the body's reader wait: memory stays flat whatever the file's size.
//!
//! The multipart upload is only started once a whole part has arrived; a shorter upload is
//! held and put in one conditional request at publish. A stream dropped before its publish
//! (the client went away, the content check refused it) aborts its multipart upload.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use lora_core::PartialPath;
use lora_store::{Forward, StoreError};
use object_store::multipart::PartId;
use object_store::path::Path;
use object_store::{MultipartId, PutPayload};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::bucket::Bucket;
use crate::vitals::Vitals;

/// Part size of an upload streamed whole: 8 MiB, as boto3 sends. Every part but the last
/// is exactly its plan's size (R2 wants non-trailing parts of one size).
pub(crate) const PART: usize = 8 << 20;
/// Part size of a resumable upload: S3's smallest. A PATCH is acknowledged only once its
/// last part is in the bucket, so the last part's upload is waited for at every PATCH:
/// smaller parts, shorter waits (16 MiB PATCHes: 1.6 s less over 500 MiB than 8 MiB).
pub(crate) const RESUMABLE_PART: usize = 5 << 20;
/// Parts sending at once: about this many × [`PART`] of memory per upload.
pub(crate) const PARTS_IN_FLIGHT: usize = 4;
/// Chunks queued between the staging writer and the sending task.
const QUEUE: usize = 32;

enum Message {
    Chunk(Bytes),
    /// The last chunk was sent; with `keep_rest` what is short of a whole part is handed
    /// back instead of sent (a PATCH that leaves its upload unfinished keeps it aside).
    End {
        keep_rest: bool,
    },
}

/// What the sending task achieved.
#[derive(Debug, Default)]
pub(crate) struct Pumped {
    /// The multipart upload, if one was started (or given).
    pub upload: Option<MultipartId>,
    /// The parts this stream sent, in order, from its first index.
    pub parts: Vec<PartId>,
    /// Bytes not sent: a body shorter than one part, or (`keep_rest`) the tail.
    pub rest: Vec<Bytes>,
}

/// Where a stream's parts go and what it may do with the multipart upload.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The multipart upload to add to (started with the first whole part if `None`).
    pub upload: Option<MultipartId>,
    /// The index of the first part this stream sends.
    pub first_index: usize,
    /// Bytes that come before the body (a resumable upload's kept tail).
    pub before: Vec<Bytes>,
    /// Whether the multipart upload is this stream's alone: then a stream that fails or is
    /// dropped aborts it. A PATCH's stream adds to an upload others began: it never does.
    pub owned: bool,
    /// The size of every part but the last.
    pub part_size: usize,
}

/// What a stream sent, once every byte is acknowledged.
#[derive(Debug)]
pub(crate) enum Sent {
    /// Shorter than one part: the bytes, for one put at publish.
    Small(Vec<Bytes>),
    /// A multipart upload at the stream's key, every part acknowledged, not completed.
    Parts { id: MultipartId, parts: Vec<PartId> },
    /// A complete object at the key already, this service's own (a resumable upload read
    /// back): copied to its name, then removed.
    Stored,
}

/// The [`Forward`] of an upload whose bytes are a complete object in the bucket already.
#[derive(Debug)]
pub(crate) struct InBucket {
    key: Path,
}

impl InBucket {
    pub(crate) fn new(key: Path) -> Self {
        Self { key }
    }

    /// What the publish does with it.
    pub(crate) fn take(self) -> Streamed {
        Streamed {
            key: self.key,
            aim: None,
            sent: Sent::Stored,
        }
    }
}

impl Forward for InBucket {
    fn send(&mut self, _chunk: Bytes) -> Result<(), StoreError> {
        Err(StoreError::Remote {
            op: "stream an upload to the bucket",
            reason: "its bytes are in the bucket already".into(),
        })
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// An upload on its way to the bucket.
pub(crate) struct Stream {
    /// Where the parts go: the live key of [`Stream::aim`], or a staging key.
    key: Path,
    /// The name the parts were sent towards, if they go to a live key.
    aim: Option<PartialPath>,
    queue: Option<mpsc::Sender<Message>>,
    task: Option<JoinHandle<Result<Pumped, object_store::Error>>>,
    sent: Option<Sent>,
    bucket: Bucket,
    runtime: Handle,
    vitals: Arc<Vitals>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("key", &self.key)
            .field("aim", &self.aim)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// A stream's outcome, taken by the publish that completes it.
#[derive(Debug)]
pub(crate) struct Streamed {
    pub key: Path,
    pub aim: Option<PartialPath>,
    pub sent: Sent,
}

impl Stream {
    /// Starts an upload's own multipart upload at `key` (aimed at `aim` when it is a live
    /// key).
    pub(crate) fn start(
        bucket: Bucket,
        runtime: Handle,
        vitals: Arc<Vitals>,
        key: Path,
        aim: Option<PartialPath>,
    ) -> Self {
        let plan = Plan {
            upload: None,
            first_index: 0,
            before: Vec::new(),
            owned: true,
            part_size: PART,
        };
        Self::with_plan(bucket, runtime, vitals, key, aim, plan)
    }

    /// Starts sending to `key` as `plan` says.
    pub(crate) fn with_plan(
        bucket: Bucket,
        runtime: Handle,
        vitals: Arc<Vitals>,
        key: Path,
        aim: Option<PartialPath>,
        plan: Plan,
    ) -> Self {
        let (queue, received) = mpsc::channel(QUEUE);
        let task = runtime.spawn(run(bucket.clone(), key.clone(), received, plan));
        Self {
            key,
            aim,
            queue: Some(queue),
            task: Some(task),
            sent: None,
            bucket,
            runtime,
            vitals,
        }
    }

    /// What was sent, for the publish to complete or abandon; `None` if the stream never
    /// finished.
    pub(crate) fn take(mut self) -> Option<Streamed> {
        let sent = self.sent.take()?;
        Some(Streamed {
            key: self.key.clone(),
            aim: self.aim.take(),
            sent,
        })
    }

    /// Sends the end (`keep_rest`: hand back what is short of a part) and waits for every
    /// part to be acknowledged.
    pub(crate) fn end(&mut self, keep_rest: bool) -> Result<Pumped, StoreError> {
        if let Some(queue) = self.queue.take() {
            // A failed send means the task ended: `outcome` has its error.
            let _ = queue.blocking_send(Message::End { keep_rest });
        }
        self.outcome()
    }

    /// The task's end, as the staging writer reports it.
    fn outcome(&mut self) -> Result<Pumped, StoreError> {
        let Some(task) = self.task.take() else {
            return Err(StoreError::Remote {
                op: "stream an upload to the bucket",
                reason: "the stream already ended".into(),
            });
        };
        match self.runtime.block_on(task) {
            Ok(Ok(sent)) => Ok(sent),
            Ok(Err(e)) => Err(self.vitals.failed("stream an upload to the bucket", e)),
            Err(e) => Err(StoreError::Remote {
                op: "stream an upload to the bucket",
                reason: e.to_string(),
            }),
        }
    }
}

impl Forward for Stream {
    fn send(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        let delivered = self
            .queue
            .as_ref()
            .is_some_and(|queue| queue.blocking_send(Message::Chunk(chunk)).is_ok());
        if delivered {
            return Ok(());
        }
        // The task ended early: its error says why.
        self.queue = None;
        Err(self.outcome().err().unwrap_or(StoreError::Remote {
            op: "stream an upload to the bucket",
            reason: "the stream ended before its last byte".into(),
        }))
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        let pumped = self.end(false)?;
        self.sent = Some(match pumped.upload {
            Some(id) => Sent::Parts {
                id,
                parts: pumped.parts,
            },
            None => Sent::Small(pumped.rest),
        });
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // An unfinished stream: closing the queue without its end makes the task abort.
        self.queue = None;
        // A finished one nobody completed: its parts go.
        if let Some(Sent::Parts { id, .. }) = self.sent.take() {
            let (bucket, key) = (self.bucket.clone(), self.key.clone());
            self.runtime.spawn(async move {
                if let Err(e) = bucket.abort(&key, &id).await {
                    tracing::warn!(%key, error = %e, "cannot abort an abandoned multipart upload; the sweep will");
                }
            });
        }
    }
}

/// The sending task: whatever ends it early aborts the multipart upload, if it is the
/// stream's own.
async fn run(
    bucket: Bucket,
    key: Path,
    queue: mpsc::Receiver<Message>,
    plan: Plan,
) -> Result<Pumped, object_store::Error> {
    let owned = plan.owned;
    let mut upload = plan.upload.clone();
    let sent = pump(&bucket, &key, queue, &mut upload, plan).await;
    if sent.is_err()
        && owned
        && let Some(id) = upload
        && let Err(e) = bucket.abort(&key, &id).await
    {
        tracing::warn!(%key, error = %e, "cannot abort a failed multipart upload; the sweep will");
    }
    sent
}

async fn pump(
    bucket: &Bucket,
    key: &Path,
    mut queue: mpsc::Receiver<Message>,
    upload: &mut Option<MultipartId>,
    plan: Plan,
) -> Result<Pumped, object_store::Error> {
    let mut pending = Pending {
        part_size: plan.part_size,
        ..Pending::default()
    };
    for chunk in plan.before {
        pending.push(chunk);
    }
    let mut flying: JoinSet<Result<(usize, PartId), object_store::Error>> = JoinSet::new();
    let mut parts: Vec<Option<PartId>> = Vec::new();
    loop {
        let end = match queue.recv().await {
            Some(Message::Chunk(chunk)) => {
                pending.push(chunk);
                None
            }
            Some(Message::End { keep_rest }) => Some(keep_rest),
            None => {
                return Err(object_store::Error::Generic {
                    store: "upload stream",
                    source: "the upload ended before its last byte".into(),
                });
            }
        };
        // At the end, the rest is sent as the last part only if it is not kept aside and a
        // multipart upload exists (a body shorter than a part is put whole instead).
        let last = end == Some(false) && upload.is_some();
        while let Some(part) = pending.part(last) {
            let id = match upload {
                Some(id) => id.clone(),
                None => upload.insert(bucket.create_multipart(key).await?).clone(),
            };
            while flying.len() >= PARTS_IN_FLIGHT {
                land(&mut flying, &mut parts).await?;
            }
            let number = parts.len();
            parts.push(None);
            let (bucket, key) = (bucket.clone(), key.clone());
            let index = plan.first_index + number;
            flying.spawn(async move {
                let payload = PutPayload::from_iter(part);
                bucket
                    .put_part(&key, &id, index, payload)
                    .await
                    .map(|p| (number, p))
            });
        }
        if end.is_some() {
            while !flying.is_empty() {
                land(&mut flying, &mut parts).await?;
            }
            let parts = parts.into_iter().collect::<Option<Vec<_>>>().ok_or(
                object_store::Error::Generic {
                    store: "upload stream",
                    source: "a part was not acknowledged".into(),
                },
            )?;
            return Ok(Pumped {
                upload: upload.clone(),
                parts,
                rest: pending.chunks.into(),
            });
        }
    }
}

/// Waits for one part in flight to be acknowledged.
async fn land(
    flying: &mut JoinSet<Result<(usize, PartId), object_store::Error>>,
    parts: &mut [Option<PartId>],
) -> Result<(), object_store::Error> {
    match flying.join_next().await {
        Some(Ok(Ok((index, part)))) => {
            parts[index] = Some(part);
            Ok(())
        }
        Some(Ok(Err(e))) => Err(e),
        Some(Err(e)) => Err(object_store::Error::Generic {
            store: "upload stream",
            source: Box::new(e),
        }),
        None => Ok(()),
    }
}

/// Chunks not yet in a part.
#[derive(Default)]
struct Pending {
    chunks: VecDeque<Bytes>,
    len: usize,
    part_size: usize,
}

impl Pending {
    fn push(&mut self, chunk: Bytes) {
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// The next whole part, or with `last` whatever is left; chunks are split, not copied.
    fn part(&mut self, last: bool) -> Option<Vec<Bytes>> {
        if self.len == 0 || (self.len < self.part_size && !last) {
            return None;
        }
        let mut need = self.len.min(self.part_size);
        self.len -= need;
        let mut part = Vec::new();
        while need > 0 {
            let mut chunk = self.chunks.pop_front()?;
            if chunk.len() > need {
                self.chunks.push_front(chunk.split_off(need));
            }
            need -= chunk.len();
            part.push(chunk);
        }
        Some(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_exactly_one_part_long_but_the_last() {
        let mut pending = Pending {
            part_size: PART,
            ..Pending::default()
        };
        for _ in 0..5 {
            pending.push(Bytes::from(vec![7u8; 3 << 20]));
        }
        let sizes = |p: Vec<Bytes>| p.iter().map(Bytes::len).sum::<usize>();
        assert_eq!(pending.part(false).map(sizes), Some(PART));
        assert_eq!(pending.part(false), None, "7 MiB left: not a part yet");
        assert_eq!(pending.part(true).map(sizes), Some((15 << 20) - PART));
        assert_eq!(pending.part(true), None);
    }
}
