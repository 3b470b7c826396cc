//! Leases held across nodes: a small lock object in the bucket, created only if absent
//! (`If-None-Match: *`), renewed while it is held, taken over only once it has expired and
//! only by replacing the very version that expired (`If-Match`), and removed when let go.
//! A node that dies holding one stops renewing it: it expires within [`Lease::TTL`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use object_store::path::Path;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use tokio::sync::Mutex;

use crate::bucket::Bucket;

/// How long one node's turn to sweep the bucket lasts: the others skip their sweeps
/// until it passes without the holder taking it again.
pub(crate) const SWEEP_TURN: Duration = Duration::from_secs(50);

/// What a lock object says.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    /// Who holds it (for an operator reading the bucket).
    node: String,
    /// Until when, in Unix seconds, unless renewed.
    until: u64,
}

/// A held lease; let go on drop (the lock object is removed unless it was lost).
#[derive(Debug)]
pub(crate) struct Lease {
    key: Path,
    bucket: Bucket,
    runtime: Handle,
    /// The lock object's version this node wrote last.
    etag: Arc<Mutex<Option<String>>>,
    /// Set when a renewal found the lock taken over.
    lost: Arc<AtomicBool>,
    /// Set when a renewal failed: the lock may have expired and been taken since.
    doubtful: Arc<AtomicBool>,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn holder(node: &str, ttl: Duration) -> Vec<u8> {
    serde_json::to_vec(&Holder {
        node: node.to_owned(),
        until: now_secs() + ttl.as_secs(),
    })
    .unwrap_or_default()
}

impl Lease {
    /// How long a lease lives without renewal.
    pub(crate) const TTL: Duration = Duration::from_secs(10);

    /// Takes the lease at `key` for `node`, renewed every third of [`Lease::TTL`] until
    /// dropped; `Ok(None)` while someone else holds it.
    pub(crate) async fn take(
        bucket: &Bucket,
        runtime: &Handle,
        key: &Path,
        node: &str,
    ) -> Result<Option<Self>, object_store::Error> {
        Self::take_for(bucket, runtime, key, node, Self::TTL).await
    }

    /// [`Lease::take`] with a life of `ttl`.
    pub(crate) async fn take_for(
        bucket: &Bucket,
        runtime: &Handle,
        key: &Path,
        node: &str,
        ttl: Duration,
    ) -> Result<Option<Self>, object_store::Error> {
        let Some(etag) = Self::acquire(bucket, key, node, ttl, false).await? else {
            return Ok(None);
        };
        let etag = Arc::new(Mutex::new(Some(etag)));
        let lost = Arc::new(AtomicBool::new(false));
        let doubtful = Arc::new(AtomicBool::new(false));
        let renewal = runtime.spawn(renew(
            bucket.clone(),
            key.clone(),
            (node.to_owned(), ttl),
            Arc::clone(&etag),
            [Arc::clone(&lost), Arc::clone(&doubtful)],
        ));
        Ok(Some(Self {
            key: key.clone(),
            bucket: bucket.clone(),
            runtime: runtime.clone(),
            etag,
            lost,
            doubtful,
            renewal: Some(renewal),
        }))
    }

    /// Takes (or, for the node that has it, extends) the turn at `key` for `ttl`, never
    /// removed: nobody else gets it until `ttl` passes without its holder taking it again
    /// (the fleet's sweeps: one node sweeps, the others skip).
    pub(crate) async fn turn(
        bucket: &Bucket,
        key: &Path,
        node: &str,
        ttl: Duration,
    ) -> Result<bool, object_store::Error> {
        Ok(Self::acquire(bucket, key, node, ttl, true).await?.is_some())
    }

    /// Creates the lock object, or replaces an expired one (with `again`, also one `node`
    /// holds itself); its ETag.
    async fn acquire(
        bucket: &Bucket,
        key: &Path,
        node: &str,
        ttl: Duration,
        again: bool,
    ) -> Result<Option<String>, object_store::Error> {
        if let Some(etag) = bucket.create(key, holder(node, ttl).into(), None).await? {
            return Ok(Some(etag));
        }
        let Some((bytes, etag)) = bucket.get_tagged(key).await? else {
            // Let go between the two requests: try once more.
            return bucket.create(key, holder(node, ttl).into(), None).await;
        };
        let free = serde_json::from_slice::<Holder>(&bytes)
            .map_or(true, |h| h.until < now_secs() || (again && h.node == node));
        match (free, etag) {
            (true, Some(etag)) => bucket.replace_tagged(key, holder(node, ttl), &etag).await,
            _ => Ok(None),
        }
    }

