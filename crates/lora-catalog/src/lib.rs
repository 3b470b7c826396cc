//! The catalogue of live LoRA files: for each, where it is and its stamp (from the
//! store's listing), what the inspector read from its header (family, kind, network type,
//! rank, trigger words) and the user's own metadata (description, tags, trigger words, a
//! preferred weight), in an embedded SQLite index that filters and sorts a hundred
//! thousand files without a scan per request.
//!
//! The index is a cache of the truth, never the truth: the files are the store's, the
//! facts are re-read from headers, and the user's metadata lives in small JSON files
//! beside the data ([`MetaFiles`]), so a missing or damaged index is set aside and rebuilt
//! ([`Opened::Rebuilt`]). Nothing here knows HTTP or reads LoRA headers itself: the
//! service that owns the catalogue lists the store into [`Catalog::reconcile`], reads the
//! headers of [`Catalog::unread`] files and records them with [`Catalog::read`].
//!
//! ```
//! use lora_catalog::{Catalog, Facts, LiveRow, MetaPatch, Query, Read};
//! use lora_core::PartialPath;
//!
//! let dir = tempfile::tempdir()?;
//! let root = camino::Utf8Path::from_path(dir.path()).unwrap();
//! let (catalog, _) = Catalog::open(&root.join("catalog.sqlite"), root.join("meta"))?;
//! let path = PartialPath::parse("styles/ink.safetensors")?;
//! let live = LiveRow { path: path.clone(), size: 10, modified: time::OffsetDateTime::UNIX_EPOCH, sha256: None };
//! catalog.reconcile(&[live])?;
//! for file in catalog.unread(100)? {
//!     let facts = Facts { base_model: "flux".into(), kind: "lora".into(), ..Facts::default() };
//!     catalog.read(&file, &Read::Facts(facts))?;
//! }
//! catalog.patch_meta(&path, MetaPatch { tags: Some(vec!["ink".into()]), ..MetaPatch::default() })?;
//! let page = catalog.query(&Query { base_model: Some("flux".into()), tag: Some("INK".into()), limit: 10, ..Query::default() })?;
//! assert_eq!(page.total, 1);
//! assert_eq!(page.items[0].meta.tags(), ["ink"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod catalog;
mod error;
mod index;
mod memo;
mod meta;
mod query;
mod reading;
mod row;

pub use catalog::{Catalog, Opened, Reconciled, Unread};
pub use error::CatalogError;
pub use meta::{Limits, MetaFiles, MetaPatch, Side, UserMeta};
pub use query::{Order, Query, Sort};
pub use row::{Entry, Facts, LiveRow, Page, Read};
