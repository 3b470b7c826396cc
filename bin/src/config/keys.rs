//! The table of keys: each key once, with its variable, file key, types, converter,
//! default, help text and whether it is a secret. `Config`, the file form, the loader,
//! `Debug` and `--help` are made from it (see `macros.rs`). docs/OPERATIONS.md has the
//! longer descriptions.

use std::net::SocketAddr;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use lora_auth::HmacSecret;
use lora_fleet::FleetConfig;
use lora_inspect::BaseModel;

#[cfg(test)]
use super::macros::key_secret;
use super::macros::{
    config_keys, file_value, key_debug, key_default, key_file, key_type, key_value,
};
use super::parse::{
    address, at_least_one, base_models, days, endpoint, entity_types, hmac_secret, host_list,
    lease_seconds, octal_mode, private_access, s3_url, same, seconds, text_or_json,
};
use super::{ConfigError, Env, LogFormat};

config_keys! {
    /// address:port to listen on
    bind: SocketAddr = address(String) {
        env: "LORA_BIND",
        file: "bind",
        default: "127.0.0.1:8000",
    }
    /// the data directory
    data_dir: Utf8PathBuf = same(Utf8PathBuf) {
        env: "LORA_DATA_DIR",
        file: "data_dir",
        default: "./data",
    }
    /// HS256 shared secret
    jwt_secret: HmacSecret = hmac_secret(String) secret {
        env: "LORA_JWT_SECRET",
        file: "jwt_secret",
        unset: "none; on a loopback address `serve` then runs in development mode",
    }
    /// PEM public key, instead of a secret
    jwt_public_key_file: Utf8PathBuf = same(Utf8PathBuf) {
        env: "LORA_JWT_PUBLIC_KEY_FILE",
        file: "jwt_public_key_file",
        unset: "none",
    }
    /// RS256, ES256 or EdDSA with a public key (HS256 with a secret)
    jwt_algorithm: String = same(String) {
        env: "LORA_JWT_ALGORITHM",
        file: "jwt_algorithm",
        unset: "none",
    }
    /// required `iss` claim
    jwt_issuer: String = same(String) {
        env: "LORA_JWT_ISSUER",
        file: "jwt_issuer",
        unset: "not checked",
    }
    /// required `aud` claim
    jwt_audience: String = same(String) {
        env: "LORA_JWT_AUDIENCE",
        file: "jwt_audience",
        unset: "not checked",
    }
    /// largest upload in bytes
    max_upload_bytes: u64 = at_least_one(u64) {
        env: "LORA_MAX_UPLOAD_BYTES",
        file: "max_upload_bytes",
        default: lora_http::DEFAULT_MAX_UPLOAD_BYTES,
    }
    /// comma list of families (sd1 sdxl flux wan … unknown; see docs/FAMILIES.md) that
    /// uploads (and `inspect`) accept; unknown also admits split evidence
    accept_base_models: Vec<BaseModel> = base_models(String) {
        env: "LORA_ACCEPT_BASE_MODELS",
        file: "accept_base_models",
        unset: "all",
    }
    /// whether uploads may be full checkpoints, embeddings, VAEs or ControlNets
    accept_non_lora: bool = same(bool) {
        env: "LORA_ACCEPT_NON_LORA",
        file: "accept_non_lora",
        default: false,
    }
    /// whether uploads whose weights hold NaN or Inf are stored (refused by default)
    accept_unhealthy_weights: bool = same(bool) {
        env: "LORA_ACCEPT_UNHEALTHY_WEIGHTS",
        file: "accept_unhealthy_weights",
        default: false,
    }
    /// purge bin entries older than this many days (> 0)
    bin_retention: Duration = days(f64) {
        env: "LORA_BIN_RETENTION_DAYS",
        file: "bin_retention_days",
        unset: "keep forever",
    }
    /// HTTP worker threads
    workers: usize = same(usize) {
        env: "LORA_WORKERS",
        file: "workers",
        unset: "CPU count",
    }
    /// seconds in-flight requests may finish after SIGTERM or Ctrl-C
    shutdown_grace_secs: u64 = same(u64) {
        env: "LORA_SHUTDOWN_GRACE_SECS",
        file: "shutdown_grace_secs",
        default: lora_http::ServerOptions::default().shutdown_grace.as_secs(),
    }
    /// whether `serve` may create a store where there is none; false refuses a directory
    /// `lora-server init` has not marked
    create_data_dir: bool = same(bool) {
        env: "LORA_CREATE_DATA_DIR",
        file: "create_data_dir",
        default: true,
    }
    /// octal mode of published files, like 0640
    file_mode: u32 = octal_mode(String) {
        env: "LORA_FILE_MODE",
        file: "file_mode",
        unset: "what the umask gives a new file, 0644 under umask 0022",
    }
    /// seconds a request body may send nothing before it is dropped with 408
    upload_idle_timeout: Duration = seconds(u64) {
        env: "LORA_UPLOAD_IDLE_TIMEOUT_SECS",
        file: "upload_idle_timeout_secs",
        default: lora_http::DEFAULT_BODY_IDLE_TIMEOUT.as_secs(),
    }
    /// uploads in flight at once; past it 503 with Retry-After
    max_concurrent_uploads: usize = at_least_one(usize) {
        env: "LORA_MAX_CONCURRENT_UPLOADS",
        file: "max_concurrent_uploads",
        default: lora_http::DEFAULT_MAX_CONCURRENT_UPLOADS,
    }
    /// seconds a resumable (tus) upload may take before it is removed
    upload_expiry: Duration = seconds(u64) {
        env: "LORA_UPLOAD_EXPIRY_SECS",
        file: "upload_expiry_secs",
        default: lora_http::DEFAULT_UPLOAD_EXPIRY.as_secs(),
    }
    /// seconds `POST /api/v1/lora/ensure` keeps files on disk when the request names
    /// no lease_secs (0: no lease; at most 86400)
    replica_lease: Duration = lease_seconds(u64) {
        env: "LORA_REPLICA_LEASE_SECS",
        file: "replica_lease_secs",
        default: lora_http::DEFAULT_LEASE.as_secs(),
    }
    /// s3://BUCKET[/PREFIX]: fleet mode, the bucket is the truth and the data directory
    /// this node's replica; the keys below (S3, sync, AWS) apply to it
    fleet: FleetConfig = s3_url(String) {
        env: "LORA_STORAGE_URL",
        file: "storage_url",
        unset: "unset, the data directory alone",
    }
    /// S3-compatible endpoint (SeaweedFS, MinIO, R2, …)
    s3_endpoint: String = same(String) {
        env: "LORA_S3_ENDPOINT",
        file: "s3_endpoint",
        unset: "AWS",
    }
    /// allow a plain-HTTP endpoint
    s3_allow_http: bool = same(bool) {
        env: "LORA_S3_ALLOW_HTTP",
        file: "s3_allow_http",
        default: false,
    }
    /// how the store copies only onto a free name (R2: 'header:
    /// cf-copy-destination-if-none-match: *'; AWS: multipart)
    s3_copy_if_not_exists: String = same(String) {
        env: "LORA_S3_COPY_IF_NOT_EXISTS",
        file: "s3_copy_if_not_exists",
        default: lora_fleet::DEFAULT_COPY_IF_NOT_EXISTS,
    }
    /// seconds between a node's syncs with the bucket
    sync_interval: Duration = seconds(u64) {
        env: "LORA_SYNC_INTERVAL_SECS",
        file: "sync_interval_secs",
        default: lora_fleet::DEFAULT_SYNC_INTERVAL.as_secs(),
    }
    /// seconds an unfinished multipart upload or staging key (an upload whose node died)
    /// may stay in the bucket before the fleet's sweep removes it
    abandoned_upload: Duration = seconds(u64) {
        env: "LORA_ABANDONED_UPLOAD_SECS",
        file: "abandoned_upload_secs",
        default: lora_fleet::DEFAULT_ABANDONED_AFTER.as_secs(),
    }
    /// bytes of the bucket's files this fleet node keeps on its disk: a working set, the
    /// least recently used evicted first (a positive integer)
    replica_budget_bytes: u64 = at_least_one(u64) {
        env: "LORA_REPLICA_BUDGET_BYTES",
        file: "replica_budget_bytes",
        unset: "a complete replica",
    }
    /// comma list of entity types every fleet node keeps complete whatever the budget
    /// (they count against it first), like styles,clothes
    replica_pin_types: Vec<lora_core::EntityType> = entity_types(String) {
        env: "LORA_REPLICA_PIN_TYPES",
        file: "replica_pin_types",
        unset: "none",
    }
    /// the bucket's access key id
    aws_access_key_id: String = same(String) {
        env: "AWS_ACCESS_KEY_ID",
        unset: "none",
    }
    /// the bucket's secret access key
    aws_secret_access_key: String = same(String) secret {
        env: "AWS_SECRET_ACCESS_KEY",
        unset: "none",
    }
    /// the bucket's region
    aws_region: String = same(String) {
        env: "AWS_REGION",
        unset: "us-east-1",
    }
    /// installs from a URL that download at once; the rest wait, queued
    install_concurrency: usize = at_least_one(usize) {
        env: "LORA_INSTALL_CONCURRENCY",
        file: "install_concurrency",
        default: lora_http::DEFAULT_INSTALL_CONCURRENCY,
    }
    /// whether installs may fetch plain http:// sources
    install_allow_http: bool = same(bool) {
        env: "LORA_INSTALL_ALLOW_HTTP",
        file: "install_allow_http",
        default: false,
    }
    /// whether installs may reach loopback, private, link-local and metadata addresses:
    /// true, false, or a comma list of addresses and CIDR networks allowed
    install_allow_private: lora_http::PrivateAccess = private_access(String) {
        env: "LORA_INSTALL_ALLOW_PRIVATE",
        file: "install_allow_private",
        default: "false",
    }
    /// comma list of hosts (and their subdomains) installs may reach, redirects included
    install_hosts: Vec<String> = host_list(String) {
        env: "LORA_INSTALL_HOSTS",
        file: "install_hosts",
        unset: "any host",
    }
    /// Hugging Face token for gated files, sent to the Hugging Face endpoint only
    hf_token: String = same(String) secret {
        env: "LORA_HF_TOKEN",
        file: "hf_token",
        unset: "none",
    }
    /// Civitai API key, sent to the Civitai endpoint only
    civitai_token: String = same(String) secret {
        env: "LORA_CIVITAI_TOKEN",
        file: "civitai_token",
        unset: "none",
    }
    /// where hf:// resolves, and the origin LORA_HF_TOKEN goes to
    hf_endpoint: url::Url = endpoint(String) {
        env: "LORA_HF_ENDPOINT",
        file: "hf_endpoint",
        default: "https://huggingface.co",
    }
    /// the Civitai origin: its downloads are verified against its API, and
    /// LORA_CIVITAI_TOKEN goes there
    civitai_endpoint: url::Url = endpoint(String) {
        env: "LORA_CIVITAI_ENDPOINT",
        file: "civitai_endpoint",
        default: "https://civitai.com",
    }
    /// bearer token /metrics requires
    metrics_token: String = same(String) secret {
        env: "LORA_METRICS_TOKEN",
        file: "metrics_token",
        unset: "none, open",
    }
    /// text or json (one object per line); text has colour only on a terminal and
    /// without NO_COLOR
    log_format: LogFormat = text_or_json(String) {
        env: "LORA_LOG_FORMAT",
        file: "log_format",
        default: "text",
    }
}

