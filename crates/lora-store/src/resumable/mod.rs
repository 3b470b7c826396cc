//! Resumable uploads (tus): partial files that survive restarts, under
//! `.lora-server/uploads/{id}.part` with their description in `{id}.json`.
//!
//! The offset of an upload is the length of its part file; a PATCH's bytes are fsynced
//! before its offset is acknowledged, so what a client was told survives `kill -9`. The
//! SHA-256 is computed as bytes arrive, in memory; after a restart (or a PATCH that did
//! not go on from where the hash was) the finished file is hashed once more, in one pass.
//!
//! Received bytes are private: the folder is `0700` and part files `0600`, as staging is.
//! An upload a PATCH is writing is claimed ([`PatchGuard`]): only the claim's holder may
//! append, cut, stage or remove it, so neither the expiry sweep nor a second request can
//! pull the file from under a writer.

mod appender;
mod info;
mod local;
mod uploads;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use camino::Utf8PathBuf;
use lora_core::Sha256;
use sha2::Digest;
use tempfile::{NamedTempFile, TempPath};
use time::OffsetDateTime;

pub use appender::Appender;
use appender::HashThread;
pub use info::{Completed, ResumableInfo, UploadId};
pub use uploads::{Append, UploadClaim, Uploads, own_appender};

use crate::StagedFile;
use crate::StoreError;
use crate::error::io_err;

/// A part file without a description is a creation that died between its two writes; the
/// sweep removes it once it is this old (a creation under way is younger).
const ORPHAN_AFTER: Duration = Duration::from_secs(60);

/// The partial uploads of one store. Cheap to clone: clones share their state.
#[derive(Debug, Clone)]
pub struct Resumable {
    dir: Utf8PathBuf,
    /// Where a complete upload moves to be published.
    staging: Utf8PathBuf,
    /// Each upload's hashing thread, still running (it hashes the last PATCH's bytes while
    /// the client sends the next), with the offset it will have covered.
    hashers: Arc<Mutex<HashMap<UploadId, (u64, HashThread)>>>,
    /// Uploads a PATCH (or a removal) holds now.
    busy: Arc<Mutex<HashSet<UploadId>>>,
    /// Test hook: the record of a published upload cannot be written.
    #[cfg(feature = "fault-injection")]
    pub(crate) fail_records: Arc<std::sync::atomic::AtomicBool>,
}

/// The claim on one upload, held while a PATCH writes to it (or while it is removed);
/// released on drop.
#[derive(Debug)]
pub struct PatchGuard {
    id: UploadId,
    busy: Arc<Mutex<HashSet<UploadId>>>,
}

impl PatchGuard {
    /// The upload claimed.
    pub fn id(&self) -> &UploadId {
        &self.id
    }
}

impl Drop for PatchGuard {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Resumable {
    pub(crate) fn open(dir: Utf8PathBuf, staging: Utf8PathBuf) -> Result<Self, StoreError> {
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        // Received bytes are nobody else's business, as in staging. (A folder an earlier
        // version made 0755 is restricted now; on a read-only disk that waits, as every
        // write does.)
        let mode = fs::metadata(&dir)
            .map_err(io_err("stat", &dir))?
            .permissions()
            .mode();
        if mode & 0o777 != 0o700
            && let Err(e) = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        {
            tracing::warn!(dir = %dir, error = %e, "cannot make the uploads folder private (0700)");
        }
        Ok(Self {
            dir,
            staging,
            hashers: Arc::default(),
            busy: Arc::default(),
            #[cfg(feature = "fault-injection")]
            fail_records: Arc::default(),
        })
    }

