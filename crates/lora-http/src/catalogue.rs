//! The catalogue as the service keeps it: `lora_catalog`'s index under the data
//! directory, filled from the repository's listing and the inspector's reading of each
//! header, told at once of what the service itself changes, and brought in step with
//! what others change (files placed by hand) by a background pass.

use std::sync::Arc;
use std::time::Duration;

use lora_catalog::{Catalog, CatalogError, Facts, LiveRow, Opened, Read};
use lora_core::{PartialPath, Sha256};
use lora_store::{Repository, Store};

/// How often the background pass reconciles the index with the listing when nothing
/// asks sooner.
pub(crate) const PASS_EVERY: Duration = Duration::from_secs(5);
/// Headers read per pass (the rest wait for the next one).
const READS_PER_PASS: usize = 2000;

/// The service's catalogue.
#[derive(Debug)]
pub(crate) struct Catalogue {
    catalog: Catalog,
    repository: Arc<dyn Repository>,
    local: Arc<Store>,
    wake: tokio::sync::Notify,
    /// Where changes the passes find (files placed by hand, or by another node) go.
    events: Arc<crate::events::Events>,
    /// Facts asked of the repository and not found, and when (asked again a minute
    /// later, not on every pass).
    missed: std::sync::Mutex<std::collections::HashMap<Sha256, std::time::Instant>>,
    /// Fleet mode: whether this node held each file at the last pass (`None` before the
    /// first), to announce copies made and dropped.
    held: std::sync::Mutex<Option<std::collections::HashMap<PartialPath, bool>>>,
    /// Fleet mode: the tag of each file's shared metadata at the last pass (`None`
    /// before the first).
    meta_tags: std::sync::Mutex<Option<std::collections::HashMap<PartialPath, String>>>,
}

/// How long a fact the repository did not have is not asked for again.
const ASK_AGAIN: Duration = Duration::from_secs(60);

/// A live file the catalogue knows, as an upload answer names it.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    pub(crate) path: PartialPath,
    pub(crate) file: camino::Utf8PathBuf,
    pub(crate) size: u64,
    pub(crate) sha256: Sha256,
    pub(crate) tensor_sha256: Option<Sha256>,
}

/// What one pass did.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pass {
    pub(crate) reconciled: lora_catalog::Reconciled,
    pub(crate) read: usize,
}

impl Catalogue {
    /// Opens the index under `local`'s state folder; `None` (logged) when it cannot be
    /// made at all: listings then have no facts and filters answer 503.
    pub(crate) fn open(
        local: &Arc<Store>,
        repository: Arc<dyn Repository>,
        events: Arc<crate::events::Events>,
    ) -> Option<Arc<Self>> {
        let state = local.layout().state_dir();
        match Catalog::open(&state.join("catalog.sqlite"), state.join("meta")) {
            Ok((catalog, opened)) => {
                if let Opened::Rebuilt { why } = &opened {
                    tracing::warn!(
                        why,
                        "the catalogue index was damaged; set aside and rebuilt from the files"
                    );
                }
                let catalogue = Arc::new(Self {
                    catalog,
                    repository,
                    local: Arc::clone(local),
                    wake: tokio::sync::Notify::new(),
                    events,
                    missed: std::sync::Mutex::new(std::collections::HashMap::new()),
                    held: std::sync::Mutex::new(None),
                    meta_tags: std::sync::Mutex::new(None),
                });
                // Others' changes (fleet mode: after each sync) start a pass at once.
                let weak = Arc::downgrade(&catalogue);
                catalogue.repository.on_change(Arc::new(move || {
                    if let Some(catalogue) = weak.upgrade() {
                        catalogue.nudge();
                    }
                }));
                Some(catalogue)
            }
            Err(e) => {
                tracing::error!(error = %e, "the catalogue index cannot be opened; listings carry no facts");
                None
            }
        }
    }

    /// The index.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Asks the background pass to run now.
    pub(crate) fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Waits for a nudge or `timeout`.
    pub(crate) async fn wait(&self, timeout: Duration) {
        let _ = actix_web::rt::time::timeout(timeout, self.wake.notified()).await;
    }

