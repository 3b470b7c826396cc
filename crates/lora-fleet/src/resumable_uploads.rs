//! [`Uploads`] for [`FleetUploads`]: the seam's operations on uploads in the bucket, and
//! the sweep of expired ones (one node's turn at a time).

use std::sync::Arc;

use lora_store::{ResumableInfo, StoreError, UploadClaim, UploadId, Uploads};
use time::OffsetDateTime;

use crate::lease::{Lease, SWEEP_TURN};
use crate::resumable::{FleetUploads, Record};
use crate::resumable_claim::FleetClaim;

impl FleetUploads {
    pub(crate) async fn claim_async(
        &self,
        id: &UploadId,
    ) -> Result<Option<FleetClaim>, object_store::Error> {
        let lease = Lease::take(&self.bucket, &self.io, &self.key(id, "lock"), &self.node).await?;
        Ok(lease.map(|lease| FleetClaim::new(self.clone(), id.clone(), lease)))
    }
}

impl Uploads for FleetUploads {
    fn create(&self, info: &ResumableInfo) -> Result<UploadId, StoreError> {
        let id = UploadId::random().map_err(|e| StoreError::Remote {
            op: "draw an upload id",
            reason: e.to_string(),
        })?;
        let record = Record {
            info: info.clone(),
            multipart: None,
            parts: Vec::new(),
            tail: 0,
            offset: 0,
        };
        self.run("create an upload in the bucket", self.write(&id, &record))?;
        Ok(id)
    }

    fn get(&self, id: &UploadId) -> Result<Option<(ResumableInfo, u64)>, StoreError> {
        let record = self.run("read an upload's record", self.record(id))?;
        Ok(record.map(|r| {
            let offset = r.told_offset();
            (r.info, offset)
        }))
    }

    fn remove_if_idle(&self, id: &UploadId) -> Result<bool, StoreError> {
        match self.claim(id)? {
            Some(claim) => {
                claim.remove();
                claim.release();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn unfinished_of(&self, owner: &str) -> Result<usize, StoreError> {
        let all = self.run("list the uploads in the bucket", self.all())?;
        Ok(all
            .iter()
            .filter(|(_, r)| r.info.owner == owner && r.info.completed.is_none())
            .count())
    }

    fn claim(&self, id: &UploadId) -> Result<Option<Arc<dyn UploadClaim>>, StoreError> {
        let claim = self.run("take an upload's lease", self.claim_async(id))?;
        Ok(claim.map(|c| Arc::new(c) as Arc<dyn UploadClaim>))
    }

    fn sweep(&self, now: OffsetDateTime) -> usize {
        // This disk's copies of uploads that expired: every node its own.
        self.store.resumable().sweep(now);
        let swept = self.io.block_on(async {
            // One node's turn at a time: the others skip until it is over.
            if !Lease::turn(&self.bucket, &self.keys.sweeper(), &self.node, SWEEP_TURN).await? {
                return Ok(0);
            }
            let mut swept = 0;
            for (id, record) in self.all().await? {
                if !record.info.expired(now) {
                    continue;
                }
                // An upload a PATCH holds is left to it (it finds the expiry when it ends).
                if let Some(claim) = self.claim_async(&id).await? {
                    self.remove_all(&id, Some(&record)).await?;
                    claim.let_go().await;
                    swept += 1;
                }
            }
            Ok::<_, object_store::Error>(swept)
        });
        match swept {
            Ok(swept) => swept,
            Err(e) => {
                tracing::warn!(error = %e, "cannot sweep the bucket's uploads; the next turn will");
                self.vitals.failure();
                0
            }
        }
    }
}
