//! Bringing the bucket onto this node's disk and taking it off again: downloads checked
//! against their SHA-256 and the content rules before they are renamed into place, and
//! the index of live objects refreshed from a listing.

use lora_core::{PartialPath, Sha256};
use lora_inspect::{Candidate, Checked};
use lora_store::StoreError;
use object_store::path::Path;

use crate::bucket::{DownloadError, Listed};
use crate::fleet::Fleet;

impl Fleet {
    /// Downloads `key` into a staged file, checks its SHA-256 against `expected` and the
    /// content rule, and installs it at `path` in the replica (recorded in the manifest).
    /// With a disk budget, room for `size` bytes is made first (least recently used
    /// files evicted) and held while the bytes arrive. `Ok(false)`: the object is gone.
    ///
    /// # Errors
    ///
    /// [`StoreError::StorageFull`] when the budget has no room for it even after evicting
    /// everything not leased or pinned (a pinned file comes in over the budget).
    pub(crate) fn materialise(
        &self,
        key: &Path,
        path: &PartialPath,
        expected: Option<Sha256>,
        size: Option<u64>,
    ) -> Result<bool, StoreError> {
        let _room = self.make_room(path, size.unwrap_or(0))?;
        let mut upload = self.store.stage()?;
        let got = self.block_on(self.bucket.download(key, |chunk| upload.write(&chunk)));
        match got {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(DownloadError::Bucket(e)) => return Err(self.remote("download", e)),
            Err(DownloadError::Local(e)) => return Err(e),
        }
        let staged = upload.finish()?;
        if let Some(expected) = expected
            && expected != staged.sha256()
        {
            self.vitals.rejected();
            tracing::error!(%path, "a downloaded object does not match its sha256 metadata; not materialised");
            return Err(StoreError::Remote {
                op: "verify a download",
                reason: format!("{path}: the bytes do not match the object's sha256"),
            });
        }
        let extension = lora_core::Extension::of_file_name(path.file_name());
        let checked = match extension {
            Some(extension) => self
                .check
                .check(Candidate::file(staged.path().as_std_path(), extension)),
            None => Ok(Checked::default()),
        };
        let rejection = match checked {
            Ok(checked) => {
                let staged = staged.with_tensor_sha256(checked.tensor_sha256);
                let (sha, len) = (staged.sha256(), staged.len());
                let mut replica = self.lock_replica();
                self.claim_and_install(&mut replica, staged, path, sha, len)?;
                return Ok(true);
            }
            Err(rejection) => rejection,
        };
        if !rejection.is_refusal() {
            return Err(StoreError::Io {
                op: "check the content of",
                path: staged.path().to_owned(),
                source: std::io::Error::other(rejection.to_string()),
            });
        }
        self.vitals.rejected();
        tracing::error!(%path, reason = %rejection, "an object in the bucket fails the content rules; not materialised");
        Err(StoreError::ContentRefused {
            path: path.clone(),
            reason: rejection.to_string(),
        })
    }

    /// Records `path` in the manifest, then installs it. In that order a crash between the
    /// two leaves the manifest naming a file that is not there (downloaded again when
    /// needed), never a bucket file the manifest does not name (which would look placed by
    /// hand: never evicted, never removed). A failed install takes the record back.
    pub(crate) fn claim_and_install(
        &self,
        replica: &mut crate::replica::Manifest,
        staged: lora_store::StagedFile,
        path: &PartialPath,
        sha: Sha256,
        len: u64,
    ) -> Result<lora_store::Published, StoreError> {
        let had = replica.get(path).cloned();
        replica.insert(path, sha, len);
        replica.save();
        match self.store.install(staged, path) {
            Ok(published) => Ok(published),
            Err(e) => {
                match had {
                    Some(record) => replica.put_back(path, record),
                    None => replica.remove(path),
                }
                replica.save();
                Err(e)
            }
        }
    }

    /// Evicts what must go for `need` more bytes besides `path` to fit the budget, and
    /// holds that room until the returned reservation is dropped (so two downloads never
    /// count the same free bytes). A no-op without a budget.
    pub(crate) fn make_room(
        &self,
        path: &PartialPath,
        need: u64,
    ) -> Result<crate::working_set::Reservation<'_>, StoreError> {
        let mut replica = self.lock_replica();
        let reserved = self.working.reserved();
        match self.working.victims(&replica, path, need + reserved) {
            Ok(victims) => {
                for victim in &victims {
                    if self.remove_replicated(&mut replica, victim) {
                        self.working.evicted();
                        tracing::info!(path = %victim, "evicted to stay within the disk budget");
                    }
                }
            }
            // Pinned types are kept complete, over the budget if need be (health says so).
            Err(_) if self.working.pinned(path) => {}
            Err(shortfall) => {
                return Err(StoreError::StorageFull {
                    op: "make room within LORA_REPLICA_BUDGET_BYTES",
                    source: std::io::Error::other(format!(
                        "{} more bytes than the budget allows are leased or pinned",
                        shortfall.over
                    )),
                });
            }
        }
        replica.save();
        Ok(self.working.reserve(need))
    }

    /// Removes a replicated file from the local folder for good. The bucket's bin is the
    /// fleet's only bin: a local copy kept aside would never be listed, restored or
    /// purged, and would stay on this node's disk forever. Whether a file was removed.
    pub(crate) fn dematerialise(&self, path: &PartialPath) -> bool {
        let mut replica = self.lock_replica();
        let removed = self.remove_replicated(&mut replica, path);
        replica.save();
        removed
    }

    /// [`Fleet::dematerialise`] with the manifest already held (not saved).
    fn remove_replicated(
        &self,
        replica: &mut crate::replica::Manifest,
        path: &PartialPath,
    ) -> bool {
        // Through the local bin, so the removal is the store's careful sequence.
        let removed = match self
            .store
            .delete(path)
            .and_then(|binned| self.store.purge(&binned.bin_partial_path))
        {
            Ok(_) => true,
            Err(StoreError::NotFound { .. }) => false,
            Err(e) => {
                tracing::warn!(%path, error = %e, "cannot remove a replicated file");
                return false;
            }
        };
        replica.remove(path);
        removed
    }

    /// The live index, loaded now if it never was.
    pub(crate) fn ensure_index(&self) -> Result<(), StoreError> {
        if self.lock_index().loaded {
            return Ok(());
        }
        self.refresh_index().map(|_| ())
    }

    /// Lists the bucket's live files into the index (keeping known SHA-256s).
    pub(crate) fn refresh_index(&self) -> Result<Vec<(PartialPath, Listed)>, StoreError> {
        let listed = self
            .block_on(self.bucket.list(&self.keys.live_root()))
            .map_err(|e| self.remote("list the bucket", e))?;
        self.reached();
        let root = self.keys.live_root();
        let objects: Vec<(PartialPath, Listed)> = listed
            .into_iter()
            .filter_map(|l| Some((self.keys.partial(&root, &l.key)?, l)))
            .collect();
        self.lock_index().replace(&objects);
        Ok(objects)
    }
}