    /// One pass (blocking): reconcile with the repository's listing, read the headers of
    /// new and changed files that are on this disk, forget the metadata of purged bin
    /// entries.
    ///
    /// # Errors
    ///
    /// The listing's or the index's errors.
    pub(crate) fn pass(&self) -> Result<Pass, crate::ApiError> {
        let listing = self.repository.list(None, 0, usize::MAX)?;
        self.announce_copies(&listing.items);
        let rows: Vec<LiveRow> = listing
            .items
            .into_iter()
            .map(|f| LiveRow {
                path: f.partial_path,
                size: f.len,
                modified: f.modified,
                sha256: f.sha256,
            })
            .collect();
        let shas: std::collections::HashMap<PartialPath, Option<Sha256>> =
            rows.iter().map(|r| (r.path.clone(), r.sha256)).collect();
        let reconciled = self.catalog.reconcile(&rows)?;
        use crate::events::EventKind;
        for path in &reconciled.added {
            self.events
                .emit(EventKind::Added, path, shas.get(path).copied().flatten());
        }
        for path in &reconciled.removed {
            self.events.emit(EventKind::Removed, path, None);
        }
        let mut read = 0;
        for file in self.catalog.unread(READS_PER_PASS)? {
            let sha = shas.get(&file.path).copied().flatten();
            match self.local.resolve(&file.path) {
                Ok(on_disk) => {
                    let facts = read_header(&on_disk);
                    self.catalog.read(&file, &facts)?;
                    self.keep_facts(sha, &facts);
                    read += 1;
                }
                // Not on this disk (a fleet node's working set): the facts the node that
                // stored it kept beside it, if any.
                Err(_) => {
                    if let Some(facts) = sha.and_then(|sha| self.kept_facts(sha)) {
                        self.catalog.read(&file, &Read::Facts(facts))?;
                        read += 1;
                    }
                }
            }
        }
        if self.repository.shares_meta() {
            self.follow_shared_meta()?;
        }
        let bin = self.repository.list_bin(None, 0, usize::MAX)?;
        let binned: Vec<PartialPath> = bin.items.into_iter().map(|e| e.bin_path).collect();
        self.catalog.keep_bin_meta(&binned)?;
        Ok(Pass { reconciled, read })
    }

    /// A file the service just stored: in the index at once, its header read now (a
    /// header read costs a few milliseconds), with the tensor hash the upload computed.
    pub(crate) fn stored(
        &self,
        path: &PartialPath,
        sha256: Option<Sha256>,
        tensor_sha256: Option<Sha256>,
    ) {
        let result = (|| -> Result<(), CatalogError> {
            let Ok(on_disk) = self.local.resolve(path) else {
                return Ok(());
            };
            let Ok(meta) = std::fs::metadata(&on_disk) else {
                return Ok(());
            };
            let row = LiveRow {
                path: path.clone(),
                size: meta.len(),
                modified: meta
                    .modified()
                    .map(time::OffsetDateTime::from)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                sha256,
            };
            self.catalog.added(&row, tensor_sha256)?;
            for file in self.catalog.unread(READS_PER_PASS)? {
                if file.path == *path {
                    let facts = read_header(&on_disk);
                    self.catalog.read(&file, &facts)?;
                    self.keep_facts(sha256, &facts);
                }
            }
            Ok(())
        })();
        self.logged(result);
    }

