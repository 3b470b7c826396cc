//! Uploads through this node: staged here and streamed to the bucket at once (`stream`),
//! then given their name in the bucket, then installed on this disk.
//!
//! Where the parts go is decided when the upload starts. When its destination is known
//! then (a tus upload, a form whose `entity_type` comes before its file) and the store can
//! complete a multipart upload conditionally, they go straight to the name the index says
//! is free, and the publish completes them there with `If-None-Match: *`: no second copy.
//! Otherwise they go to a staging key, completed there and copied to the first free name
//! (`If-None-Match: *` on the copy). Either way the name is decided by the bucket, never
//! by overwriting: a name taken meanwhile means a 409, or the next version from this
//! node's copy of the bytes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use lora_core::{EntityType, PartialPath, SafeFileName};
use lora_store::{Destination, OnClash, StagedFile, StagedUpload, StoreError};
use object_store::PutPayload;
use time::OffsetDateTime;

use crate::bucket::{Completion, Listed};
use crate::fleet::{Fleet, MAX_VERSIONS, replica_id};
use crate::index::Known;
use crate::stream::{InBucket, Sent, Stream, Streamed};

/// Where a publish ended: the name it took, or (every candidate taken) the one wanted.
type Placed = Result<PartialPath, PartialPath>;

impl Fleet {
    /// A staging file on this disk whose bytes also stream to the bucket.
    pub(crate) fn stage_upload(
        &self,
        destination: Option<&Destination>,
    ) -> Result<StagedUpload, StoreError> {
        let staged = self.store.stage()?;
        let aim = destination
            .filter(|_| self.completes_conditionally.load(Ordering::Relaxed))
            .and_then(|d| self.candidates(d.entity, &d.name, d.on_clash).next());
        let key = match &aim {
            Some(path) => self.keys.live(path),
            None => self.keys.staging(&replica_id()),
        };
        let stream = Stream::start(
            self.bucket.clone(),
            self.io(),
            Arc::clone(&self.vitals),
            key,
            aim,
        );
        Ok(staged.forwarding(Box::new(stream)))
    }

    /// The names an upload may take, in order, skipping names the index knows to be taken
    /// (the bucket still decides): only the wanted one when a taken name is refused. The
    /// index may not know yet that another node freed a name (until the next sync): a
    /// versioned upload then takes the next version, as it would have a moment before.
    pub(crate) fn candidates(
        &self,
        entity: EntityType,
        name: &SafeFileName,
        on_clash: OnClash,
    ) -> impl Iterator<Item = PartialPath> + use<> {
        // Only this name's versions can clash: the index range of the entity, this stem.
        let stem = name.stem();
        let taken: Vec<PartialPath> = self
            .lock_index()
            .live
            .keys()
            .filter(|p| p.entity() == entity && p.file_name().starts_with(stem))
            .cloned()
            .collect();
        let name = name.clone();
        (1..=MAX_VERSIONS)
            .map(move |n| PartialPath::new(entity, name.version(n)))
            .filter(move |c| on_clash == OnClash::Refuse || taken.binary_search(c).is_err())
            .take(if on_clash == OnClash::Refuse {
                1
            } else {
                usize::MAX
            })
    }

    /// Publishes an upload: named in the bucket first, then installed on this disk.
    pub(crate) fn publish_upload(
        &self,
        mut staged: StagedFile,
        entity: EntityType,
        name: &SafeFileName,
        on_clash: OnClash,
    ) -> Result<lora_store::Published, StoreError> {
        let wanted = PartialPath::new(entity, name.clone());
        let streamed = staged.take_forwarded().and_then(|forwarded| {
            match forwarded.into_any().downcast::<Stream>() {
                Ok(stream) => stream.take(),
                Err(other) => other.downcast::<InBucket>().ok().map(|b| b.take()),
            }
        });
        let candidates = self.candidates(entity, name, on_clash);
        let placed =
            match self.block_on(self.place(&staged, streamed, &wanted, candidates, on_clash)) {
                Ok(Ok(placed)) => placed,
                Ok(Err(first)) => return Err(StoreError::AlreadyExists { path: first }),
                Err(e) => return Err(self.remote("upload to the bucket", e)),
            };
        self.reached();
        let (len, sha256) = (staged.len(), staged.sha256());
        self.lock_index().live.insert(
            placed.clone(),
            Known {
                listed: Listed {
                    key: self.keys.live(&placed),
                    size: len,
                    modified: OffsetDateTime::now_utc(),
                    etag: None,
                },
                sha256: Some(sha256),
            },
        );
        // The object is live in the bucket: now on this node's disk, before the answer.
        let mut replica = self.lock_replica();
        let published = self.claim_and_install(&mut replica, staged, &placed, sha256, len)?;
        drop(replica);
        // Just uploaded through this node: the most recently used; others make room.
        if let Err(e) = self.make_room(&placed, len) {
            tracing::warn!(path = %placed, error = %e, "over the disk budget after an upload");
        }
        Ok(published)
    }

