//! The one no-replace rename loop: publish, delete (into the bin) and restore all move a
//! file into a folder under the first free of a list of names, never replacing anything.

use std::fs;
use std::io;

use camino::{Utf8Path, Utf8PathBuf};

use crate::fsops::rename_noreplace;

/// What to do when the name an upload wants is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnClash {
    /// Take the first free of `stem_v2.ext`, `stem_v3.ext`, …
    Version,
    /// Refuse with [`crate::StoreError::AlreadyExists`].
    Refuse,
}

/// Where a file landed.
#[derive(Debug)]
pub(crate) struct Placed<C> {
    /// The name that was free.
    pub(crate) name: C,
    /// Its absolute path.
    pub(crate) path: Utf8PathBuf,
}

/// Why a file could not be placed.
#[derive(Debug)]
pub(crate) enum PlaceError<C> {
    /// The first name is taken and the caller refused versions (or every name is taken).
    Taken(C),
    /// The file to move is gone (someone else moved or removed it first).
    SourceGone,
    /// Any other failure of the rename.
    Io(io::Error),
}

/// Renames `from` to `dir/{name}` for the first `name` of `names` that is free; with
/// [`OnClash::Refuse`] only the first name is tried. A missing `dir` is created once (it
/// was removed by other means) as long as `from` still exists; its parent is not: a
/// missing store is an outage, not something to rebuild.
pub(crate) fn place<C: AsRef<str> + Clone>(
    from: &Utf8Path,
    dir: &Utf8Path,
    names: impl IntoIterator<Item = C>,
    on_clash: OnClash,
) -> Result<Placed<C>, PlaceError<C>> {
    let mut names = names.into_iter();
    let Some(first) = names.next() else {
        return Err(PlaceError::Io(io::ErrorKind::InvalidInput.into()));
    };
    let mut recreated = false;
    let mut candidate = first.clone();
    loop {
        let target = dir.join(candidate.as_ref());
        match rename_noreplace(from, &target) {
            Ok(()) => {
                return Ok(Placed {
                    name: candidate,
                    path: target,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if on_clash == OnClash::Refuse {
                    return Err(PlaceError::Taken(first));
                }
                match names.next() {
                    Some(next) => candidate = next,
                    None => return Err(PlaceError::Taken(first)),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if fs::symlink_metadata(from).is_err() {
                    return Err(PlaceError::SourceGone);
                }
                if recreated {
                    return Err(PlaceError::Io(e));
                }
                fs::create_dir(dir).map_err(PlaceError::Io)?;
                recreated = true;
            }
            Err(e) => return Err(PlaceError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8(p: &std::path::Path) -> Utf8PathBuf {
        Utf8PathBuf::from_path_buf(p.to_path_buf()).unwrap()
    }

    #[test]
    fn takes_the_first_free_name_and_replaces_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = utf8(dir.path());
        fs::write(root.join("a"), b"old").unwrap();
        fs::write(root.join("src"), b"new").unwrap();
        let placed = place(&root.join("src"), &root, ["a", "b"], OnClash::Version).unwrap();
        assert_eq!(placed.name, "b");
        assert_eq!(fs::read(root.join("a")).unwrap(), b"old");
        assert_eq!(fs::read(root.join("b")).unwrap(), b"new");
    }

    #[test]
    fn refuse_stops_at_the_first_clash_and_a_gone_source_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let root = utf8(dir.path());
        fs::write(root.join("a"), b"old").unwrap();
        fs::write(root.join("src"), b"new").unwrap();
        assert!(matches!(
            place(&root.join("src"), &root, ["a", "b"], OnClash::Refuse),
            Err(PlaceError::Taken("a"))
        ));
        assert!(matches!(
            place(&root.join("nothing"), &root, ["c"], OnClash::Version),
            Err(PlaceError::SourceGone)
        ));
        let placed = place(
            &root.join("src"),
            &root.join("gone"),
            ["c"],
            OnClash::Version,
        )
        .unwrap();
        assert_eq!(placed.path, root.join("gone/c"));
    }
}
