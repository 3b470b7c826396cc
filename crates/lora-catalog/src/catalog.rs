//! The index: one SQLite database under the data directory, a cache of the files, their
//! headers and the metadata files, rebuilt from them whenever it is missing or damaged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{PartialPath, Sha256};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use time::OffsetDateTime;

use crate::error::CatalogError;
use crate::meta::{MetaFiles, MetaPatch, Side, UserMeta};
use crate::query::Query;
use crate::row::{Entry, Facts, LiveRow, Read};

/// The schema's version: an index written by another is rebuilt.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    size INTEGER NOT NULL,
    modified_ns INTEGER NOT NULL,
    sha256 TEXT,
    tensor_sha256 TEXT,
    state INTEGER NOT NULL,
    facts TEXT,
    base_model TEXT,
    kind TEXT,
    meta TEXT,
    search TEXT NOT NULL
);
CREATE VIRTUAL TABLE search USING fts5(text, tokenize = 'trigram');
CREATE TABLE tags (
    tag TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (tag, path)
) WITHOUT ROWID;
CREATE INDEX files_entity ON files (entity, path);
CREATE INDEX files_name ON files (name_lower, path);
CREATE INDEX files_modified ON files (modified_ns, path);
CREATE INDEX files_size ON files (size, path);
CREATE INDEX files_base_model ON files (base_model, modified_ns);
CREATE INDEX files_sha256 ON files (sha256);
CREATE INDEX files_tensor_sha256 ON files (tensor_sha256);
CREATE INDEX files_state ON files (state);
CREATE INDEX tags_path ON tags (path);
";

const PENDING: i64 = 0;
const READ: i64 = 1;
const UNREADABLE: i64 = 2;

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

/// A page of entries and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The entries of the page.
    pub items: Vec<Entry>,
    /// How many entries match, over all pages.
    pub total: usize,
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
    generation: AtomicU64,
    counts: Mutex<HashMap<String, (u64, usize)>>,
    pages: Mutex<HashMap<String, (u64, Page)>>,
    meta: MetaFiles,
}

fn nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
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
            counts: Mutex::new(HashMap::new()),
            pages: Mutex::new(HashMap::new()),
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
    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
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

    /// The page of entries `query` asks for.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when the index cannot be read.
    pub fn query(&self, query: &Query) -> Result<Page, CatalogError> {
        let (filter, params) = query.filter();
        let generation = self.generation.load(Ordering::SeqCst);
        // The same page of an unchanged index (a pipeline polling its filter): as
        // remembered.
        let page_key = format!(
            "{filter}\u{0}{params:?}\u{0}{}\u{0}{}\u{0}{}",
            query.order_by(),
            query.limit,
            query.offset
        );
        {
            let pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, page)) = pages.get(&page_key).filter(|(g, _)| *g == generation) {
                return Ok(page.clone());
            }
        }
        let key = format!("{filter}\u{0}{params:?}");
        let remembered = {
            let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            counts
                .get(&key)
                .filter(|(g, _)| *g == generation)
                .map(|(_, n)| *n)
        };
        let db = self.reader();
        let total = match remembered {
            Some(total) => total,
            None => {
                let total: i64 = db.query_row(
                    &format!("SELECT count(*) FROM files {filter}"),
                    params_from_iter(params.iter()),
                    |r| r.get(0),
                )?;
                let total = usize::try_from(total).unwrap_or(0);
                let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
                if counts.len() >= COUNTS_KEPT {
                    counts.clear();
                }
                counts.insert(key, (generation, total));
                total
            }
        };
        let mut page_params = params;
        page_params.push((query.limit as i64).into());
        page_params.push((query.offset as i64).into());
        let sql = format!(
            "SELECT {COLUMNS} FROM files {filter} {} LIMIT ? OFFSET ?",
            query.order_by()
        );
        let mut stmt = db.prepare(&sql)?;
        let items = stmt
            .query_map(params_from_iter(page_params.iter()), entry)?
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()?;
        let page = Page { items, total };
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        if pages.len() >= PAGES_KEPT {
            pages.clear();
        }
        pages.insert(page_key, (generation, page.clone()));
        Ok(page)
    }

    /// The entries of `paths` that the index holds, by path.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when the index cannot be read.
    pub fn entries(
        &self,
        paths: &[PartialPath],
    ) -> Result<HashMap<PartialPath, Entry>, CatalogError> {
        let mut out = HashMap::new();
        if paths.is_empty() {
            return Ok(out);
        }
        let db = self.reader();
        for chunk in paths.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut stmt = db.prepare(&format!(
                "SELECT {COLUMNS} FROM files WHERE path IN ({marks})"
            ))?;
            let keys: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            for e in stmt.query_map(params_from_iter(keys.iter()), entry)? {
                if let Some(e) = e? {
                    out.insert(e.live.path.clone(), e);
                }
            }
        }
        Ok(out)
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

    /// How many files the index holds, and how many still wait for their header.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when the index cannot be read.
    pub fn counts(&self) -> Result<(usize, usize), CatalogError> {
        let db = self.reader();
        let (all, unread): (i64, i64) = db.query_row(
            "SELECT count(*), coalesce(sum(state = 0), 0) FROM files",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((
            usize::try_from(all).unwrap_or(0),
            usize::try_from(unread).unwrap_or(0),
        ))
    }
}

/// The writer connection while a change holds it.
struct Writer<'a> {
    conn: std::sync::MutexGuard<'a, Connection>,
    generation: &'a AtomicU64,
}

impl std::ops::Deref for Writer<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Writer<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// Why an index cannot be used as it is.
#[derive(Debug)]
enum Damage {
    Sqlite(rusqlite::Error),
    Check(String),
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Sqlite(e) => write!(f, "{e}"),
            Damage::Check(why) => f.write_str(why),
        }
    }
}

