//! The user's own metadata of a file (description, tags, trigger words, a preferred
//! weight): kept beside the weights, never in them (editing a header changes the file's
//! hash), as one small JSON file per file under the data directory. Those files are the
//! truth; the index only mirrors them, so a rebuilt index loses nothing.

use std::io::Write;

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::PartialPath;
use serde::{Deserialize, Serialize};

use crate::error::CatalogError;

/// How much user metadata one file may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits;

impl Limits {
    /// Characters in a description.
    pub const DESCRIPTION: usize = 2000;
    /// Tags on a file.
    pub const TAGS: usize = 32;
    /// Characters in a tag.
    pub const TAG: usize = 64;
    /// Trigger words on a file.
    pub const TRIGGER_WORDS: usize = 20;
    /// Characters in a trigger word or phrase.
    pub const TRIGGER_WORD: usize = 200;
    /// The largest |preferred weight|.
    pub const WEIGHT: f64 = 10.0;
}

/// A file's user metadata; every value within [`Limits`] (tags trimmed, non-empty and
/// unique regardless of case).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawMeta")]
pub struct UserMeta {
    description: Option<String>,
    tags: Vec<String>,
    trigger_words: Vec<String>,
    preferred_weight: Option<f64>,
}

#[derive(Deserialize)]
struct RawMeta {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    trigger_words: Vec<String>,
    #[serde(default)]
    preferred_weight: Option<f64>,
}

impl TryFrom<RawMeta> for UserMeta {
    type Error = CatalogError;

    fn try_from(raw: RawMeta) -> Result<Self, CatalogError> {
        UserMeta::new(
            raw.description,
            raw.tags,
            raw.trigger_words,
            raw.preferred_weight,
        )
    }
}

/// A change to a file's metadata: `None` leaves a field as it is; `Some(None)` clears a
/// description or weight, an empty list clears tags or trigger words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetaPatch {
    /// The new description.
    pub description: Option<Option<String>>,
    /// The new tags.
    pub tags: Option<Vec<String>>,
    /// The new trigger words.
    pub trigger_words: Option<Vec<String>>,
    /// The new preferred weight.
    pub preferred_weight: Option<Option<f64>>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Trimmed, non-empty, unique (case-insensitive) words within the limits.
fn words(
    field: &'static str,
    list: Vec<String>,
    count: usize,
    length: usize,
) -> Result<Vec<String>, CatalogError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for w in list {
        let w = w.trim().to_owned();
        if w.is_empty() || !seen.insert(w.to_lowercase()) {
            continue;
        }
        if w.chars().count() > length {
            return Err(invalid(field, format!("each at most {length} characters")));
        }
        if w.chars().any(char::is_control) {
            return Err(invalid(field, "no control characters"));
        }
        out.push(w);
    }
    if out.len() > count {
        return Err(invalid(field, format!("at most {count}")));
    }
    Ok(out)
}

impl UserMeta {
    /// Metadata from its parts, each checked against [`Limits`].
    ///
    /// # Errors
    ///
    /// [`CatalogError::Invalid`] naming the field beyond its limit.
    pub fn new(
        description: Option<String>,
        tags: Vec<String>,
        trigger_words: Vec<String>,
        preferred_weight: Option<f64>,
    ) -> Result<Self, CatalogError> {
        let description = description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > Limits::DESCRIPTION)
        {
            return Err(invalid(
                "description",
                format!("at most {} characters", Limits::DESCRIPTION),
            ));
        }
        if preferred_weight.is_some_and(|w| !w.is_finite() || w.abs() > Limits::WEIGHT) {
            return Err(invalid(
                "preferred_weight",
                format!("a number from -{0} to {0}", Limits::WEIGHT),
            ));
        }
        Ok(Self {
            description,
            tags: words("tags", tags, Limits::TAGS, Limits::TAG)?,
            trigger_words: words(
                "trigger_words",
                trigger_words,
                Limits::TRIGGER_WORDS,
                Limits::TRIGGER_WORD,
            )?,
            preferred_weight,
        })
    }

    /// This metadata with `patch` applied.
    ///
    /// # Errors
    ///
    /// As [`UserMeta::new`].
    pub fn patched(&self, patch: MetaPatch) -> Result<Self, CatalogError> {
        Self::new(
            patch
                .description
                .unwrap_or_else(|| self.description.clone()),
            patch.tags.unwrap_or_else(|| self.tags.clone()),
            patch
                .trigger_words
                .unwrap_or_else(|| self.trigger_words.clone()),
            patch.preferred_weight.unwrap_or(self.preferred_weight),
        )
    }

    /// The description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The tags.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// The user's trigger words.
    pub fn trigger_words(&self) -> &[String] {
        &self.trigger_words
    }

    /// The weight the user prefers the LoRA at.
    pub fn preferred_weight(&self) -> Option<f64> {
        self.preferred_weight
    }

    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Where a file's metadata lives: beside a live file, or beside a binned one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Under `models/loras`.
    Live,
    /// In the recycle bin.
    Bin,
}

