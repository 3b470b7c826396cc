//! The index: one SQLite database under the data directory, a cache of the files, their
//! headers and the metadata files, rebuilt from them whenever it is missing or damaged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{PartialPath, Sha256};
use rusqlite::{Connection, params};

use crate::error::CatalogError;
use crate::index::{
    Damage, PENDING, READ, UNREADABLE, Writer, connect, delete_row, insert_live, nanos,
    refresh_search, write_meta,
};
use crate::memo::Remembered;
use crate::meta::{MetaFiles, MetaPatch, Side, UserMeta};
use crate::row::{LiveRow, Page, Read};

/// How the index was found at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// There was none: made empty (it fills from the files).
    Created,
    /// Opened as it was.
    Existing,
    /// Damaged or of another version: set aside and made anew (`why`).
    Rebuilt {
        /// What was wrong with it.
        why: String,
    },
}

/// What a reconciliation with the store's listing changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Files new to the index.
    pub added: Vec<PartialPath>,
    /// Files whose size or time changed (their facts are read again).
    pub changed: Vec<PartialPath>,
    /// Files gone from the store.
    pub removed: Vec<PartialPath>,
}

/// A file whose header is to be read: where, and the version it must still be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// The file.
    pub path: PartialPath,
    /// Its size when listed.
    pub size: u64,
    /// Its modification time when listed, in nanoseconds.
    pub modified_ns: i128,
}

/// Read connections beside the writer (WAL lets them read while it writes).
const READERS: usize = 2;

/// Filtered counts remembered per index generation.
const COUNTS_KEPT: usize = 256;
/// Pages remembered per index generation (each at most a listing's 1,000 items).
const PAGES_KEPT: usize = 64;

/// The catalogue: the index and the metadata files it mirrors.
#[derive(Debug)]
pub struct Catalog {
    db: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Bumped by every write: a remembered count is good for one generation only.
    pub(crate) generation: AtomicU64,
    pub(crate) counts: Remembered<usize>,
    pub(crate) pages: Remembered<Page>,
    meta: MetaFiles,
}

