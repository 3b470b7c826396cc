//! Resumable uploads (tus): partial files that survive restarts, under
//! `.lora-server/uploads/{id}.part` with their description in `{id}.json`.
//!
//! The offset of an upload is the length of its part file; a PATCH's bytes are fsynced
//! before its offset is acknowledged, so what a client was told survives `kill -9`. The
//! SHA-256 is computed as bytes arrive, in memory; after a restart (or a PATCH that did
//! not go on from where the hash was) the finished file is hashed once more, in one pass.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::Sha256;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tempfile::{NamedTempFile, TempPath};

use crate::StagedFile;
use crate::StoreError;
use crate::error::io_err;
use crate::writeback::Writeback;

/// A PATCH's bytes are flushed to disk every this many bytes while they arrive, so the
/// fsync that acknowledges them only waits for the last piece.
const WRITEBACK_EVERY: u64 = 2 << 20;

/// What an upload is, as its creation told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumableInfo {
    /// The token's subject that created it: only it may see or change it.
    pub owner: String,
    /// `user` or `admin`: the collection it was created in.
    pub collection: String,
    /// The client's file name.
    pub filename: String,
    /// The entity type as sent (checked at creation).
    pub entity_type: Option<String>,
    /// Whether a taken name is versioned (else 409).
    pub use_safe_filename: bool,
    /// The announced length.
    pub length: u64,
    /// Unix seconds after which it is removed.
    pub expires: i64,
    /// Once published: the answer the multipart route would have given (JSON).
    pub result: Option<serde_json::Value>,
}

/// The partial uploads of one store.
#[derive(Debug)]
pub struct Resumable {
    dir: Utf8PathBuf,
    /// In-memory SHA-256 state per upload, with the offset it covers.
    /// Each upload's hashing thread, still running (it hashes the last PATCH's bytes while
    /// the client sends the next), with the offset it will have covered.
    hashers: Mutex<HashMap<String, (u64, HashThread)>>,
    /// Uploads a PATCH is writing to now.
    busy: Arc<Mutex<HashSet<String>>>,
}

/// Held while one PATCH writes to an upload; released on drop.
#[derive(Debug)]
pub struct PatchGuard {
    id: String,
    busy: Arc<Mutex<HashSet<String>>>,
}

impl Drop for PatchGuard {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Appends a PATCH's bytes to a part file: written back to disk while they arrive (so
/// the PATCH's closing fsync waits only for the tail) and hashed on a thread of their own.
#[derive(Debug)]
pub struct Appender {
    file: File,
    path: Utf8PathBuf,
    offset: u64,
    written: u64,
    writeback: Writeback,
    hasher: Option<HashThread>,
}

/// SHA-256 on its own thread: the state goes in, chunks follow, the state comes back.
#[derive(Debug)]
struct HashThread {
    chunks: SyncSender<Bytes>,
    state: JoinHandle<sha2::Sha256>,
}

impl HashThread {
    fn start(mut state: sha2::Sha256) -> Option<Self> {
        let (chunks, queue) = sync_channel::<Bytes>(16);
        let state = std::thread::Builder::new()
            .name("upload-hasher".into())
            .spawn(move || {
                for chunk in queue {
                    state.update(&chunk);
                }
                state
            })
            .ok()?;
        Some(Self { chunks, state })
    }

    fn finish(self) -> Option<sha2::Sha256> {
        drop(self.chunks);
        self.state.join().ok()
    }
}

impl Appender {
    /// Appends `bytes`.
    ///
    /// # Errors
    ///
    /// [`StoreError::StorageFull`] or [`StoreError::Io`] when the write fails.
    pub fn write(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        self.file
            .write_all(&bytes)
            .map_err(io_err("write to an upload", &self.path))?;
        self.offset += bytes.len() as u64;
        self.written += bytes.len() as u64;
        self.writeback.wrote(&self.file, self.written);
        if let Some(h) = &self.hasher
            && h.chunks.send(bytes).is_err()
        {
            // The thread is gone: the hash will be recomputed at the end.
            self.hasher = None;
        }
        Ok(())
    }

