//! How an adapter is built, from its tensor names and shapes, one idea a module:
//! [`network`] names the network types, [`module`] reads one module's tensors (its type,
//! rank and scale), [`structure`] gathers the modules into the facts of the whole file,
//! with what kind of file it is ([`crate::kind`]) and its base model
//! ([`crate::base_model`]).
//!
//! This file only re-exports, so the children can depend on each other without one
//! going through the parent that depends on it.

mod module;
mod network;
mod structure;

pub use network::NetworkType;
pub use structure::Structure;