/// The metadata files: `{root}/live/{entity}/{name}.json` and `{root}/bin/…`.
#[derive(Debug, Clone)]
pub struct MetaFiles {
    root: Utf8PathBuf,
}

impl MetaFiles {
    /// Metadata files under `root` (made on first write).
    pub fn new(root: impl Into<Utf8PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, side: Side, path: &PartialPath) -> Utf8PathBuf {
        let side = match side {
            Side::Live => "live",
            Side::Bin => "bin",
        };
        self.root
            .join(side)
            .join(path.entity().as_str())
            .join(format!("{}.json", path.file_name()))
    }

    /// The metadata kept for `path`; empty when none is.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when it cannot be read. A damaged file reads as empty (and is
    /// logged): its owner sees it gone rather than an error on every listing.
    pub fn get(&self, side: Side, path: &PartialPath) -> Result<UserMeta, CatalogError> {
        let file = self.path(side, path);
        match std::fs::read(&file) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, file = %file, "unreadable metadata file; read as empty");
                UserMeta::default()
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserMeta::default()),
            Err(e) => Err(CatalogError::io("read", file)(e)),
        }
    }

    /// Keeps `meta` for `path` (written whole, then renamed into place and fsynced);
    /// empty metadata removes the file.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when it cannot be written.
    pub fn put(&self, side: Side, path: &PartialPath, meta: &UserMeta) -> Result<(), CatalogError> {
        let file = self.path(side, path);
        if meta.is_empty() {
            return self.remove(side, path);
        }
        let dir = file.parent().unwrap_or(&self.root).to_owned();
        std::fs::create_dir_all(&dir).map_err(CatalogError::io("create", &dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(CatalogError::io("create a file in", &dir))?;
        let json =
            serde_json::to_vec(meta).map_err(|e| CatalogError::io("encode", &file)(e.into()))?;
        tmp.write_all(&json)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(CatalogError::io("write", &file))?;
        tmp.persist(&file)
            .map_err(|e| CatalogError::io("rename into", &file)(e.error))?;
        sync_dir(&dir);
        Ok(())
    }

    /// Forgets the metadata of `path`.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when it cannot be removed.
    pub fn remove(&self, side: Side, path: &PartialPath) -> Result<(), CatalogError> {
        let file = self.path(side, path);
        match std::fs::remove_file(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CatalogError::io("remove", file)(e)),
        }
    }

    /// Moves the metadata of `from` to `to` (a file going into the bin, or back): a
    /// rename, so it is never in both places or neither.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when it cannot be moved.
    pub fn relocate(
        &self,
        (from_side, from): (Side, &PartialPath),
        (to_side, to): (Side, &PartialPath),
    ) -> Result<(), CatalogError> {
        let source = self.path(from_side, from);
        if !source.exists() {
            return Ok(());
        }
        let target = self.path(to_side, to);
        let dir = target.parent().unwrap_or(&self.root).to_owned();
        std::fs::create_dir_all(&dir).map_err(CatalogError::io("create", &dir))?;
        std::fs::rename(&source, &target).map_err(CatalogError::io("move", &source))?;
        sync_dir(&dir);
        Ok(())
    }

    /// Every file one side keeps metadata for.
    pub(crate) fn all(&self, side: Side) -> Vec<PartialPath> {
        let mut out = Vec::new();
        let folder = self.root.join(match side {
            Side::Live => "live",
            Side::Bin => "bin",
        });
        for entity in lora_core::EntityType::ALL {
            let Ok(files) = std::fs::read_dir(folder.join(entity.as_str())) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".json")
                    && let Ok(path) = PartialPath::from_parts(entity, stem)
                {
                    out.push(path);
                }
            }
        }
        out
    }

    /// Every live file's metadata (for rebuilding the index).
    pub(crate) fn all_live(&self) -> Vec<(PartialPath, UserMeta)> {
        self.all(Side::Live)
            .into_iter()
            .filter_map(|path| {
                let meta = self.get(Side::Live, &path).ok()?;
                (!meta.is_empty()).then_some((path, meta))
            })
            .collect()
    }
}

fn sync_dir(dir: &Utf8Path) {
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(error = %e, dir = %dir, "could not fsync a metadata folder");
    }
}
