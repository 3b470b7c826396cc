//! The seam where content validation plugs into the upload pipeline.

use std::path::Path;

use lora_core::Extension;

/// A check run on every complete, staged upload before it is published.
///
/// It runs on a blocking thread and may read the whole file. An `Err` refuses the upload
/// with 400 and its message; the staged file is then removed.
pub trait ContentCheck: Send + Sync + 'static {
    /// Checks the staged file at `path`, uploaded with extension `extension`.
    ///
    /// # Errors
    ///
    /// A human-readable reason when the content does not match its extension or is unsafe.
    fn check(&self, path: &Path, extension: Extension) -> Result<(), String>;

    /// Whether this check looks at content at all (reported by the health route).
    fn is_active(&self) -> bool {
        true
    }
}

/// Accepts every file (content validation is configured by the embedding service).
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl ContentCheck for AcceptAll {
    fn check(&self, _: &Path, _: Extension) -> Result<(), String> {
        Ok(())
    }

    fn is_active(&self) -> bool {
        false
    }
}
