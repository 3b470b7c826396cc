//! One way in: whatever the route (a multipart form, a tus upload's last PATCH, and the
//! ways in still to come), a file goes through the same steps here.
//!
//! 1. [`Ingest::begin`] takes a place under the cap on uploads in flight (or refuses with
//!    503 and counts it) and opens a [`Session`] for one actor.
//! 2. The body reaches the disk through a [`Sink`] (a new staging file the repository
//!    opens, which in fleet mode also streams to the bucket; or a part file),
//!    read with the idle timeout of [`idle`]. A staging file's hashing thread also hands
//!    the bytes to the content check's scan ([`scan`]): weights and tensor hash without a
//!    second read.
//! 3. [`Session::publish`] takes the staged bytes (with their hash) through the content
//!    check and gate (a `lora_inspect::ContentCheck`, the one fleet mode's sync uses too), the naming rule (`use_safe_filename`: versioning or 409) and the
//!    [`Repository`]'s publish, times each phase, and writes the audit line.
//! 4. A session that ends early says why ([`Session::refused`], [`Session::interrupted`]),
//!    so idle drops are counted and refusals audited the same way on every route.
//!
//! Nothing here knows actix: a route turns a request into an [`Arrival`] and a [`Stored`]
//! into its answer.

pub(crate) mod idle;
pub(crate) mod load;
mod scan;
pub(crate) use scan::scan_for;
pub(crate) mod sink;

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use lora_core::{Clock, EntityType, SafeFileName};
use lora_store::{Completed, Destination, OnClash, Repository, StagedFile, StagedUpload};

use crate::ApiError;
use crate::observe::audit::{self, Action, Actor};
use crate::observe::metrics::{Metrics, UploadPhase};
use crate::task::blocking;
use load::{Slot, UploadLoad};
use lora_inspect::{Candidate, ContentCheck, Scanned};
pub(crate) use sink::Sink;

/// The way a file arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// `multipart/form-data` on the upload routes.
    Multipart,
    /// A resumable (tus) upload.
    Tus,
    /// A file the server fetched from a URL.
    Install,
}

impl Via {
    const fn action(self) -> Action {
        match self {
            Via::Multipart => Action::Upload,
            Via::Tus => Action::UploadTus,
            Via::Install => Action::Install,
        }
    }
}

/// What the client asked for, every value checked: where the bytes should go.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    /// The client's file name, as sent (it is echoed in the answer).
    pub client_name: String,
    /// The safe name derived from it.
    pub name: SafeFileName,
    /// The entity type folder.
    pub entity: EntityType,
    /// A taken name is versioned or refused.
    pub on_clash: OnClash,
    /// What to do when the same bytes are already live.
    pub if_duplicate: lora_core::IfDuplicate,
}

/// A published upload: what every way in answers with.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// Where it went.
    pub completed: Completed,
    /// The entity type folder.
    pub entity: EntityType,
    /// The client's file name.
    pub client_name: String,
}

/// The steps every upload takes, and what they share. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Ingest {
    /// Where bytes are staged (on this node's disk) and files are published.
    pub(crate) repository: Arc<dyn Repository>,
    pub(crate) check: Arc<dyn ContentCheck>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) load: Arc<UploadLoad>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Told of every file stored, so filters see it at once.
    pub(crate) catalogue: Option<Arc<crate::catalogue::Catalogue>>,
    /// Told of every file stored, for subscribers.
    pub(crate) events: Arc<crate::events::Events>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("repository", &self.repository)
            .field("load", &self.load)
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// Opens a session for `actor`'s upload, under the cap on uploads in flight.
    ///
    /// # Errors
    ///
    /// [`ApiError::Busy`] (503) at the cap; the refusal is counted and audited.
    pub(crate) fn begin(&self, actor: Actor, via: Via) -> Result<Session, ApiError> {
        match self.load.try_take() {
            Some(slot) => Ok(Session {
                ingest: self.clone(),
                actor,
                via,
                started: Instant::now(),
                scan: None,
                _slot: slot,
            }),
            None => {
                let busy = ApiError::Busy {
                    cap: self.load.cap(),
                };
                audit::refused(&actor, via.action(), "", &busy);
                Err(busy)
            }
        }
    }

    /// The cap and its counters.
    pub(crate) fn load(&self) -> &Arc<UploadLoad> {
        &self.load
    }
}

/// One upload under way: it holds a place under the cap until it ends, and its outcome is
/// timed, counted and audited once.
pub(crate) struct Session {
    ingest: Ingest,
    actor: Actor,
    via: Via,
    started: Instant,
    /// Where the content check's scan of the staging file reports.
    scan: Option<Receiver<Scanned>>,
    _slot: Slot,
}

impl Session {
    /// A sink into a new staging file, created with the first bytes by the repository
    /// (which may also send them on towards `destination`, when it is known).
    pub(crate) fn stage(&mut self, destination: Option<Destination>) -> Sink<StagedUpload> {
        let repository = Arc::clone(&self.ingest.repository);
        let tap = scan::scan_for(self.ingest.check.as_ref()).map(|(tap, result)| {
            self.scan = Some(result);
            tap
        });
        Sink::opening(move || {
            let staged = repository.stage(destination.as_ref())?;
            Ok(match tap {
                Some(tap) => staged.tapped(tap),
                None => staged,
            })
        })
    }

    /// Takes the content check's result from a scan fed elsewhere (an install's download,
    /// which outlives any session).
    pub(crate) fn scanned_by(&mut self, result: Receiver<Scanned>) {
        self.scan = Some(result);
    }