    /// The offset reached so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Resumable {
    pub(crate) fn open(dir: Utf8PathBuf) -> Result<Self, StoreError> {
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(Self {
            dir,
            hashers: Mutex::new(HashMap::new()),
            busy: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    fn part(&self, id: &str) -> Utf8PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    fn meta(&self, id: &str) -> Utf8PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Creates an empty upload; its id (32 lower-case hex digits).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] or [`StoreError::StorageFull`] when its files cannot be written.
    pub fn create(&self, info: &ResumableInfo) -> Result<String, StoreError> {
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|e| StoreError::Io {
            op: "draw an upload id",
            path: self.dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let id = hex::encode(raw);
        File::create(self.part(&id)).map_err(io_err("create", &self.part(&id)))?;
        self.write_info(&id, info)?;
        if let Some(thread) = HashThread::start(sha2::Sha256::new()) {
            self.hashers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id.clone(), (0, thread));
        }
        Ok(id)
    }

    fn write_info(&self, id: &str, info: &ResumableInfo) -> Result<(), StoreError> {
        let path = self.meta(id);
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
    pub fn get(&self, id: &str) -> Result<Option<(ResumableInfo, u64)>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let info = match fs::read(self.meta(id)) {
            Ok(bytes) => match serde_json::from_slice::<ResumableInfo>(&bytes) {
                Ok(info) => info,
                // A damaged description: the upload cannot be trusted; it is gone.
                Err(_) => {
                    self.remove(id);
                    return Ok(None);
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("read", self.meta(id), e)),
        };
        let offset = match fs::metadata(self.part(id)) {
            Ok(m) => m.len(),
            // Published: the part file moved on; the offset is the whole length.
            Err(_) if info.result.is_some() => info.length,
            Err(e) => return Err(StoreError::io("stat", self.part(id), e)),
        };
        Ok(Some((info, offset)))
    }

    /// Claims the upload for one PATCH; `None` while another holds it.
    pub fn lock(&self, id: &str) -> Option<PatchGuard> {
        let mut busy = self
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        busy.insert(id.to_owned()).then(|| PatchGuard {
            id: id.to_owned(),
            busy: Arc::clone(&self.busy),
        })
    }

    /// Opens the part file to append at `offset` (its current length).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when it cannot be opened.
    pub fn appender(&self, id: &str, offset: u64) -> Result<Appender, StoreError> {
        let path = self.part(id);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let hasher = self
            .hashers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id)
            .filter(|(at, _)| *at == offset)
            .map(|(_, h)| h);
        Ok(Appender {
            file,
            path,
            offset,
            written: 0,
            writeback: Writeback::every(WRITEBACK_EVERY),
            hasher,
        })
    }

    /// Makes the appended bytes durable and keeps the hashing thread for the next PATCH
    /// (not waited for: it catches up while the client sends more); the new offset.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the fsync fails (the offset is then not acknowledged).
    pub fn commit(&self, id: &str, mut appender: Appender) -> Result<u64, StoreError> {
        appender
            .writeback
            .finish()
            .map_err(io_err("write back", &appender.path))?;
        appender
            .file
            .sync_data()
            .map_err(io_err("fsync", &appender.path))?;
        if let Some(h) = appender.hasher {
            self.hashers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id.to_owned(), (appender.offset, h));
        }
        Ok(appender.offset)
    }

    /// Cuts the part file back to `offset` (bytes past the announced length).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when it cannot be truncated.
    pub fn truncate(&self, id: &str, offset: u64) -> Result<(), StoreError> {
        let path = self.part(id);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        file.set_len(offset).map_err(io_err("truncate", &path))?;
        self.hashers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
        Ok(())
    }

    /// Moves the complete part file into `staging` as a staged file, hashed (from the
    /// state kept while it arrived, or in one pass when that was lost).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when it cannot be moved or read.
    pub(crate) fn stage(&self, id: &str, staging: &Utf8Path) -> Result<StagedFile, StoreError> {
        let from = self.part(id);
        let to = staging.join(format!(".upload-{id}.part"));
        fs::rename(&from, &to).map_err(io_err("move to staging", &from))?;
        let temp = TempPath::try_from_path(to.as_std_path()).map_err(io_err("adopt", &to))?;
        let file = File::open(&to).map_err(io_err("open", &to))?;
        let len = file.metadata().map_err(io_err("stat", &to))?.len();
        let kept = self
            .hashers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
            path: to,
        })
    }

    /// Records the published answer (for `GET` on the upload until it expires).
    ///
    /// # Errors
    ///
    /// As [`Resumable::create`].
    pub fn finished(
        &self,
        id: &str,
        mut info: ResumableInfo,
        result: serde_json::Value,
    ) -> Result<(), StoreError> {
        info.result = Some(result);
        self.write_info(id, &info)
    }

    /// Removes an upload (its part file and description); missing files are fine.
    pub fn remove(&self, id: &str) {
        let _ = fs::remove_file(self.part(id));
        let _ = fs::remove_file(self.meta(id));
        self.hashers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }

    /// Every upload's id and description.
    fn all(&self) -> Vec<(String, ResumableInfo)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".json")?.to_owned();
                let info = serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
                valid_id(&id).then_some((id, info))
            })
            .collect()
    }

    /// Unfinished uploads of `owner`.
    pub fn unfinished_of(&self, owner: &str) -> usize {
        self.all()
            .iter()
            .filter(|(_, i)| i.owner == owner && i.result.is_none())
            .count()
    }

    /// Removes uploads that expired before `now` (Unix seconds); how many.
    pub fn sweep(&self, now: i64) -> usize {
        let expired: Vec<String> = self
            .all()
            .into_iter()
            .filter(|(_, i)| i.expires < now)
            .map(|(id, _)| id)
            .collect();
        for id in &expired {
            self.remove(id);
        }
        expired.len()
    }
}
