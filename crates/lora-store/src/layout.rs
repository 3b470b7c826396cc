use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{EntityType, PartialPath};

/// Where everything lives under the data directory.
///
/// ```text
/// DATA/models/loras/{entity}/{file}       live files: what the image pipeline reads
/// DATA/bin/models/loras/{entity}/{file}   the recycle bin
/// DATA/.lora-server/staging/              uploads being received (never seen by the pipeline)
/// DATA/.lora-server/installs/             installs from a URL: job records, partial downloads
/// DATA/.lora-server/hashes.jsonl          sha256 of files uploaded or evaluated through the service
/// DATA/.lora-server/bin.jsonl             where binned files came from, and when
/// DATA/.lora-server/lock                  one server per data directory
/// DATA/.lora-server/store                 marks an initialised store (`lora-server init`)
/// ```
#[derive(Debug, Clone)]
pub struct Layout {
    data: Utf8PathBuf,
    loras: Utf8PathBuf,
    bin: Utf8PathBuf,
    state: Utf8PathBuf,
}

impl Layout {
    /// The layout under `data_dir`.
    pub fn new(data_dir: impl Into<Utf8PathBuf>) -> Self {
        let data = data_dir.into();
        Self {
            loras: data.join("models").join("loras"),
            bin: data.join("bin").join("models").join("loras"),
            state: data.join(".lora-server"),
            data,
        }
    }

    /// The data directory itself.
    pub fn data_dir(&self) -> &Utf8Path {
        &self.data
    }

    /// `DATA/models/loras`.
    pub fn loras_root(&self) -> &Utf8Path {
        &self.loras
    }

    /// `DATA/bin/models/loras`.
    pub fn bin_root(&self) -> &Utf8Path {
        &self.bin
    }

    /// `DATA/.lora-server`: the service's own files.
    pub fn state_dir(&self) -> &Utf8Path {
        &self.state
    }

    /// `DATA/.lora-server/staging`.
    pub fn staging_dir(&self) -> Utf8PathBuf {
        self.state.join("staging")
    }

    /// `DATA/.lora-server/installs`: install jobs and their partial downloads, kept
    /// across restarts.
    pub fn installs_dir(&self) -> Utf8PathBuf {
        self.state.join("installs")
    }

    /// `DATA/models/loras/{entity}`.
    pub fn entity_dir(&self, entity: EntityType) -> Utf8PathBuf {
        self.loras.join(entity.as_str())
    }

    /// `DATA/bin/models/loras/{entity}`.
    pub fn bin_entity_dir(&self, entity: EntityType) -> Utf8PathBuf {
        self.bin.join(entity.as_str())
    }

    /// The live path of `path`.
    pub fn live_path(&self, path: &PartialPath) -> Utf8PathBuf {
        self.entity_dir(path.entity()).join(path.file_name())
    }

    /// The bin path of `path`.
    pub fn bin_path(&self, path: &PartialPath) -> Utf8PathBuf {
        self.bin_entity_dir(path.entity()).join(path.file_name())
    }

    pub(crate) fn hash_log(&self) -> Utf8PathBuf {
        self.state.join("hashes.jsonl")
    }

    pub(crate) fn bin_journal(&self) -> Utf8PathBuf {
        self.state.join("bin.jsonl")
    }

    pub(crate) fn lock_file(&self) -> Utf8PathBuf {
        self.state.join("lock")
    }

    /// `DATA/.lora-server/store`: present once the directory is an initialised store.
    pub fn marker(&self) -> Utf8PathBuf {
        self.state.join("store")
    }
}
