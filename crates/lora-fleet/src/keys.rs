//! Where things live in the bucket, under the prefix:
//!
//! * `models/loras/{entity}/{name}`: the live files (each carries `sha256` metadata);
//! * `bin/models/loras/{entity}/{name}`: the recycle bin;
//! * `bin-journal/{entity}/{name}.json`: where a bin entry came from, for the rare entry
//!   whose name had to be versioned in the bin;
//! * `staging/{id}`: uploads on their way (copied to their final key, then removed;
//!   leftovers older than a day are swept);
//! * `sums/{key}.json`: the SHA-256 of an object streamed to its name (see `sums`);
//! * `uploads/{id}/info`, `data`, `tail.{offset}`, `lock`: a resumable upload's record,
//!   its multipart upload (an object once complete), the bytes after its last whole part,
//!   and the lease of the PATCH writing it (see `resumable`); `sweeper`: whose turn it is
//!   to sweep the bucket.

use lora_core::PartialPath;
use object_store::path::Path;

/// The key layout under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    fn under(&self, rest: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{}/{rest}", self.prefix))
        }
    }

    /// Where the catalogue's facts of the bytes with SHA-256 `hex` are kept: by content,
    /// so a delete, a restore or a second copy moves nothing.
    pub(crate) fn facts(&self, hex: &str) -> Path {
        self.under(&format!("facts/{hex}.json"))
    }

    /// Where the user's metadata of the file at `path` is kept (live, or in the bin).
    pub(crate) fn meta(&self, path: &PartialPath, binned: bool) -> Path {
        let side = if binned { "bin" } else { "live" };
        self.under(&format!("meta/{side}/{path}.json"))
    }

    /// Where every live file's metadata is kept.
    pub(crate) fn live_meta_root(&self) -> Path {
        self.under("meta/live")
    }

    /// The prefix itself.
    pub(crate) fn root(&self) -> Path {
        Path::from(self.prefix.as_str())
    }

    pub(crate) fn live_root(&self) -> Path {
        self.under("models/loras")
    }

    pub(crate) fn live(&self, path: &PartialPath) -> Path {
        self.under(&format!("models/loras/{path}"))
    }

    pub(crate) fn bin_root(&self) -> Path {
        self.under("bin/models/loras")
    }

    pub(crate) fn bin(&self, path: &PartialPath) -> Path {
        self.under(&format!("bin/models/loras/{path}"))
    }

    pub(crate) fn journal_root(&self) -> Path {
        self.under("bin-journal")
    }

    pub(crate) fn journal(&self, bin_path: &PartialPath) -> Path {
        self.under(&format!("bin-journal/{bin_path}.json"))
    }

    pub(crate) fn staging_root(&self) -> Path {
        self.under("staging")
    }

    pub(crate) fn staging(&self, id: &str) -> Path {
        self.under(&format!("staging/{id}"))
    }

    pub(crate) fn uploads_root(&self) -> Path {
        self.under("uploads")
    }

    /// One of a resumable upload's objects: `uploads/{id}/{name}`.
    pub(crate) fn upload(&self, id: &str, name: &str) -> Path {
        self.under(&format!("uploads/{id}/{name}"))
    }

    /// The folder of a resumable upload's objects.
    pub(crate) fn upload_root(&self, id: &str) -> Path {
        self.under(&format!("uploads/{id}"))
    }

    /// Whose turn it is to sweep.
    pub(crate) fn sweeper(&self) -> Path {
        self.under("sweeper")
    }

    /// Where the sum of the object at `key` (a key under the prefix) is kept.
    pub(crate) fn sum(&self, key: &Path) -> Path {
        let key = key.as_ref();
        let rest = match self.prefix.is_empty() {
            true => key,
            false => key
                .strip_prefix(self.prefix.as_str())
                .and_then(|k| k.strip_prefix('/'))
                .unwrap_or(key),
        };
        self.under(&format!("sums/{rest}.json"))
    }

    /// The partial path of a key under `root` (`None` for anything else: foreign objects,
    /// names the service would not publish, deeper folders).
    pub(crate) fn partial(&self, root: &Path, key: &Path) -> Option<PartialPath> {
        let rest = key
            .as_ref()
            .strip_prefix(root.as_ref())?
            .strip_prefix('/')?;
        let path = PartialPath::parse(rest).ok()?;
        let (stem, ext) = path.file_name().rsplit_once('.')?;
        (!stem.is_empty() && !stem.starts_with('.') && lora_core::Extension::parse(ext).is_some())
            .then_some(path)
    }

    /// The bin entry a journal key describes.
    pub(crate) fn journaled(&self, key: &Path) -> Option<PartialPath> {
        let root = self.journal_root();
        let rest = key
            .as_ref()
            .strip_prefix(root.as_ref())?
            .strip_prefix('/')?;
        PartialPath::parse(rest.strip_suffix(".json")?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let keys = Keys::new("fleet/");
        let path = PartialPath::parse("styles/a.safetensors").unwrap();
        let live = keys.live(&path);
        assert_eq!(live.as_ref(), "fleet/models/loras/styles/a.safetensors");
        assert_eq!(keys.partial(&keys.live_root(), &live), Some(path.clone()));
        assert_eq!(keys.partial(&keys.bin_root(), &live), None);
        assert_eq!(keys.journaled(&keys.journal(&path)), Some(path.clone()));
        let bare = Keys::new("");
        assert_eq!(
            bare.bin(&path).as_ref(),
            "bin/models/loras/styles/a.safetensors"
        );
        assert_eq!(
            keys.sum(&live).as_ref(),
            "fleet/sums/models/loras/styles/a.safetensors.json"
        );
        assert_eq!(
            bare.sum(&bare.bin(&path)).as_ref(),
            "sums/bin/models/loras/styles/a.safetensors.json"
        );
        let odd = Path::from("fleet/models/loras/styles/.hidden");
        assert_eq!(keys.partial(&keys.live_root(), &odd), None);
    }
}