    /// Gives the upload its name in the bucket, the cheapest way what was streamed allows.
    async fn place(
        &self,
        staged: &StagedFile,
        streamed: Option<Streamed>,
        wanted: &PartialPath,
        mut candidates: impl Iterator<Item = PartialPath>,
        on_clash: OnClash,
    ) -> Result<Placed, object_store::Error> {
        let sha256 = staged.sha256();
        match streamed {
            // Shorter than a part: one conditional put per candidate, hash and all.
            Some(Streamed {
                sent: Sent::Small(chunks),
                ..
            }) => {
                let payload = PutPayload::from_iter(chunks);
                for candidate in candidates {
                    let key = self.keys.live(&candidate);
                    if self
                        .bucket
                        .create(&key, payload.clone(), Some(sha256))
                        .await?
                        .is_some()
                    {
                        return Ok(Ok(candidate));
                    }
                }
                return Ok(Err(wanted.clone()));
            }
            // Streamed to a name: completed there if it is still the first free one.
            Some(Streamed {
                key,
                aim: Some(aim),
                sent: Sent::Parts { id, parts },
            }) => {
                let mut first = None;
                if let Some(candidate) = candidates.next() {
                    if candidate == aim {
                        match self.bucket.complete_new(&key, &id, &parts).await? {
                            Completion::Done { .. } => {
                                self.record_sum(&key, sha256).await;
                                return Ok(Ok(aim));
                            }
                            Completion::Taken => {}
                            Completion::Unsupported(why) => self.no_conditional_completion(&why),
                        }
                    } else {
                        first = Some(candidate);
                    }
                }
                // Of no use under another name: this node's copy of the bytes goes instead.
                if let Err(e) = self.bucket.abort(&key, &id).await {
                    tracing::warn!(%key, error = %e, "cannot abort a multipart upload; the sweep will");
                }
                if on_clash == OnClash::Refuse && first.is_none() {
                    return Ok(Err(wanted.clone()));
                }
                return self
                    .place_copy(
                        staged,
                        wanted,
                        first.into_iter().chain(candidates),
                        on_clash,
                    )
                    .await;
            }
            // Streamed to a staging key: completed there, then copied to its name.
            Some(Streamed {
                key,
                aim: None,
                sent: Sent::Parts { id, parts },
            }) => {
                self.bucket.complete(&key, &id, parts).await?;
                return self
                    .copy_to_name(&key, sha256, wanted, candidates, on_clash)
                    .await;
            }
            // Complete in the bucket already (a resumable upload): copied to its name.
            Some(Streamed {
                key,
                sent: Sent::Stored,
                ..
            }) => {
                return self
                    .copy_to_name(&key, sha256, wanted, candidates, on_clash)
                    .await;
            }
            None => {}
        }
        self.place_copy(staged, wanted, candidates, on_clash).await
    }

    /// Copies the complete object at `key` (this service's own) to the first free name,
    /// records its hash there, and removes it.
    async fn copy_to_name(
        &self,
        key: &object_store::path::Path,
        sha256: lora_core::Sha256,
        wanted: &PartialPath,
        candidates: impl Iterator<Item = PartialPath>,
        on_clash: OnClash,
    ) -> Result<Placed, object_store::Error> {
        let placed = self
            .create_first_free(key, wanted, candidates, |p| self.keys.live(p), on_clash)
            .await;
        // The source goes whatever happened (the sweeps catch a failure here).
        let _ = self.bucket.delete(key).await;
        if let Ok(Ok(placed)) = &placed {
            self.record_sum(&self.keys.live(placed), sha256).await;
        }
        placed
    }

    /// The way without a stream: this node's copy of the bytes to a staging key (with its
    /// SHA-256 as metadata), then a conditional copy to the first free name.
    async fn place_copy(
        &self,
        staged: &StagedFile,
        wanted: &PartialPath,
        candidates: impl Iterator<Item = PartialPath>,
        on_clash: OnClash,
    ) -> Result<Placed, object_store::Error> {
        let staging = self.keys.staging(&replica_id());
        self.bucket
            .upload_file(staged.path().as_std_path(), &staging, staged.sha256())
            .await?;
        let placed = self
            .create_first_free(
                &staging,
                wanted,
                candidates,
                |p| self.keys.live(p),
                on_clash,
            )
            .await;
        // The staging key goes whatever happened (the sweep catches a failure here).
        let _ = self.bucket.delete(&staging).await;
        placed
    }

    /// The store refused a conditional completion: uploads stream to staging keys from now
    /// on, and the operator learns why once.
    fn no_conditional_completion(&self, why: &str) {
        if self.completes_conditionally.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                answer = why,
                "the bucket cannot complete a multipart upload with If-None-Match: uploads now stream to a staging key and are copied to their name"
            );
        }
    }
}
