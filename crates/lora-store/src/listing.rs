//! Which LoRA files each folder holds, without rescanning folders for changes the store
//! made itself.
//!
//! A folder's sorted name list is cached with the folder's mtime. The store applies its
//! own publishes, deletes, restores and purges to the list directly (and notes the mtime
//! they left), so a stream of uploads never forces a rescan. Changes made by others
//! (files placed or removed by hand) show as an mtime the store cannot explain, and make
//! the next listing rescan the folder.
//!
//! An mtime cannot tell two changes within one tick of the filesystem clock apart, so,
//! like git's "racy" index entries, a list is only *verified* by a scan made while the
//! folder's mtime was older than [`RACY_WINDOW`]; until then (a change by others could
//! hide behind one of ours) the folder is rescanned every [`VERIFY_EVERY`]. A file placed
//! by hand is therefore listed within about a second, even while uploads stream in.

use std::collections::HashMap;
use std::fs;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{EntityType, Extension};

use crate::StoreError;
use crate::error::io_err;

/// How old a folder's mtime must be before a scan of it is trusted.
const RACY_WINDOW: Duration = Duration::from_secs(2);
/// How often an unverified list is checked against the folder.
const VERIFY_EVERY: Duration = Duration::from_secs(1);

/// A change the store made to a folder itself.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// A file by this name appeared.
    Added(String),
    /// The file by this name went away.
    Removed(String),
}

#[derive(Debug)]
struct Snapshot {
    names: Arc<Vec<String>>,
    /// The folder's mtime as last explained: by a scan, or by one of the store's changes.
    explained: Option<SystemTime>,
    /// Set when a scan made while the mtime was old saw exactly this mtime.
    verified: Option<SystemTime>,
    last_scan: Instant,
    /// A scan is running: changes made meanwhile are kept to apply on its result.
    scanning: Option<Vec<Change>>,
}

/// Which symbolic links a tree's listing shows: only what the other routes can act on.
#[derive(Debug, Clone)]
pub(crate) enum Links {
    /// Links that lead to a regular file inside this (canonical) root: the live folders,
    /// where a link is read through. A link leading elsewhere is not listed.
    LeadingInside(Utf8PathBuf),
    /// Every link, as an entry of its own, dangling or not: the bin, where a link is only
    /// ever moved or removed, never read through.
    AsEntries,
}

/// Per-entity cache of sorted file names, for one tree (live or bin).
#[derive(Debug)]
pub(crate) struct DirCache {
    links: Links,
    entries: Mutex<HashMap<EntityType, Snapshot>>,
}

impl DirCache {
    /// An empty cache whose listings show `links` as described.
    pub(crate) fn new(links: Links) -> Self {
        Self {
            links,
            entries: Mutex::default(),
        }
    }