    fn part(&self, id: &UploadId) -> Utf8PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    fn meta(&self, id: &UploadId) -> Utf8PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn hashers(&self) -> std::sync::MutexGuard<'_, HashMap<UploadId, (u64, HashThread)>> {
        self.hashers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates an empty upload: the part file, then its description. If the second write
    /// fails the first is undone, so no half-created upload stays behind.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] or [`StoreError::StorageFull`] when its files cannot be written;
    /// [`StoreError::Unavailable`] when the uploads folder is gone.
    pub fn create(&self, info: &ResumableInfo) -> Result<UploadId, StoreError> {
        let id = UploadId::random().map_err(|e| StoreError::Io {
            op: "draw an upload id",
            path: self.dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        self.create_as(&id, info)?;
        Ok(id)
    }

    /// [`Resumable::create`] under a given id: this disk's copy of an upload kept
    /// elsewhere (fleet mode caches the bytes a node received, so the node that completes
    /// an upload it saw whole need not read it back).
    ///
    /// # Errors
    ///
    /// As [`Resumable::create`]; [`StoreError::Io`] when the id is taken here.
    pub fn create_as(&self, id: &UploadId, info: &ResumableInfo) -> Result<(), StoreError> {
        let id = id.clone();
        let part = self.part(&id);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&part)
            .map_err(io_err("create", &part))?;
        if let Err(e) = self.write_info(&id, info) {
            let _ = fs::remove_file(&part);
            return Err(e);
        }
        if let Some(thread) = HashThread::start() {
            self.hashers().insert(id, (0, thread));
        }
        Ok(())
    }

    fn write_info(&self, id: &UploadId, info: &ResumableInfo) -> Result<(), StoreError> {
        let path = self.meta(id);
        // A temporary file is 0600, and the rename makes the description whole or absent.
        let mut tmp =
            NamedTempFile::new_in(&self.dir).map_err(io_err("create a file in", &self.dir))?;
        serde_json::to_writer(&mut tmp, info)
            .map_err(|e| StoreError::io("write", &path, e.into()))?;
        tmp.as_file().sync_all().map_err(io_err("fsync", &path))?;
        tmp.persist(&path)
            .map_err(|e| StoreError::io("write", &path, e.error))?;
        Ok(())
    }

    /// The upload's description and offset; `None` when there is no such upload.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when its files cannot be read.
    pub fn get(&self, id: &UploadId) -> Result<Option<(ResumableInfo, u64)>, StoreError> {
        let info = match fs::read(self.meta(id)) {
            Ok(bytes) => match serde_json::from_slice::<ResumableInfo>(&bytes) {
                Ok(info) => info,
                // A damaged description: the upload cannot be trusted; it is gone.
                Err(_) => {
                    self.remove_if_idle(id);
                    return Ok(None);
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("read", self.meta(id), e)),
        };
        let offset = match fs::metadata(self.part(id)) {
            Ok(m) => m.len(),
            // Published: the part file moved on; the offset is the whole length.
            Err(_) if info.completed.is_some() => info.length,
            // A description whose bytes are gone cannot be resumed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.remove_if_idle(id);
                return Ok(None);
            }
            Err(e) => return Err(StoreError::io("stat", self.part(id), e)),
        };
        Ok(Some((info, offset)))
    }

    /// Claims the upload for one PATCH (or a removal); `None` while another holds it.
    pub fn lock(&self, id: &UploadId) -> Option<PatchGuard> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        busy.insert(id.clone()).then(|| PatchGuard {
            id: id.clone(),
            busy: Arc::clone(&self.busy),
        })
    }

    /// Opens the claimed upload's part file to append at `offset` (its current length).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when it cannot be opened.
    pub fn appender(&self, claim: &PatchGuard, offset: u64) -> Result<Appender, StoreError> {
        let id = claim.id();
        let path = self.part(id);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let hasher = self
            .hashers()
            .remove(id)
            .filter(|(at, _)| *at == offset)
            .map(|(_, h)| h);
        Ok(Appender::new(id.clone(), file, path, offset, hasher))
    }

    /// Makes the appended bytes durable and keeps the hashing thread for the next PATCH
    /// (not waited for: it catches up while the client sends more); the new offset.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the fsync fails (the offset is then not acknowledged).
    pub fn commit(&self, mut appender: Appender) -> Result<u64, StoreError> {
        appender
            .writeback
            .finish()
            .map_err(io_err("write back", &appender.path))?;
        appender
            .file
            .sync_data()
            .map_err(io_err("fsync", &appender.path))?;
        if let Some(h) = appender.hasher {
            self.hashers()
                .insert(appender.id.clone(), (appender.offset, h));
        }
        Ok(appender.offset)
    }

    /// Cuts the claimed upload's part file back to `offset` (bytes past the announced
    /// length).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when it cannot be truncated.
    pub fn truncate(&self, claim: &PatchGuard, offset: u64) -> Result<(), StoreError> {
        let path = self.part(claim.id());
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        file.set_len(offset).map_err(io_err("truncate", &path))?;
        self.hashers().remove(claim.id());
        Ok(())
    }