    /// Lets go now (the next holder need not wait for a removal in the background).
    pub(crate) async fn let_go(&self) {
        if let Some(renewal) = &self.renewal {
            renewal.abort();
        }
        let etag = self.etag.lock().await.take();
        let Some(etag) = etag.filter(|_| !self.lost()) else {
            return;
        };
        // Renewed every time: still ours, one DELETE. Otherwise only if still ours.
        let removed = if self.doubtful.load(Ordering::SeqCst) {
            self.bucket.delete_tagged(&self.key, &etag).await
        } else {
            self.bucket.delete(&self.key).await
        };
        if let Err(e) = removed {
            tracing::warn!(key = %self.key, error = %e, "cannot let go of a lease; it expires by itself");
        }
    }

    /// Whether a renewal found the lease taken over (its holder must not go on writing).
    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

/// Renews the lease every third of its life, until it is lost or the task is stopped.
async fn renew(
    bucket: Bucket,
    key: Path,
    (node, ttl): (String, Duration),
    etag: Arc<Mutex<Option<String>>>,
    [lost, doubtful]: [Arc<AtomicBool>; 2],
) {
    loop {
        tokio::time::sleep(ttl / 3).await;
        let mut current = etag.lock().await;
        let Some(previous) = current.clone() else {
            return;
        };
        match bucket
            .replace_tagged(&key, holder(&node, ttl), &previous)
            .await
        {
            Ok(Some(next)) => *current = Some(next),
            Ok(None) => {
                tracing::warn!(%key, "a lease was taken over while held");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // The bucket away for a moment: the next renewal tries again (the lease lasts
            // three renewals).
            Err(e) => {
                doubtful.store(true, Ordering::SeqCst);
                tracing::warn!(%key, error = %e, "cannot renew a lease");
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if self.lost() {
            return;
        }
        let (bucket, key) = (self.bucket.clone(), self.key.clone());
        let etag = Arc::clone(&self.etag);
        self.runtime.spawn(async move {
            // Only while it is still ours: never another node's fresh lease.
            let etag = etag.lock().await.take();
            if let Some(etag) = etag
                && let Err(e) = bucket.delete_tagged(&key, &etag).await
            {
                tracing::warn!(%key, error = %e, "cannot let go of a lease; it expires by itself");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::time::Duration;

    use object_store::memory::InMemory;
    use object_store::path::Path;

    use super::{Lease, holder};
    use crate::bucket::Bucket;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_renewed_lease_outlives_its_life_and_excludes_until_let_go() {
        let rt = runtime();
        let bucket = Bucket::over(Arc::new(InMemory::new()));
        let key = Path::from("lock");
        let ttl = Duration::from_secs(1);
        rt.block_on(async {
            let held = Lease::take_for(&bucket, rt.handle(), &key, "a", ttl)
                .await
                .unwrap()
                .unwrap();
            // Past the life it was taken with: renewed meanwhile, still held.
            tokio::time::sleep(ttl * 5 / 2).await;
            assert!(!held.lost());
            let other = Lease::take_for(&bucket, rt.handle(), &key, "b", ttl).await;
            assert!(other.unwrap().is_none(), "renewed: nobody else gets it");
            held.let_go().await;
            let other = Lease::take_for(&bucket, rt.handle(), &key, "b", ttl).await;
            assert!(other.unwrap().is_some(), "let go: free at once");
        });
    }

    #[test]
    fn an_expired_lease_is_taken_over_once() {
        let rt = runtime();
        let bucket = Bucket::over(Arc::new(InMemory::new()));
        let key = Path::from("lock");
        rt.block_on(async {
            // Left by a node that died: its life is over.
            bucket
                .create(&key, holder("dead", Duration::ZERO).into(), None)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let (first, second) = tokio::join!(
                Lease::take(&bucket, rt.handle(), &key, "a"),
                Lease::take(&bucket, rt.handle(), &key, "b"),
            );
            let taken = [first.unwrap(), second.unwrap()]
                .iter()
                .filter(|l| l.is_some())
                .count();
            assert_eq!(taken, 1, "exactly one node takes an expired lease over");
        });
    }
}