/// What `--help` (and the tests that walk the table) know of a key.
#[derive(Debug)]
pub(super) struct Key {
    /// The environment variable.
    pub env: &'static str,
    /// The config file's key; `None`: environment only.
    pub file: Option<&'static str>,
    /// What the key sets.
    pub help: &'static str,
    /// The default, as `--help` shows it.
    pub default: fn() -> String,
    /// Whether `Debug` hides its value (the tests check it does).
    #[cfg(test)]
    pub secret: bool,
    /// A value of the key's file type, in TOML.
    #[cfg(test)]
    pub toml_sample: &'static str,
}

/// `Some("<redacted>")` for a secret that is set.
fn redacted<T>(secret: &Option<T>) -> Option<&'static str> {
    secret.as_ref().map(|_| "<redacted>")
}

const HELP_HEAD: &str = "\
Environment (each LORA_ variable overrides the same key of the --config file, in lower
case without LORA_: LORA_DATA_DIR -> data_dir; an empty value is refused; variables
marked \"environment only\" are never read from the file):";

/// Variables read by libraries rather than by the configuration.
const HELP_TAIL: &[(&str, &str)] = &[("RUST_LOG", "log filter (environment only) [default: info]")];

/// The help's width, and where the descriptions start.
const WIDTH: usize = 88;
const INDENT: usize = 28;

