//! Fleet mode's configuration: which bucket, where, with which credentials.

use std::time::Duration;

use crate::FleetError;

/// The default conditional copy: CopyObject with `If-None-Match: *`.
pub const DEFAULT_COPY_IF_NOT_EXISTS: &str = "header: If-None-Match: *";

/// How often a node lists the bucket by default (`LORA_SYNC_INTERVAL_SECS`).
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(10);

/// How long an unfinished multipart upload or staging key may stay in the bucket before
/// the sweep removes it (`LORA_ABANDONED_UPLOAD_SECS`): a day.
pub const DEFAULT_ABANDONED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Where the shared truth lives and how often a node catches up with it.
#[derive(Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// The bucket.
    pub bucket: String,
    /// Key prefix inside the bucket, without slashes at either end (empty: none).
    pub prefix: String,
    /// The S3 endpoint (`http://127.0.0.1:8333`); `None`: AWS.
    pub endpoint: Option<String>,
    /// The region (`us-east-1` unless told).
    pub region: String,
    /// Access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// Whether a plain-HTTP endpoint is allowed (`LORA_S3_ALLOW_HTTP`).
    pub allow_http: bool,
    /// How often every node lists the bucket and catches up (`LORA_SYNC_INTERVAL_SECS`).
    pub sync_interval: Duration,
    /// How long an unfinished multipart upload (an upload whose node died) or a staging
    /// key may stay before the sweep removes it (`LORA_ABANDONED_UPLOAD_SECS`). A resumable
    /// upload's own multipart upload is kept while its record names it, whatever its age.
    pub abandoned_after: Duration,
    /// How the store is asked to copy only onto a free name, in object_store's encoding
    /// (`LORA_S3_COPY_IF_NOT_EXISTS`): `header: If-None-Match: *` (the default: SeaweedFS,
    /// MinIO, Ceph RGW), `header: cf-copy-destination-if-none-match: *` (Cloudflare R2),
    /// or `multipart` (AWS; the sha256 metadata is then lost on the way and downloads are
    /// checked by the content rules only).
    pub copy_if_not_exists: String,
    /// The disk budget for the bucket's files on this node (`LORA_REPLICA_BUDGET_BYTES`):
    /// `None` keeps a complete replica; with a budget the node keeps a working set,
    /// evicting the least recently used files.
    pub budget: Option<u64>,
    /// Entity types every node keeps complete whatever the budget
    /// (`LORA_REPLICA_PIN_TYPES`); they count against the budget first.
    pub pins: Vec<lora_core::EntityType>,
}

impl std::fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetConfig")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("sync_interval", &self.sync_interval)
            .field("abandoned_after", &self.abandoned_after)
            .field("copy_if_not_exists", &self.copy_if_not_exists)
            .field("budget", &self.budget)
            .field("pins", &self.pins)
            .finish()
    }
}

impl FleetConfig {
    /// Reads `s3://BUCKET[/PREFIX]`; everything else takes its default (region
    /// `us-east-1`, no endpoint, no credentials, HTTPS only, a 10 s sync).
    ///
    /// # Errors
    ///
    /// [`FleetError::Config`] for another scheme, an empty bucket, or a prefix with empty
    /// or `..` parts.
    pub fn from_url(url: &str) -> Result<Self, FleetError> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            FleetError::Config(format!("'{url}' is not an s3://BUCKET[/PREFIX] URL"))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(FleetError::Config(format!("'{url}' names no bucket")));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == ".." || p == ".") || prefix.contains("//") {
            return Err(FleetError::Config(format!(
                "the prefix of '{url}' has empty, '.' or '..' parts"
            )));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            abandoned_after: DEFAULT_ABANDONED_AFTER,
            copy_if_not_exists: DEFAULT_COPY_IF_NOT_EXISTS.to_owned(),
            budget: None,
            pins: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = FleetConfig::from_url("s3://loras/fleet/a/").unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("loras", "fleet/a"));
        assert_eq!(FleetConfig::from_url("s3://loras").unwrap().prefix, "");
        assert!(FleetConfig::from_url("https://loras").is_err());
        assert!(FleetConfig::from_url("s3:///x").is_err());
        assert!(FleetConfig::from_url("s3://b/../x").is_err());
        let debug = format!(
            "{:?}",
            FleetConfig {
                secret_access_key: Some("hunter2".into()),
                ..c
            }
        );
        assert!(!debug.contains("hunter2"));
    }
}
