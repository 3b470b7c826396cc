//! Pure domain rules of the LoRA file service.
//!
//! This crate holds the types every other layer agrees on, and nothing else: no I/O, no
//! async, no web framework. Each type can only hold a valid value; you get one by parsing,
//! and once you hold it the rule it stands for has been checked.
//!
//! * [`EntityType`]: the folder a LoRA belongs to (`clothes`, `identities`, `product`,
//!   `styles`, `faces`, and `no_type_provided` for uploads that name none), and which
//!   upload route may use it ([`UploadRoute`]).
//! * [`SafeFileName`]: a client's filename reduced to a name that is safe to create in a
//!   folder: no directory parts, no leading dot, an allowed [`Extension`]; plus the
//!   `stem_v2.ext`, `stem_v3.ext`, … versions used when a name is taken.
//! * [`PartialPath`]: `{entity_type}/{filename}`, the path clients use to name a stored
//!   file, which can never point outside the LoRA folder.
//! * [`Sha256`]: a file's SHA-256, 32 bytes that read and write as 64 hex digits.
//! * [`Clock`]: where "now" comes from, so rules about time (an upload's expiry) can be
//!   tested without sleeping ([`SystemClock`], [`ManualClock`]).
//! * [`timestamp`]: the RFC 3339 UTC form (`2024-01-01T12:00:00Z`) used in every response.
//!
//! ```
//! use lora_core::{EntityType, PartialPath, SafeFileName, UploadRoute};
//!
//! let entity = EntityType::parse_form(Some(" Identities "), UploadRoute::User)?;
//! let name = SafeFileName::from_client("../../My LoRA.SafeTensors")?;
//! assert_eq!(name.as_str(), "My LoRA.safetensors");
//! assert_eq!(name.version(2).as_str(), "My LoRA_v2.safetensors");
//!
//! let path = PartialPath::new(entity, name);
//! assert_eq!(path.to_string(), "identities/My LoRA.safetensors");
//! assert!(PartialPath::parse("identities/../../etc/passwd").is_err());
//! # Ok::<(), lora_core::CoreError>(())
//! ```
#![deny(missing_docs)]

mod clock;
mod duplicate;
mod entity;
mod error;
mod hash;
mod name;
mod path;
pub mod timestamp;

pub use clock::{Clock, ManualClock, SystemClock};
pub use duplicate::IfDuplicate;
pub use entity::{EntityType, UploadRoute};
pub use error::CoreError;
pub use hash::Sha256;
pub use name::{Extension, SafeFileName, versioned_file_name};
pub use path::PartialPath;
