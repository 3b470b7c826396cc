//! Handlers, one module per resource.

pub(crate) mod bin;
pub(crate) mod ensure;
pub(crate) mod evaluation;
pub(crate) mod events;
pub(crate) mod fallback;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod install;
pub(crate) mod listing;
pub(crate) mod meta;
pub(crate) mod metrics;
pub(crate) mod paths;
pub(crate) mod tus;
pub(crate) mod upload;

pub(crate) use crate::task::blocking;
