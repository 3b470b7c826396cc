//! Knows what a LoRA file is without loading it into a model.
//!
//! * [`validate`]: the upload gate. The format is decided by content *and* extension
//!   (a safetensors file named `.pt`, or a torch zip named `.safetensors`, is refused);
//!   safetensors headers are checked rule by rule ([`safetensors`]); `.ckpt .pt .pth .bin`
//!   must be PyTorch zip archives or raw/legacy pickles whose every imported global is on
//!   a weights-only allowlist ([`pickle`], [`torch`]). Nothing is ever executed.
//! * [`evaluate`]: a full [`Report`]: identity and hashes ([`Hashes`], each a
//!   [`lora_core::Sha256`]), what the file is ([`FileKind`]), its [`BaseModel`] with the
//!   evidence for it, network type, ranks and alphas, per-module strengths, weight health
//!   (NaN, Inf, max |w|), metadata, pickle globals, [`Finding`]s and a [`Verdict`].
//!   docs/FAMILIES.md explains every family, kind and network type and how it is told.
//! * [`facts`]: what a catalogue keeps of a file, from its header alone: family, kind,
//!   network type, rank and [`TriggerWords`] (`modelspec.trigger_phrase`, `trained_words`,
//!   `ss_tag_frequency`).
//! * [`Admission`]: which valid files an upload gate admits (LoRAs only unless told
//!   otherwise; an optional family allowlist), from the [`Identity`] [`validate`] returns. [`evaluate_with`] skips the hashes a caller already knows or does
//!   not need ([`Hashing`]): each is a full pass over the file, the weight scan being the
//!   other.
//! * [`FindingCode`]: every finding's stable code with its [`Severity`] and advice;
//!   [`FindingCode::ALL`] is the table of docs/FINDINGS.md. [`Format::ALL`] and
//!   [`Check::ALL`] name the formats and checks a server advertises.
//!
//! Files are streamed, never read whole into memory. No async, no web framework.
//!
//! Inside, one idea per module, none using a module that uses it back (the workspace's
//! `tests/graph`): `gate` and `evaluation` are the two entry points over `container`
//! (which format a file is); `findings` (`code` the catalogue, `rules` the judging)
//! judges, `report` is what clients read, `hashing` runs beside the weight pass; `names`,
//! `analyze` (`network`, `module`, `structure`), `kind`, `alpha` and `base_model`
//! (`family`, `metadata`, `names`, `layout`) read tensor names, shapes and metadata;
//! `admission` decides uploads; `weights` (`stream`, `health`, `strength`, `product`)
//! with `gram` and `dtype` is the weight pass; `pickle` (`allowlist`, `input`, `machine`,
//! `opcode`, `tensors`) is the pickle gate.
//!
//! ```
//! use lora_core::Extension;
//! use lora_inspect::{FindingCode, Verdict, safetensors::build};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tiny.safetensors");
//! let down = [0u8; 4 * 8 * 4]; // f32 zeros, rank 4 × 8
//! let up = [0u8; 8 * 4 * 4];
//! std::fs::write(&path, build(&[
//!     ("lora_unet_x.lora_down.weight", "F32", &[4, 8], &down),
//!     ("lora_unet_x.lora_up.weight", "F32", &[8, 4], &up),
//! ], &[]))?;
//!
//! let checked = lora_inspect::validate(&path, Extension::Safetensors)?;
//! assert_eq!(checked.format.as_str(), "safetensors");
//! assert!(lora_inspect::validate(&path, Extension::Pt).is_err(), "content and extension disagree");
//!
//! let report = lora_inspect::evaluate(&path)?;
//! assert_eq!(report.rank, Some(4));
//! assert_ne!(report.verdict, Verdict::Fail);
//! assert_eq!(report.hashes.autov2, report.sha256.autov2());
//! assert!(report.findings.iter().any(|f| f.code == FindingCode::NoMetadata));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod admission;
mod alpha;
mod analyze;
mod base_model;
mod check;
mod container;
mod dtype;
mod error;
mod evaluation;
mod facts;
mod findings;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod format;
mod gate;
mod gram;
mod hashing;
mod kind;
mod names;
pub mod pickle;
mod report;
pub mod safetensors;
pub mod torch;
mod upload_check;
mod weights;

pub use admission::{Admission, Identity, Refusal};
pub use analyze::{NetworkType, Structure};
pub use base_model::{BaseModel, BaseModelEvidence, EvidenceSource, Identification};
pub use check::Check;
pub use dtype::DType;
pub use error::InspectError;
pub use evaluation::{evaluate, evaluate_with, scan_weights};
pub use facts::{Facts, MAX_TRIGGER_WORDS, TriggerSource, TriggerWords, facts, trigger_words};
pub use findings::{Finding, FindingCode, Severity, Verdict};
pub use format::Format;
pub use gate::{Validated, validate};
pub use hashing::Hashing;
pub use kind::FileKind;
pub use report::{Hashes, PickleReport, Report, TensorSummary};
pub use upload_check::{
    AcceptAll, Candidate, Checked, ContentCheck, ContentRejection, InspectCheck,
};
pub use weights::{Incoming, ModuleStrength, Scanned, TensorHealth, WeightStats, scan_file};