    /// The live files whose SHA-256 is `sha256` (those the catalogue knows it of), by
    /// path. A failing index answers none: duplicates are then stored, as before.
    pub(crate) fn live_with(&self, sha256: Sha256) -> Vec<Live> {
        let query = lora_catalog::Query {
            sha256: Some(sha256),
            limit: 100,
            ..lora_catalog::Query::default()
        };
        match self.catalog.query(&query) {
            Ok(page) => page
                .items
                .into_iter()
                .map(|e| Live {
                    file: self.local.layout().live_path(&e.live.path),
                    path: e.live.path,
                    size: e.live.size,
                    sha256,
                    tensor_sha256: e.tensor_sha256,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the catalogue could not be asked for duplicates");
                Vec::new()
            }
        }
    }

    /// Fleet mode: `replicated` for files this node holds now and did not at the last
    /// pass, `evicted` for the reverse (files that stayed listed). One machine lists no
    /// `local`: nothing to announce.
    fn announce_copies(&self, items: &[lora_store::LiveFile]) {
        use crate::events::EventKind;
        let now: std::collections::HashMap<PartialPath, bool> = items
            .iter()
            .filter_map(|f| Some((f.partial_path.clone(), f.local?)))
            .collect();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(before) = held.as_ref() {
            for (path, local) in &now {
                match (before.get(path), local) {
                    (Some(false), true) => {
                        let sha = items
                            .iter()
                            .find(|f| &f.partial_path == path)
                            .and_then(|f| f.sha256);
                        self.events.emit(EventKind::Replicated, path, sha);
                    }
                    (Some(true), false) => self.events.emit(EventKind::Evicted, path, None),
                    _ => {}
                }
            }
        }
        *held = Some(now);
    }

    /// Keeps what a header read gave beside the bytes in the repository (fleet mode: the
    /// bucket), for nodes that do not hold them; a failure only costs those nodes the
    /// facts (logged).
    fn keep_facts(&self, sha256: Option<Sha256>, read: &Read) {
        let (Some(sha256), Read::Facts(facts)) = (sha256, read) else {
            return;
        };
        let Ok(json) = serde_json::to_vec(facts) else {
            return;
        };
        if let Err(e) = self.repository.put_facts(&sha256, json) {
            tracing::warn!(error = %e, "could not keep a file's facts beside it");
        }
    }

    /// The facts the repository keeps for `sha256`, asked at most once a minute while
    /// it has none.
    fn kept_facts(&self, sha256: Sha256) -> Option<Facts> {
        {
            let missed = self.missed.lock().unwrap_or_else(|p| p.into_inner());
            if missed
                .get(&sha256)
                .is_some_and(|at| at.elapsed() < ASK_AGAIN)
            {
                return None;
            }
        }
        let found = self
            .repository
            .get_facts(&sha256)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not read a file's facts");
                None
            })
            .and_then(|json| serde_json::from_slice::<Facts>(&json).ok());
        let mut missed = self.missed.lock().unwrap_or_else(|p| p.into_inner());
        match &found {
            Some(_) => missed.remove(&sha256),
            None => missed.insert(sha256, std::time::Instant::now()),
        };
        found
    }

    /// Applies `patch` to the metadata of the live file `path`: in fleet mode to the
    /// bucket's (the truth there) first, then here.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Invalid`] (as `ApiError::Catalog`) beyond the limits, the shared
    /// storage's and the index's errors.
    pub(crate) fn patch_meta(
        &self,
        path: &PartialPath,
        patch: lora_catalog::MetaPatch,
    ) -> Result<lora_catalog::UserMeta, crate::ApiError> {
        if !self.repository.shares_meta() {
            return Ok(self.catalog.patch_meta(path, patch)?);
        }
        let current = self
            .repository
            .get_meta(path, false)?
            .and_then(|json| serde_json::from_slice::<lora_catalog::UserMeta>(&json).ok())
            .unwrap_or_default();
        let meta = current.patched(patch)?;
        let json = (!meta.is_empty())
            .then(|| serde_json::to_vec(&meta).ok())
            .flatten();
        self.repository.put_meta(path, false, json)?;
        self.catalog.set_meta(path, &meta)?;
        Ok(meta)
    }

    /// Fleet mode: brings this node's copy of every file's metadata in step with the
    /// bucket's (other nodes' changes), announcing them after the first pass.
    fn follow_shared_meta(&self) -> Result<(), crate::ApiError> {
        let listed: std::collections::HashMap<PartialPath, String> =
            self.repository.list_meta()?.into_iter().collect();
        let mut tags = self.meta_tags.lock().unwrap_or_else(|p| p.into_inner());
        let first = tags.is_none();
        let before = tags.take().unwrap_or_default();
        for (path, tag) in &listed {
            if before.get(path) == Some(tag) {
                continue;
            }
            let meta = self
                .repository
                .get_meta(path, false)?
                .and_then(|json| serde_json::from_slice::<lora_catalog::UserMeta>(&json).ok())
                .unwrap_or_default();
            if first && self.catalog.meta(path).ok().as_ref() == Some(&meta) {
                continue;
            }
            self.catalog.set_meta(path, &meta)?;
            if !first {
                self.events.emit(crate::events::EventKind::Meta, path, None);
            }
        }
        for path in before.keys().filter(|p| !listed.contains_key(*p)) {
            self.catalog
                .set_meta(path, &lora_catalog::UserMeta::default())?;
        }
        *tags = Some(listed);
        Ok(())
    }

    /// A bin entry purged for good: in fleet mode its metadata in the bucket goes too (a
    /// failure is logged: an orphan object, no harm). This node's copy goes with the
    /// next pass.
    pub(crate) fn purged(&self, bin_path: &PartialPath) {
        if self.repository.shares_meta()
            && let Err(e) = self.repository.put_meta(bin_path, true, None)
        {
            tracing::warn!(error = %e, path = %bin_path, "could not remove a purged file's metadata from the bucket");
        }
    }

    /// A file the service moved into the bin.
    pub(crate) fn binned(&self, path: &PartialPath, bin_path: &PartialPath) {
        self.move_shared_meta((path, false), (bin_path, true));
        self.logged(self.catalog.binned(path, bin_path));
    }

    /// A binned file the service restored.
    pub(crate) fn restored(&self, bin_path: &PartialPath, path: &PartialPath) {
        self.move_shared_meta((bin_path, true), (path, false));
        let result = self.catalog.relocate_from_bin(bin_path, path);
        self.logged(result);
        self.stored(path, None, None);
    }

    /// Fleet mode: moves a file's shared metadata with it (copied, then removed: never in
    /// neither place). A failure is logged; the metadata stays where it was.
    fn move_shared_meta(&self, from: (&PartialPath, bool), to: (&PartialPath, bool)) {
        if !self.repository.shares_meta() {
            return;
        }
        let moved = (|| -> Result<(), lora_store::StoreError> {
            if let Some(json) = self.repository.get_meta(from.0, from.1)? {
                self.repository.put_meta(to.0, to.1, Some(json))?;
                self.repository.put_meta(from.0, from.1, None)?;
            }
            Ok(())
        })();
        if let Err(e) = moved {
            tracing::warn!(error = %e, from = %from.0, to = %to.0, "could not move a file's metadata in the bucket");
        }
    }

    fn logged(&self, result: Result<(), CatalogError>) {
        if let Err(e) = result {
            // The index is a cache: the next pass repairs it.
            tracing::warn!(error = %e, "the catalogue could not record a change; the next pass will");
            self.nudge();
        }
    }
}