    /// The sorted names of the LoRA files in `dir` (the folder of `entity`).
    pub(crate) fn names(
        &self,
        entity: EntityType,
        dir: &Utf8Path,
    ) -> Result<Arc<Vec<String>>, StoreError> {
        let mtime = match fs::metadata(dir) {
            Ok(meta) => meta.modified().map_err(io_err("stat", dir))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Arc::default()),
            Err(e) => return Err(StoreError::io("stat", dir, e)),
        };
        {
            let mut entries = self.lock();
            if let Some(snap) = entries.get_mut(&entity) {
                let fresh_enough = snap.verified == Some(mtime)
                    || (snap.explained == Some(mtime) && snap.last_scan.elapsed() < VERIFY_EVERY);
                // While another request rescans, the list it will replace is still the
                // best answer: nobody waits for a folder read.
                if fresh_enough || snap.scanning.is_some() {
                    return Ok(Arc::clone(&snap.names));
                }
                snap.scanning = Some(Vec::new());
            }
        }
        let scanned = scan(dir, &self.links);
        let mut entries = self.lock();
        let mut names = match scanned {
            Ok(names) => names,
            Err(e) => {
                if let Some(snap) = entries.get_mut(&entity) {
                    snap.scanning = None;
                }
                return Err(e);
            }
        };
        let during = entries
            .get_mut(&entity)
            .and_then(|s| s.scanning.take())
            .unwrap_or_default();
        // Changes the store made while the folder was read may or may not be in what was
        // read; applying them again settles it either way.
        for change in &during {
            apply(&mut names, change);
        }
        let old = SystemTime::now()
            .duration_since(mtime)
            .is_ok_and(|age| age > RACY_WINDOW);
        let names = Arc::new(names);
        entries.insert(
            entity,
            Snapshot {
                names: Arc::clone(&names),
                explained: during.is_empty().then_some(mtime),
                verified: (old && during.is_empty()).then_some(mtime),
                last_scan: Instant::now(),
                scanning: None,
            },
        );
        Ok(names)
    }

    /// Applies a change the store just made in `dir` (the folder of `entity`).
    pub(crate) fn changed(&self, entity: EntityType, dir: &Utf8Path, change: Change) {
        let name = match &change {
            Change::Added(n) | Change::Removed(n) => n,
        };
        if !listable(name) {
            return;
        }
        let mut entries = self.lock();
        let Some(snap) = entries.get_mut(&entity) else {
            return; // never listed: the first listing scans.
        };
        apply(Arc::make_mut(&mut snap.names), &change);
        // Read under the lock, so another change of the store's cannot slip between the
        // two. A change by others in the same instant is caught by the next verification.
        snap.explained = fs::metadata(dir).and_then(|m| m.modified()).ok();
        if let Some(during) = snap.scanning.as_mut() {
            during.push(change);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EntityType, Snapshot>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn apply(names: &mut Vec<String>, change: &Change) {
    match change {
        Change::Added(name) => {
            if let Err(at) = names.binary_search(name) {
                names.insert(at, name.clone());
            }
        }
        Change::Removed(name) => {
            if let Ok(at) = names.binary_search(name) {
                names.remove(at);
            }
        }
    }
}

/// Whether a name is one listings show: not hidden, with a LoRA extension.
fn listable(name: &str) -> bool {
    !name.starts_with('.') && Extension::of_file_name(name).is_some()
}

/// Reads `dir`: regular files and the links `links` admits, with a listable name that is
/// valid UTF-8, sorted bytewise.
fn scan(dir: &Utf8Path, links: &Links) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("read", dir))? {
        let entry = entry.map_err(io_err("read", dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !listable(&name) {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let listed = kind.is_file()
            || (kind.is_symlink()
                && match links {
                    Links::AsEntries => true,
                    Links::LeadingInside(root) => leads_inside(&entry.path(), root),
                });
        if listed {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Whether the link at `link` leads to a regular file inside `root` (canonical).
fn leads_inside(link: &std::path::Path, root: &Utf8Path) -> bool {
    fs::canonicalize(link).is_ok_and(|target| target.starts_with(root) && target.is_file())
}

/// A page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items on this page, in listing order.
    pub items: Vec<T>,
    /// How many items match, over all pages.
    pub total: usize,
}

/// One page over the folders of `entities` (in order): `names` gives each folder's sorted
/// names, `item` turns a name into an item (`None`: gone meanwhile, skipped).
pub(crate) fn page<T>(
    entities: &[EntityType],
    offset: usize,
    limit: usize,
    names: impl Fn(EntityType) -> Result<Arc<Vec<String>>, StoreError>,
    item: impl Fn(EntityType, &str) -> Option<T>,
) -> Result<Page<T>, StoreError> {
    let mut total = 0;
    let mut items = Vec::new();
    for &entity in entities {
        let names = names(entity)?;
        let start = offset.saturating_sub(total).min(names.len());
        total += names.len();
        let want = limit.saturating_sub(items.len());
        items.extend(
            names[start..]
                .iter()
                .take(want)
                .filter_map(|name| item(entity, name)),
        );
    }
    Ok(Page { items, total })
}

/// The folders a listing covers: one entity, or all of them.
pub(crate) fn entities(entity: Option<EntityType>) -> Vec<EntityType> {
    entity.map_or_else(|| EntityType::ALL.to_vec(), |e| vec![e])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_changes_apply_without_a_rescan_and_foreign_ones_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let root = camino::Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
        let cache = DirCache::new(Links::AsEntries);
        let e = EntityType::Styles;
        assert!(cache.names(e, &root).unwrap().is_empty());

        fs::write(root.join("a.pt"), b"x").unwrap();
        cache.changed(e, &root, Change::Added("a.pt".into()));
        fs::write(root.join("hidden-by-own.pt"), b"x").unwrap();
        // An own change, not yet applied, plus a foreign file: both are on disk; the list
        // shows the own change at once.
        assert!(cache.names(e, &root).unwrap().contains(&"a.pt".to_owned()));

        // A foreign file is listed at the latest once the list is verified again.
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let names = cache.names(e, &root).unwrap();
            if names.contains(&"hidden-by-own.pt".to_owned()) {
                break;
            }
            assert!(Instant::now() < deadline, "a foreign file was never listed");
            std::thread::sleep(Duration::from_millis(20));
        }

        fs::remove_file(root.join("a.pt")).unwrap();
        cache.changed(e, &root, Change::Removed("a.pt".into()));
        assert_eq!(*cache.names(e, &root).unwrap(), vec!["hidden-by-own.pt"]);
    }

    #[test]
    fn pages_run_across_folders() {
        let lists: HashMap<EntityType, Arc<Vec<String>>> = [
            (EntityType::Clothes, Arc::new(vec!["a".into(), "b".into()])),
            (EntityType::Styles, Arc::new(vec!["c".into()])),
        ]
        .into();
        let names = |e| Ok(lists.get(&e).cloned().unwrap_or_default());
        let item = |e: EntityType, n: &str| Some(format!("{e}/{n}"));
        let p = page(&EntityType::ALL, 1, 2, names, item).unwrap();
        assert_eq!(p.items, vec!["clothes/b", "styles/c"]);
        assert_eq!(p.total, 3);
    }
}