/// The environment variables with their defaults, for `--help`.
pub fn env_help() -> String {
    let mut out = String::from(HELP_HEAD);
    for key in KEYS {
        let only = if key.file.is_none() {
            " (environment only)"
        } else {
            ""
        };
        let text = format!("{}{only} [default: {}]", key.help.trim(), (key.default)());
        push_entry(&mut out, key.env, &text);
    }
    for (name, text) in HELP_TAIL {
        push_entry(&mut out, name, text);
    }
    out
}

/// `  NAME   text…`, the text wrapped at [`WIDTH`] under [`INDENT`]; a default's
/// `[default: VALUE` stays on one line.
fn push_entry(out: &mut String, name: &str, text: &str) {
    let mut words: Vec<String> = Vec::new();
    let mut glue = false;
    for word in text.split_whitespace() {
        match words.last_mut() {
            Some(last) if glue => {
                last.push(' ');
                last.push_str(word);
                glue = false;
            }
            _ => {
                glue = word == "[default:";
                words.push(word.to_owned());
            }
        }
    }
    let mut line = format!("  {name}");
    let mut width = line.chars().count();
    let mut first = true;
    for word in words {
        let len = word.chars().count();
        if first {
            let pad = if width + 2 <= INDENT {
                INDENT - width
            } else {
                2
            };
            line.push_str(&" ".repeat(pad));
            width += pad;
            first = false;
        } else if width + 1 + len > WIDTH {
            out.push('\n');
            out.push_str(line.trim_end());
            line = " ".repeat(INDENT);
            width = INDENT;
        } else {
            line.push(' ');
            width += 1;
        }
        line.push_str(&word);
        width += len;
    }
    out.push('\n');
    out.push_str(&line);
}