/// What reading the header at `path` gives, in the catalogue's spellings.
fn read_header(path: &camino::Utf8Path) -> Read {
    match lora_inspect::facts(path.as_std_path()) {
        Ok(f) => Read::Facts(Facts {
            base_model: f.base_model.as_str().to_owned(),
            base_model_variant: f.base_model_variant.map(str::to_owned),
            kind: f.kind.as_str().to_owned(),
            network_type: f.network_type.as_str().to_owned(),
            rank: f.rank,
            trigger_source: f
                .trigger_words
                .as_ref()
                .map(|t| t.source.as_str().to_owned()),
            trigger_words: f.trigger_words.map(|t| t.words).unwrap_or_default(),
        }),
        Err(e) if e.is_content_error() => Read::Unreadable,
        // Could not read it now (gone, or I/O): try again next pass.
        Err(_) => Read::Pending,
    }
}

/// Runs a pass now, then one every [`PASS_EVERY`] or when nudged, on the blocking pool.
pub(crate) async fn run(catalogue: Arc<Catalogue>) {
    loop {
        let this = Arc::clone(&catalogue);
        let mut more = false;
        match actix_web::web::block(move || this.pass()).await {
            Ok(Ok(pass)) => {
                more = pass.read == READS_PER_PASS;
                let r = &pass.reconciled;
                let (added, changed, removed) = (r.added.len(), r.changed.len(), r.removed.len());
                if added + changed + removed + pass.read > 0 {
                    tracing::debug!(added, changed, removed, read = pass.read, "catalogue pass");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "a catalogue pass failed; will try again"),
            Err(e) => tracing::warn!(error = %e, "the catalogue pass could not run"),
        }
        // Headers still unread (a folder of files placed by hand): the next pass at once.
        if !more {
            catalogue.wait(PASS_EVERY).await;
        }
    }
}

/// Announces each bin entry a purge removed and forgets its metadata (the index's, and
/// in fleet mode the bucket's): one purge, a purge-before or the retention's.
pub(crate) fn announce_purged(
    events: &crate::events::Events,
    catalogue: Option<&Catalogue>,
    purged: &lora_store::Purged,
) {
    for path in &purged.paths {
        events.emit(crate::events::EventKind::Purged, path, None);
        if let Some(catalogue) = catalogue {
            catalogue.purged(path);
        }
    }
}
