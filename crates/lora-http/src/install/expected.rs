//! The SHA-256 a job's bytes must have, and who vouches for it: the request's `sha256`,
//! else Hugging Face's `X-Linked-Etag` (LFS files), else the hash Civitai's model-version
//! API lists for the file.

use lora_core::Sha256;
use lora_store::StagedFile;

use super::fetch::{Failure, Opened};
use super::job::{HashSource, Record};
use super::jobs::Installs;
use super::source::Source;

/// What is expected so far.
#[derive(Debug, Default)]
pub(super) struct Expected {
    hash: Option<(Sha256, HashSource)>,
    /// Civitai's API is asked once per run.
    civitai_asked: bool,
}

impl Expected {
    /// What the record already holds (the request's hash, or one learnt before a restart).
    pub(super) fn of(record: &Record) -> Self {
        let hash = record
            .job
            .expected_sha256
            .map(|sha| (sha, record.job.sha256_source.unwrap_or(HashSource::Request)));
        Self {
            hash,
            civitai_asked: false,
        }
    }

    /// Learns the publisher's hash from an answer (or Civitai's API), unless one is known.
    pub(super) async fn learn(
        &mut self,
        installs: &Installs,
        source: &Source,
        opened: &Opened,
        name: Option<&str>,
    ) {
        if self.hash.is_some() {
            return;
        }
        self.hash = match (source, opened.linked_sha256) {
            (_, Some(linked)) => Some((linked, HashSource::Huggingface)),
            (Source::Civitai { version, .. }, None) if !self.civitai_asked => {
                self.civitai_asked = true;
                civitai_sha256(installs, *version, name).await
            }
            _ => None,
        };
    }

    /// Writes what is expected into the record (kept across restarts, shown in the job).
    pub(super) fn record(&self, record: &mut Record) {
        record.job.expected_sha256 = self.hash.map(|(sha, _)| sha);
        record.job.sha256_source = self.hash.map(|(_, by)| by);
    }

    /// Whether `staged` is what was expected (anything is, when nothing was).
    ///
    /// # Errors
    ///
    /// The mismatch, named for the job's `error`.
    pub(super) fn verify(&self, staged: &StagedFile) -> Result<(), String> {
        match self.hash {
            Some((want, by)) if staged.sha256() != want => Err(format!(
                "SHA-256 mismatch: the {} hash is {}, the fetched bytes hash to {}; nothing was stored",
                match by {
                    HashSource::Request => "requested",
                    HashSource::Huggingface => "Hugging Face",
                    HashSource::Civitai => "Civitai",
                },
                want.to_hex(),
                staged.sha256().to_hex()
            )),
            _ => Ok(()),
        }
    }
}

/// Civitai's SHA-256 of the file: the one named `name`, else the primary file, else the
/// only one. `None` (logged) when the API cannot say.
async fn civitai_sha256(
    installs: &Installs,
    version: u64,
    name: Option<&str>,
) -> Option<(Sha256, HashSource)> {
    let mut url = installs.fetcher.endpoints.civitai.clone();
    url.set_path(&format!("/api/v1/model-versions/{version}"));
    let document = match installs.fetcher.json(&url).await {
        Ok(document) => document,
        Err(Failure::Permanent(reason) | Failure::Transient(reason) | Failure::Restart(reason)) => {
            tracing::warn!(
                version,
                reason,
                "Civitai's model-version API gave no hashes; the download is not verified"
            );
            return None;
        }
    };
    let files = document.get("files")?.as_array()?;
    let sha = |f: &serde_json::Value| {
        f.pointer("/hashes/SHA256")
            .and_then(|v| v.as_str())
            .and_then(|hex| Sha256::parse_hex(&hex.to_ascii_lowercase()).ok())
    };
    let named = name.and_then(|n| {
        files
            .iter()
            .find(|f| f.get("name").and_then(|v| v.as_str()) == Some(n))
    });
    let primary = || {
        files
            .iter()
            .find(|f| f.get("primary").and_then(|v| v.as_bool()) == Some(true))
    };
    let only = || (files.len() == 1).then(|| &files[0]);
    let file = named.or_else(primary).or_else(only)?;
    sha(file).map(|s| (s, HashSource::Civitai))
}