impl Catalog {
    /// Opens the index at `index` (made when missing; set aside and made anew when
    /// damaged or of another schema) over the metadata files under `meta_root`.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when no index can be made there at all;
    /// [`CatalogError::Io`] when a damaged one cannot be set aside.
    pub fn open(
        index: &Utf8Path,
        meta_root: impl Into<Utf8PathBuf>,
    ) -> Result<(Self, Opened), CatalogError> {
        if let Some(dir) = index.parent() {
            std::fs::create_dir_all(dir).map_err(CatalogError::io("create", dir))?;
        }
        let existed = index.exists();
        let (conn, opened) = match connect(index) {
            Ok(conn) if existed => (conn, Opened::Existing),
            Ok(conn) => (conn, Opened::Created),
            Err(damage) => {
                let aside = Utf8PathBuf::from(format!("{index}.damaged"));
                std::fs::rename(index, &aside).map_err(CatalogError::io("set aside", index))?;
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{index}{suffix}"));
                }
                let conn = connect(index).map_err(Damage::into_error)?;
                (
                    conn,
                    Opened::Rebuilt {
                        why: damage.to_string(),
                    },
                )
            }
        };
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open(index)?;
                reader.execute_batch("PRAGMA query_only = ON;")?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, rusqlite::Error>>()?;
        let catalog = Self {
            db: Mutex::new(conn),
            readers,
            next_reader: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            counts: Remembered::new(COUNTS_KEPT),
            pages: Remembered::new(PAGES_KEPT),
            meta: MetaFiles::new(meta_root),
        };
        if opened != Opened::Existing {
            catalog.load_meta()?;
        }
        Ok((catalog, opened))
    }

    /// The writer: every change goes through it, and bumps the generation when it is
    /// taken and again when it is let go (a count read while the change was under way
    /// is then never taken for the new state).
    fn db(&self) -> Writer<'_> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        Writer {
            conn: self.db.lock().unwrap_or_else(|p| p.into_inner()),
            generation: &self.generation,
        }
    }

    /// A read connection, in turn.
    pub(crate) fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mirrors every metadata file into the index (a new or rebuilt index).
    fn load_meta(&self) -> Result<(), CatalogError> {
        let all = self.meta.all_live();
        let mut db = self.db();
        let tx = db.transaction()?;
        for (path, meta) in all {
            write_meta(&tx, &path, &meta)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Brings the index in step with the store's listing of every live file: new files
    /// are added (their facts to be read), changed ones read again, gone ones removed.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when the index cannot be written.
    pub fn reconcile(&self, live: &[LiveRow]) -> Result<Reconciled, CatalogError> {
        // Most passes find nothing new: they read, and leave the writer (and the counts
        // remembered for this generation) alone.
        if self.in_step(live)? {
            return Ok(Reconciled::default());
        }
        let mut db = self.db();
        let tx = db.transaction()?;
        let mut known: HashMap<String, (i64, i64, Option<String>)> = HashMap::new();
        {
            let mut stmt = tx.prepare("SELECT path, size, modified_ns, sha256 FROM files")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
            })?;
            for row in rows {
                let (path, stamp) = row?;
                known.insert(path, stamp);
            }
        }
        let mut done = Reconciled::default();
        for row in live {
            let key = row.path.to_string();
            let size = i64::try_from(row.size).unwrap_or(i64::MAX);
            let modified = nanos(row.modified);
            let sha = row.sha256.map(|s| s.to_hex());
            match known.remove(&key) {
                None => {
                    insert_live(&tx, row)?;
                    let meta = self.meta.get(Side::Live, &row.path)?;
                    if !meta.is_empty() {
                        write_meta(&tx, &row.path, &meta)?;
                    }
                    done.added.push(row.path.clone());
                }
                Some((s, m, _)) if s != size || m != modified => {
                    tx.execute(
                        "UPDATE files SET size = ?2, modified_ns = ?3, sha256 = ?4, tensor_sha256 = NULL,
                         state = ?5, facts = NULL, base_model = NULL, kind = NULL WHERE path = ?1",
                        params![key, size, modified, sha, PENDING],
                    )?;
                    refresh_search(&tx, &key)?;
                    done.changed.push(row.path.clone());
                }
                Some((_, _, known_sha)) if sha.is_some() && known_sha != sha => {
                    tx.execute(
                        "UPDATE files SET sha256 = ?2 WHERE path = ?1",
                        params![key, sha],
                    )?;
                }
                Some(_) => {}
            }
        }
        for path in known.keys() {
            delete_row(&tx, path)?;
            if let Ok(path) = PartialPath::parse(path) {
                done.removed.push(path);
            }
        }
        tx.commit()?;
        Ok(done)
    }

    /// Whether the index already holds exactly `live` (paths, sizes, times, known hashes).
    fn in_step(&self, live: &[LiveRow]) -> Result<bool, CatalogError> {
        let db = self.reader();
        let mut stmt = db.prepare("SELECT path, size, modified_ns, sha256 FROM files")?;
        let mut known: HashMap<String, (i64, i64, Option<String>)> = HashMap::new();
        for row in stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })? {
            let (path, stamp) = row?;
            known.insert(path, stamp);
        }
        if known.len() != live.len() {
            return Ok(false);
        }
        Ok(live.iter().all(|row| {
            known
                .get(&row.path.to_string())
                .is_some_and(|(size, modified, sha)| {
                    *size == i64::try_from(row.size).unwrap_or(i64::MAX)
                        && *modified == nanos(row.modified)
                        && (row.sha256.is_none() || *sha == row.sha256.map(|s| s.to_hex()))
                })
        }))
    }

    /// A file the service just stored (published, restored, installed): in the index at
    /// once, with the tensor hash when known; its facts are read next.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when the index cannot be written.
    pub fn added(&self, row: &LiveRow, tensor_sha256: Option<Sha256>) -> Result<(), CatalogError> {
        let meta = self.meta.get(Side::Live, &row.path)?;
        let mut db = self.db();
        let tx = db.transaction()?;
        insert_live(&tx, row)?;
        tx.execute(
            "UPDATE files SET tensor_sha256 = ?2 WHERE path = ?1",
            params![row.path.to_string(), tensor_sha256.map(|s| s.to_hex())],
        )?;
        write_meta(&tx, &row.path, &meta)?;
        tx.commit()?;
        Ok(())
    }

    /// A file moved into the bin (at `bin_path`): out of the index; its metadata goes
    /// with it.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when the metadata cannot be moved, [`CatalogError::Index`].
    pub fn binned(&self, path: &PartialPath, bin_path: &PartialPath) -> Result<(), CatalogError> {
        self.meta
            .relocate((Side::Live, path), (Side::Bin, bin_path))?;
        self.forget(path)
    }

    /// A binned file restored to `path`: its metadata comes back with it.
    ///
    /// # Errors
    ///
    /// As [`Catalog::binned`].
    pub fn restored(&self, bin_path: &PartialPath, row: &LiveRow) -> Result<(), CatalogError> {
        self.meta
            .relocate((Side::Bin, bin_path), (Side::Live, &row.path))?;
        self.added(row, None)
    }

    /// A binned file purged for good: its metadata with it.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when the metadata cannot be removed.
    pub fn purged(&self, bin_path: &PartialPath) -> Result<(), CatalogError> {
        self.meta.remove(Side::Bin, bin_path)
    }

    /// The metadata of a binned file comes back with it to `path` (the caller then adds
    /// the file with [`Catalog::added`]).
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when the metadata cannot be moved.
    pub fn relocate_from_bin(
        &self,
        bin_path: &PartialPath,
        path: &PartialPath,
    ) -> Result<(), CatalogError> {
        self.meta
            .relocate((Side::Bin, bin_path), (Side::Live, path))
    }

    /// Forgets the metadata of binned files that are no longer in the bin (purged, by a
    /// request or the retention), keeping that of `binned`.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when a metadata file cannot be removed.
    pub fn keep_bin_meta(&self, binned: &[PartialPath]) -> Result<(), CatalogError> {
        let keep: std::collections::HashSet<&PartialPath> = binned.iter().collect();
        for path in self.meta.all(Side::Bin) {
            if !keep.contains(&path) {
                self.meta.remove(Side::Bin, &path)?;
            }
        }
        Ok(())
    }

    fn forget(&self, path: &PartialPath) -> Result<(), CatalogError> {
        delete_row(&self.db(), &path.to_string())
    }

    /// Files whose header is still to be read, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when the index cannot be read.
    pub fn unread(&self, limit: usize) -> Result<Vec<Unread>, CatalogError> {
        let db = self.reader();
        let mut stmt =
            db.prepare("SELECT path, size, modified_ns FROM files WHERE state = ?1 LIMIT ?2")?;
        let rows = stmt.query_map(params![PENDING, limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (path, size, modified) = row?;
            if let Ok(path) = PartialPath::parse(&path) {
                out.push(Unread {
                    path,
                    size: u64::try_from(size).unwrap_or(0),
                    modified_ns: i128::from(modified),
                });
            }
        }
        Ok(out)
    }

    /// Records what reading `file`'s header gave, unless the file changed since it was
    /// listed (then it is read again later).
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when the index cannot be written.
    pub fn read(&self, file: &Unread, read: &Read) -> Result<(), CatalogError> {
        let (state, facts) = match read {
            Read::Pending => return Ok(()),
            Read::Facts(f) => (READ, Some(f)),
            Read::Unreadable => (UNREADABLE, None),
        };
        let json = facts.map(serde_json::to_string).transpose().ok().flatten();
        let key = file.path.to_string();
        let db = self.db();
        db.execute(
            "UPDATE files SET state = ?4, facts = ?5, base_model = ?6, kind = ?7
             WHERE path = ?1 AND size = ?2 AND modified_ns = ?3",
            params![
                key,
                i64::try_from(file.size).unwrap_or(i64::MAX),
                i64::try_from(file.modified_ns).unwrap_or(i64::MAX),
                state,
                json,
                facts.map(|f| f.base_model.clone()),
                facts.map(|f| f.kind.clone()),
            ],
        )?;
        refresh_search(&db, &key)?;
        Ok(())
    }

    /// The user's metadata of the live file `path`.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when it cannot be read.
    pub fn meta(&self, path: &PartialPath) -> Result<UserMeta, CatalogError> {
        self.meta.get(Side::Live, path)
    }

    /// Applies `patch` to the metadata of the live file `path` (the caller checked that
    /// it is live): written to its metadata file first, then mirrored into the index.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Invalid`] beyond the limits (nothing is written);
    /// [`CatalogError::Io`] when the metadata file cannot be written.
    pub fn patch_meta(
        &self,
        path: &PartialPath,
        patch: MetaPatch,
    ) -> Result<UserMeta, CatalogError> {
        let meta = self.meta.get(Side::Live, path)?.patched(patch)?;
        self.meta.put(Side::Live, path, &meta)?;
        let db = self.db();
        write_meta(&db, path, &meta)?;
        Ok(meta)
    }

    /// Sets the metadata of the live file `path` to `meta` as it is elsewhere (fleet
    /// mode: the bucket's, the truth there): its file here, then the index.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when the metadata file cannot be written.
    pub fn set_meta(&self, path: &PartialPath, meta: &UserMeta) -> Result<(), CatalogError> {
        self.meta.put(Side::Live, path, meta)?;
        let db = self.db();
        write_meta(&db, path, meta)
    }
}
