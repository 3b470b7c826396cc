//! Publishing: a staged upload becomes a live file, under its name or a free version of it.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use lora_core::{EntityType, PartialPath, SafeFileName};

use crate::hashes::Stamp;
use crate::listing::Change;
use crate::place::{OnClash, PlaceError, place};
use crate::{Published, StagedFile, Store, StoreError};

impl Store {
    /// Moves a staged file to `{entity}/{name}` (or its first free version, per `on_clash`)
    /// without ever replacing an existing file, then fsyncs the folder.
    ///
    /// Concurrent publishes of one name each get a distinct name ([`OnClash::Version`]) or
    /// exactly one succeeds ([`OnClash::Refuse`]). On error the staged file is removed.
    /// Once the file is in place the publish has taken effect: a failing folder fsync
    /// after that is logged and counted ([`crate::StorageHealth::durability_errors`]),
    /// not returned, so a client is never told "failed" about a file that is live.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`] for a taken name with [`OnClash::Refuse`];
    /// [`StoreError::Io`] or [`StoreError::StorageFull`] when the move fails.
    pub fn publish(
        &self,
        staged: StagedFile,
        entity: EntityType,
        name: &SafeFileName,
        on_clash: OnClash,
    ) -> Result<Published, StoreError> {
        let dir = self.layout.entity_dir(entity);
        // The published file's mode (the staging folder is 0700, so it is private still).
        staged
            .file
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(self.file_mode))
            .map_err(|e| StoreError::io("set the mode of", &staged.path, e))?;
        // A rename keeps size, mtime and inode: the stamp taken now is the live file's.
        let stamp = staged
            .file
            .as_file()
            .metadata()
            .map(|m| Stamp::of(&m))
            .map_err(|e| StoreError::io("stat", &staged.path, e))?;
        // The plain name is tried first. When it is taken, the search for a free version
        // starts at the remembered hint (see `versions`), or else skips the names the
        // listing cache knows to be taken, so the 2000th version costs what the 2nd does.
        // Both are only hints: the no-replace rename decides, so nothing is ever
        // overwritten. (With `OnClash::Refuse` only the plain name is tried.)
        let start = self.versions.start(entity, name.as_str());
        let later_versions = std::iter::once_with(|| match start.version {
            Some(_) => Arc::default(),
            None => self.dirs.names(entity, &dir).unwrap_or_default(),
        })
        .flat_map(|taken| {
            (start.version.unwrap_or(2)..=u32::MAX)
                .map(|n| name.version(n))
                .filter(move |c| {
                    taken
                        .binary_search_by(|n| n.as_str().cmp(c.as_str()))
                        .is_err()
                })
        });
        let candidates = std::iter::once(name.clone()).chain(later_versions);
        let placed = match place(&staged.path, &dir, candidates, on_clash) {
            Ok(placed) => placed,
            Err(PlaceError::Taken(first)) => {
                return Err(StoreError::AlreadyExists {
                    path: PartialPath::new(entity, first),
                });
            }
            Err(PlaceError::SourceGone) => {
                return Err(self.explain(StoreError::io(
                    "publish",
                    &staged.path,
                    std::io::ErrorKind::NotFound.into(),
                )));
            }
            Err(PlaceError::Io(e)) => {
                return Err(self.explain(StoreError::io("publish into", &dir, e)));
            }
        };
        // The file now lives under its final name: the staged file must not remove it.
        let StagedFile {
            file,
            len,
            sha256,
            tensor_sha256,
            ..
        } = staged;
        let _ = file.into_temp_path().keep();

        // From here the publish took effect: bookkeeping first, then the answer.
        let version = placed.name.version_number();
        if version > 1 {
            self.versions.took(entity, name.as_str(), start, version);
        }
        let partial_path = PartialPath::new(entity, placed.name.clone());
        self.hashes
            .record(&partial_path, stamp, sha256, tensor_sha256);
        self.dirs
            .changed(entity, &dir, Change::Added(placed.name.to_string()));
        self.durability.sync_dir_after(&dir, "a publish");
        Ok(Published {
            partial_path,
            path: placed.path,
            len,
            sha256,
            tensor_sha256,
        })
    }
}

impl Store {
    /// Places a staged file at exactly `path`, for a replica of a shared truth (fleet
    /// mode): a file already there is moved to the bin first, so nothing is lost, and the
    /// name is never versioned.
    ///
    /// # Errors
    ///
    /// As [`Store::publish`] with [`OnClash::Refuse`] (another writer took the name
    /// between the move and the publish), or as [`Store::delete`].
    pub fn install(&self, staged: StagedFile, path: &PartialPath) -> Result<Published, StoreError> {
        let target = self.layout.live_path(path);
        if std::fs::symlink_metadata(&target).is_ok() {
            match self.delete(path) {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let name =
            SafeFileName::from_client(path.file_name()).map_err(|_| StoreError::InvalidPath {
                path: path.clone(),
                reason: "it is not a name the store would publish",
            })?;
        self.publish(staged, path.entity(), &name, OnClash::Refuse)
    }
}