    /// Moves the claimed, complete part file into `staging` as a staged file, hashed (from
    /// the state kept while it arrived, or in one pass when that was lost).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when it cannot be moved or read.
    pub fn stage(&self, claim: &PatchGuard) -> Result<StagedFile, StoreError> {
        let id = claim.id();
        let from = self.part(id);
        let to = self.staging.join(format!(".upload-{id}.part"));
        fs::rename(&from, &to).map_err(io_err("move to staging", &from))?;
        let temp = TempPath::try_from_path(to.as_std_path()).map_err(io_err("adopt", &to))?;
        let file = File::open(&to).map_err(io_err("open", &to))?;
        let len = file.metadata().map_err(io_err("stat", &to))?.len();
        let kept = self
            .hashers()
            .remove(id)
            .filter(|(at, _)| *at == len)
            .and_then(|(_, h)| h.finish());
        let sha256 = match kept {
            Some(h) => Sha256::from_bytes(h.finalize().into()),
            None => {
                let mut h = sha2::Sha256::new();
                std::io::copy(
                    &mut std::io::BufReader::with_capacity(1 << 20, &file),
                    &mut h,
                )
                .map_err(io_err("hash", &to))?;
                Sha256::from_bytes(h.finalize().into())
            }
        };
        Ok(StagedFile {
            file: NamedTempFile::from_parts(file, temp),
            len,
            sha256,
            tensor_sha256: None,
            path: to,
            forwarded: None,
        })
    }

    /// Records where the published upload went (for `GET` on the upload until it expires).
    ///
    /// # Errors
    ///
    /// As [`Resumable::create`].
    pub fn finished(
        &self,
        claim: &PatchGuard,
        mut info: ResumableInfo,
        completed: Completed,
    ) -> Result<(), StoreError> {
        info.completed = Some(completed);
        #[cfg(feature = "fault-injection")]
        if self.fail_records.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::io(
                "write",
                self.meta(claim.id()),
                std::io::Error::from_raw_os_error(5),
            ));
        }
        self.write_info(claim.id(), &info)
    }

    /// Removes the claimed upload (its part file and description); missing files are fine.
    pub fn remove(&self, claim: &PatchGuard) {
        self.remove_files(claim.id());
    }

    /// Removes an upload unless a PATCH holds it; whether it was removed.
    pub fn remove_if_idle(&self, id: &UploadId) -> bool {
        match self.lock(id) {
            Some(claim) => {
                self.remove(&claim);
                true
            }
            None => false,
        }
    }

    fn remove_files(&self, id: &UploadId) {
        let _ = fs::remove_file(self.part(id));
        let _ = fs::remove_file(self.meta(id));
        self.hashers().remove(id);
    }

    /// Every upload's id and description.
    fn all(&self) -> Vec<(UploadId, ResumableInfo)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = UploadId::parse(name.strip_suffix(".json")?)?;
                let info = serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
                Some((id, info))
            })
            .collect()
    }

    /// Unfinished uploads of `owner`.
    pub fn unfinished_of(&self, owner: &str) -> usize {
        self.all()
            .iter()
            .filter(|(_, i)| i.owner == owner && i.completed.is_none())
            .count()
    }

    /// Removes uploads that expired before `now`, except those a PATCH is writing (the
    /// PATCH finds the expiry when it ends, and the next sweep takes what is left), and
    /// part files whose creation died before their description was written; how many
    /// uploads it removed.
    pub fn sweep(&self, now: OffsetDateTime) -> usize {
        let removed = self
            .all()
            .into_iter()
            .filter(|(id, info)| info.expired(now) && self.remove_if_idle(id))
            .count();
        self.sweep_orphans();
        removed
    }

    fn sweep_orphans(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".part"))
                .and_then(UploadId::parse)
            else {
                continue;
            };
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age > ORPHAN_AFTER);
            if old
                && !self.meta(&id).exists()
                && let Some(claim) = self.lock(&id)
            {
                tracing::warn!(upload = %id, "removed a part file whose creation did not finish");
                self.remove(&claim);
            }
        }
    }
}

#[cfg(test)]
mod tests;