impl Damage {
    fn into_error(self) -> CatalogError {
        match self {
            Damage::Sqlite(e) => CatalogError::Index(e),
            Damage::Check(why) => CatalogError::Invalid {
                field: "index",
                reason: why,
            },
        }
    }
}

/// Opens and checks the database, creating the schema in an empty one.
fn connect(index: &Utf8Path) -> Result<Connection, Damage> {
    let conn = Connection::open(index).map_err(Damage::Sqlite)?;
    // A cache: losing the last transactions to a crash costs a re-read, not data.
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .map_err(Damage::Sqlite)?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(Damage::Sqlite)?;
    if check != "ok" {
        return Err(Damage::Check(check));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(Damage::Sqlite)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(Damage::Sqlite)?;
    match (tables, version) {
        (0, _) => {
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(Damage::Sqlite)?;
            Ok(conn)
        }
        (_, SCHEMA_VERSION) => Ok(conn),
        (_, other) => Err(Damage::Check(format!(
            "schema version {other}, not {SCHEMA_VERSION}"
        ))),
    }
}

const COLUMNS: &str = "path, size, modified_ns, sha256, tensor_sha256, state, facts, meta";

/// A row of [`COLUMNS`] as an entry (`None` for a row that no longer parses).
fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Entry>> {
    let path: String = r.get(0)?;
    let Ok(path) = PartialPath::parse(&path) else {
        return Ok(None);
    };
    let sha = |i: usize| -> rusqlite::Result<Option<Sha256>> {
        Ok(r.get::<_, Option<String>>(i)?
            .and_then(|s| Sha256::parse_hex(&s).ok()))
    };
    let modified: i64 = r.get(2)?;
    let read = match r.get::<_, i64>(5)? {
        READ => r
            .get::<_, Option<String>>(6)?
            .and_then(|j| serde_json::from_str::<Facts>(&j).ok())
            .map_or(Read::Unreadable, Read::Facts),
        UNREADABLE => Read::Unreadable,
        _ => Read::Pending,
    };
    let meta = r
        .get::<_, Option<String>>(7)?
        .and_then(|j| serde_json::from_str::<UserMeta>(&j).ok())
        .unwrap_or_default();
    Ok(Some(Entry {
        live: LiveRow {
            path,
            size: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            modified: OffsetDateTime::from_unix_timestamp_nanos(i128::from(modified))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            sha256: sha(3)?,
        },
        tensor_sha256: sha(4)?,
        read,
        meta,
    }))
}

fn insert_live(db: &Connection, row: &LiveRow) -> Result<(), CatalogError> {
    let key = row.path.to_string();
    delete_row(db, &key)?;
    db.execute(
        "INSERT INTO files (path, entity, name_lower, size, modified_ns, sha256, state, search)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key,
            row.path.entity().as_str(),
            row.path.file_name().to_lowercase(),
            i64::try_from(row.size).unwrap_or(i64::MAX),
            nanos(row.modified),
            row.sha256.map(|s| s.to_hex()),
            PENDING,
            row.path.file_name().to_lowercase(),
        ],
    )?;
    Ok(())
}

/// Mirrors `meta` into the row (if the index has it) and the tag table.
fn write_meta(db: &Connection, path: &PartialPath, meta: &UserMeta) -> Result<(), CatalogError> {
    let key = path.to_string();
    let json = (!meta.is_empty())
        .then(|| serde_json::to_string(meta).ok())
        .flatten();
    db.execute(
        "UPDATE files SET meta = ?2 WHERE path = ?1",
        params![key, json],
    )?;
    db.execute("DELETE FROM tags WHERE path = ?1", params![key])?;
    for tag in meta.tags() {
        db.execute(
            "INSERT OR IGNORE INTO tags (tag, path) VALUES (?1, ?2)",
            params![tag.to_lowercase(), key],
        )?;
    }
    refresh_search(db, &key)
}

/// Recomputes what `q` searches: the name, both sets of trigger words, the tags and the
/// description, lower-case.
fn refresh_search(db: &Connection, key: &str) -> Result<(), CatalogError> {
    let row: Option<(String, Option<String>, Option<String>)> = db
        .query_row(
            "SELECT name_lower, facts, meta FROM files WHERE path = ?1",
            params![key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((name, facts, meta)) = row else {
        return Ok(());
    };
    let mut text = vec![name];
    if let Some(f) = facts.and_then(|j| serde_json::from_str::<Facts>(&j).ok()) {
        text.extend(f.trigger_words);
    }
    if let Some(m) = meta.and_then(|j| serde_json::from_str::<UserMeta>(&j).ok()) {
        text.extend(m.trigger_words().iter().cloned());
        text.extend(m.tags().iter().cloned());
        text.extend(m.description().map(str::to_owned));
    }
    let text = text.join("\n").to_lowercase();
    db.execute(
        "UPDATE files SET search = ?2 WHERE path = ?1",
        params![key, text],
    )?;
    db.execute(
        "DELETE FROM search WHERE rowid = (SELECT id FROM files WHERE path = ?1)",
        params![key],
    )?;
    db.execute(
        "INSERT INTO search (rowid, text) SELECT id, ?2 FROM files WHERE path = ?1",
        params![key, text],
    )?;
    Ok(())
}

/// Removes a file's row, its search text and its tags.
fn delete_row(db: &Connection, key: &str) -> Result<(), CatalogError> {
    db.execute(
        "DELETE FROM search WHERE rowid = (SELECT id FROM files WHERE path = ?1)",
        params![key],
    )?;
    db.execute("DELETE FROM files WHERE path = ?1", params![key])?;
    db.execute("DELETE FROM tags WHERE path = ?1", params![key])?;
    Ok(())
}
