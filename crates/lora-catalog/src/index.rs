//! The index's SQL side: its schema, opening and checking it, the writer's guard, and
//! the statements that write one file's row, its search text and its tags.

use std::sync::atomic::{AtomicU64, Ordering};

use camino::Utf8Path;
use lora_core::{PartialPath, Sha256};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use crate::error::CatalogError;
use crate::meta::UserMeta;
use crate::row::{Entry, Facts, LiveRow, Read};

/// The schema's version: an index written by another is rebuilt.
pub(crate) const SCHEMA_VERSION: i64 = 2;

pub(crate) const SCHEMA: &str = "
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

pub(crate) const PENDING: i64 = 0;
pub(crate) const READ: i64 = 1;
pub(crate) const UNREADABLE: i64 = 2;

pub(crate) fn nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// The writer connection while a change holds it.
pub(crate) struct Writer<'a> {
    pub(crate) conn: std::sync::MutexGuard<'a, Connection>,
    pub(crate) generation: &'a AtomicU64,
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
pub(crate) enum Damage {
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
    pub(crate) fn into_error(self) -> CatalogError {
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
pub(crate) fn connect(index: &Utf8Path) -> Result<Connection, Damage> {
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

pub(crate) const COLUMNS: &str =
    "path, size, modified_ns, sha256, tensor_sha256, state, facts, meta";

/// A row of [`COLUMNS`] as an entry (`None` for a row that no longer parses).
pub(crate) fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Entry>> {
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

pub(crate) fn insert_live(db: &Connection, row: &LiveRow) -> Result<(), CatalogError> {
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
pub(crate) fn write_meta(
    db: &Connection,
    path: &PartialPath,
    meta: &UserMeta,
) -> Result<(), CatalogError> {
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
pub(crate) fn refresh_search(db: &Connection, key: &str) -> Result<(), CatalogError> {
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
pub(crate) fn delete_row(db: &Connection, key: &str) -> Result<(), CatalogError> {
    db.execute(
        "DELETE FROM search WHERE rowid = (SELECT id FROM files WHERE path = ?1)",
        params![key],
    )?;
    db.execute("DELETE FROM files WHERE path = ?1", params![key])?;
    db.execute("DELETE FROM tags WHERE path = ?1", params![key])?;
    Ok(())
}
