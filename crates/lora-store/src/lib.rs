//! The LoRA file service's filesystem repository.
//!
//! A [`Store`] owns one data directory (see [`Layout`] for what lives where) and keeps the
//! promises the image pipeline relies on:
//!
//! * **Nothing partial is ever visible.** Uploads are received into a staging folder on the
//!   same filesystem ([`Store::stage`]), hashed while written, fsynced, and only then moved
//!   into `models/loras/{entity}/` by a rename that never replaces an existing file
//!   (`renameat2(RENAME_NOREPLACE)`, or link + unlink where that is missing); the folder is
//!   fsynced after. A crash leaves at most a staging file, removed at the next
//!   [`Store::open`].
//! * **Nothing is overwritten.** Two uploads of one name get distinct names
//!   ([`OnClash::Version`]) or exactly one wins ([`OnClash::Refuse`]); deletes move files
//!   into the recycle bin under a free name, and its journal remembers where they came
//!   from ([`Store::list_bin`], [`Store::restore`], [`Store::purge`]).
//! * **Done is done.** Once a rename has taken effect, the bookkeeping (hash log, bin
//!   journal, listing cache) is written and the operation succeeds; a folder fsync that
//!   fails after that is logged and counted in [`StorageHealth::durability_errors`], never
//!   returned as a failure of something that happened.
//! * **Listings are cheap.** Folder lists are cached; the store applies its own changes to
//!   them and rereads a folder only when someone else changed it. Hashes
//!   ([`lora_core::Sha256`]) of uploaded files (and of files a caller hashed,
//!   [`Store::remember_sha256`]) are remembered in a small log and shown only while the
//!   file is unchanged ([`Store::examine`] hands them out). The store's own logs are input
//!   like any other: a damaged line is dropped at [`Store::open`], never trusted.
//! * **Uploads are cheap to repeat and quick to land.** The 2000th upload of a name finds
//!   its free version without scanning the folder, and large uploads are written back to
//!   disk while they arrive, so the closing fsync only waits for the tail.
//! * **A file the server fetches itself survives the fetch.** A [`Download`] keeps its
//!   bytes in a partial that outlives the process (hashed and tapped as written, re-read
//!   once after a restart), and becomes a [`StagedFile`] like any upload when complete.
//!
//! Two seams let other storage stand in where a service needs it: [`Repository`] (what the
//! routes do to files; `lora-fleet` implements it over a bucket, streaming staged uploads
//! on with a [`Forward`]) and [`Uploads`] (where resumable uploads are kept while they
//! arrive: this disk's [`Resumable`], or the bucket).
//!
//! ```
//! use lora_core::{EntityType, SafeFileName};
//! use lora_store::{OnClash, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().to_str().unwrap())?;
//!
//! let mut upload = store.stage()?;
//! upload.write(b"weights")?;
//! let staged = upload.finish()?;
//! let name = SafeFileName::from_client("my_lora.safetensors")?;
//! let published = store.publish(staged, EntityType::Styles, &name, OnClash::Version)?;
//! assert_eq!(published.partial_path.to_string(), "styles/my_lora.safetensors");
//!
//! let listing = store.list(None, 0, 100)?;
//! assert_eq!(listing.total, 1);
//! assert_eq!(listing.items[0].sha256, Some(published.sha256));
//!
//! let binned = store.delete(&published.partial_path)?;
//! assert!(binned.bin_path.ends_with("bin/models/loras/styles/my_lora.safetensors"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod binning;
mod download;
mod durability;
mod error;
mod forward;
mod fsops;
mod hashes;
mod jsonl;
mod layout;
mod listing;
mod place;
mod publish;
mod recycle_bin;
mod repository;
mod resolve;
mod resumable;
mod staging;
mod store;
mod versions;
mod writeback;

pub use binning::{Binned, Restored};
pub use download::Download;
pub use error::StoreError;
pub use forward::{Destination, Forward};
pub use layout::Layout;
pub use listing::Page;
pub use place::OnClash;
pub use recycle_bin::{BinEntry, BinListing, Purged};
pub use repository::{RemoteHealth, ReplicaHealth, Repository};
pub use resumable::{
    Append, Appender, Completed, PatchGuard, Resumable, ResumableInfo, UploadClaim, UploadId,
    Uploads, own_appender,
};
pub use staging::{StagedFile, StagedUpload, Tap};
pub use store::{
    Ensured, Examined, Listing, LiveFile, OpenOptions, Published, Recovery, StorageHealth, Store,
};