    /// The body has arrived (a PATCH that does not complete its upload): times it.
    pub(crate) fn received(self) {
        self.observe_receive();
    }

    fn observe_receive(&self) {
        self.ingest
            .metrics
            .phase(UploadPhase::Receive, self.started.elapsed().as_secs_f64());
    }

    /// The body could not be taken, and the upload is over: audited under `name` (the
    /// client's file name, when known); an idle drop is counted. Hands the error back.
    pub(crate) fn refused(self, name: &str, error: ApiError) -> ApiError {
        self.count_idle(&error);
        audit::refused(&self.actor, self.via.action(), name, &error);
        error
    }

    /// The body broke off, but the upload may go on (a tus PATCH): an idle drop is
    /// counted; no audit line, as nothing changed. Hands the error back.
    pub(crate) fn interrupted(self, error: ApiError) -> ApiError {
        self.count_idle(&error);
        error
    }

    fn count_idle(&self, error: &ApiError) {
        if matches!(error, ApiError::BodyIdle { .. }) {
            self.ingest.load.idle_drop();
        }
    }

    /// Checks, names and publishes the staged file; times the phases and audits the
    /// outcome. A refusal leaves nothing behind (the staged file goes with it).
    ///
    /// # Errors
    ///
    /// The content check's refusal (400) or failure, the naming rule's 409, and the
    /// repository's errors.
    pub(crate) async fn publish(
        mut self,
        arrival: Arrival,
        staged: StagedFile,
    ) -> Result<Stored, ApiError> {
        self.observe_receive();
        // The staging file is complete, so its scan has reported (or never ran: a part
        // file, or no bytes at all); the check then reads the file.
        let scanned = self.scan.take().and_then(|r| r.try_recv().ok());
        let ingest = self.ingest.clone();
        let name = arrival.name.clone();
        let (entity, on_clash, if_duplicate) =
            (arrival.entity, arrival.on_clash, arrival.if_duplicate);
        let published = blocking(move || {
            let started = Instant::now();
            let checked = ingest.check.check(Candidate {
                path: staged.path().as_std_path(),
                extension: name.extension(),
                scanned,
            })?;
            let staged = staged.with_tensor_sha256(checked.tensor_sha256);
            ingest
                .metrics
                .phase(UploadPhase::Check, started.elapsed().as_secs_f64());
            // Live files with the same bytes (those whose SHA-256 the catalogue knows).
            let sha256 = staged.sha256();
            let same = ingest
                .catalogue
                .as_ref()
                .map(|c| c.live_with(sha256))
                .unwrap_or_default();
            match (if_duplicate, same.first()) {
                (lora_core::IfDuplicate::Refuse, Some(live)) => {
                    return Err(ApiError::Duplicate {
                        of: live.path.clone(),
                    });
                }
                (lora_core::IfDuplicate::Reuse, Some(live)) => {
                    // Nothing is stored: the staged file goes with `staged`.
                    return Ok(Outcome::Reused(live.clone(), same));
                }
                _ => {}
            }
            let started = Instant::now();
            let published = ingest.repository.publish(staged, entity, &name, on_clash)?;
            if let Some(catalogue) = &ingest.catalogue {
                catalogue.stored(
                    &published.partial_path,
                    Some(published.sha256),
                    published.tensor_sha256,
                );
            }
            ingest.events.emit(
                crate::events::EventKind::Added,
                &published.partial_path,
                Some(published.sha256),
            );
            ingest
                .metrics
                .phase(UploadPhase::Publish, started.elapsed().as_secs_f64());
            Ok(Outcome::Stored(published, same))
        })
        .await;
        let action = self.via.action();
        let (published, same) = match published {
            Ok(Outcome::Stored(published, same)) => (published, same),
            Ok(Outcome::Reused(live, same)) => {
                let path = live.path.to_string();
                tracing::info!(path, via = ?self.via, "an upload of live bytes reused the live file");
                return Ok(Stored {
                    completed: Completed {
                        partial_path: live.path.clone(),
                        file_path: live.file,
                        file_size: live.size,
                        sha256: live.sha256,
                        tensor_sha256: live.tensor_sha256,
                        duplicate_of: same.into_iter().map(|l| l.path).collect(),
                        stored_at: self.ingest.clock.now(),
                    },
                    entity: live.path.entity(),
                    client_name: arrival.client_name,
                });
            }
            Err(e) => {
                audit::refused(&self.actor, action, &arrival.client_name, &e);
                return Err(e);
            }
        };
        let others: Vec<lora_core::PartialPath> = same
            .into_iter()
            .map(|l| l.path)
            .filter(|p| *p != published.partial_path)
            .collect();
        let path = published.partial_path.to_string();
        audit::done(&self.actor, action, &path, Some(&published.sha256));
        tracing::info!(path, size = published.len, via = ?self.via, "stored upload");
        Ok(Stored {
            completed: Completed {
                partial_path: published.partial_path,
                file_path: published.path,
                file_size: published.len,
                sha256: published.sha256,
                tensor_sha256: published.tensor_sha256,
                duplicate_of: others,
                stored_at: self.ingest.clock.now(),
            },
            entity,
            client_name: arrival.client_name,
        })
    }
}

/// How a publish ended: stored (with the live files of the same bytes), or the live
/// file reused (`if_duplicate=reuse`; nothing stored).
enum Outcome {
    Stored(lora_store::Published, Vec<crate::catalogue::Live>),
    Reused(crate::catalogue::Live, Vec<crate::catalogue::Live>),
}
