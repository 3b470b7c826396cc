//! Configuration in layers: embedded defaults, then an optional TOML file, then `LORA_*`
//! environment variables (which win).

use std::fmt;
use std::net::SocketAddr;

use camino::{Utf8Path, Utf8PathBuf};
use lora_auth::{AuthConfig, HmacSecret, PublicKeyAlgorithm};
use lora_inspect::BaseModel;
use serde::Deserialize;

mod error;
mod parse;

pub use error::ConfigError;
use parse::{at_least_one, parse_bool, parse_mode, parse_number};

/// The environment variables with their defaults, for `--help` (docs/OPERATIONS.md has
/// the whole table).
pub const ENV_HELP: &str = "\
Environment (each overrides the same key of the --config file, in lower case without
LORA_: LORA_DATA_DIR -> data_dir; an empty value is refused):
  LORA_BIND                 address:port to listen on [default: 127.0.0.1:8000]
  LORA_DATA_DIR             the data directory [default: ./data]
  LORA_JWT_SECRET           HS256 shared secret [default: none; on a loopback address
                            `serve` then runs in development mode]
  LORA_JWT_PUBLIC_KEY_FILE  PEM public key, instead of a secret [default: none]
  LORA_JWT_ALGORITHM        RS256, ES256 or EdDSA with a public key (HS256 with a secret)
  LORA_JWT_ISSUER           required `iss` claim [default: not checked]
  LORA_JWT_AUDIENCE         required `aud` claim [default: not checked]
  LORA_MAX_UPLOAD_BYTES     largest upload in bytes [default: 524288000]
  LORA_ACCEPT_BASE_MODELS   comma list of families (sd1 sdxl flux wan … unknown; see
                            docs/FAMILIES.md) that uploads (and `inspect`) accept;
                            unknown also admits split evidence [default: all]
  LORA_ACCEPT_NON_LORA      whether uploads may be full checkpoints, embeddings, VAEs
                            or ControlNets [default: false]
  LORA_BIN_RETENTION_DAYS   purge bin entries older than this many days (> 0)
                            [default: keep forever]
  LORA_WORKERS              HTTP worker threads [default: CPU count]
  LORA_SHUTDOWN_GRACE_SECS  seconds in-flight requests may finish after SIGTERM or
                            Ctrl-C [default: 30]
  LORA_CREATE_DATA_DIR      whether `serve` may create a store where there is none;
                            false refuses a directory `lora-server init` has not
                            marked [default: true]
  LORA_FILE_MODE            octal mode of published files, like 0640 [default: what
                            the umask gives a new file, 0644 under umask 0022]
  LORA_UPLOAD_IDLE_TIMEOUT_SECS  seconds a request body may send nothing before it is
                            dropped with 408 [default: 60]
  LORA_MAX_CONCURRENT_UPLOADS  uploads in flight at once; past it 503 with Retry-After
                            [default: 64]
  LORA_UPLOAD_EXPIRY_SECS   seconds a resumable (tus) upload may take before it is
                            removed [default: 86400]
  LORA_STORAGE_URL          s3://BUCKET[/PREFIX]: fleet mode, the bucket is the truth and
                            the data directory this node's replica [default: unset, the
                            data directory alone]
  LORA_S3_ENDPOINT          S3-compatible endpoint (SeaweedFS, MinIO, R2, …) [default: AWS]
  LORA_S3_ALLOW_HTTP        allow a plain-HTTP endpoint [default: false]
  LORA_S3_COPY_IF_NOT_EXISTS  how the store copies only onto a free name
                            [default: 'header: If-None-Match: *'; R2: 'header:
                            cf-copy-destination-if-none-match: *'; AWS: multipart]
  LORA_SYNC_INTERVAL_SECS   seconds between a node's syncs with the bucket [default: 10]
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION [default: us-east-1]
                            the bucket's credentials and region (environment only)
  LORA_METRICS_TOKEN        bearer token /metrics requires [default: none, open]
  LORA_LOG_FORMAT           text or json (one object per line) [default: text; colour
                            only on a terminal and without NO_COLOR]
  RUST_LOG                  log filter [default: info]";

/// The file form: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    data_dir: Option<Utf8PathBuf>,
    jwt_secret: Option<String>,
    jwt_public_key_file: Option<Utf8PathBuf>,
    jwt_algorithm: Option<String>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    max_upload_bytes: Option<u64>,
    workers: Option<usize>,
    shutdown_grace_secs: Option<u64>,
    accept_base_models: Option<String>,
    accept_non_lora: Option<bool>,
    bin_retention_days: Option<f64>,
    create_data_dir: Option<bool>,
    file_mode: Option<String>,
    upload_idle_timeout_secs: Option<u64>,
    max_concurrent_uploads: Option<usize>,
    upload_expiry_secs: Option<u64>,
    metrics_token: Option<String>,
    storage_url: Option<String>,
    s3_endpoint: Option<String>,
    s3_allow_http: Option<bool>,
    s3_copy_if_not_exists: Option<String>,
    sync_interval_secs: Option<u64>,
}

/// The resolved configuration.
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: Utf8PathBuf,
    pub jwt_secret: Option<HmacSecret>,
    pub jwt_public_key_file: Option<Utf8PathBuf>,
    pub jwt_algorithm: Option<String>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub max_upload_bytes: u64,
    pub workers: Option<usize>,
    pub shutdown_grace_secs: u64,
    /// Base models uploads may be of; `None` accepts all.
    pub accept_base_models: Option<Vec<BaseModel>>,
    /// Whether uploads may be checkpoints, embeddings, VAEs or ControlNets.
    pub accept_non_lora: bool,
    /// Bin entries older than this are purged; `None` keeps them forever.
    pub bin_retention: Option<std::time::Duration>,
    /// Whether `serve` may create (and mark) a store in a directory that holds none.
    pub create_data_dir: bool,
    /// Permission bits of published files; `None`: what the umask gives.
    pub file_mode: Option<u32>,
    /// How long a request body may send nothing before it is dropped (408).
    pub upload_idle_timeout: std::time::Duration,
    /// The cap on uploads in flight.
    pub max_concurrent_uploads: usize,
    /// Fleet mode's bucket, endpoint and credentials; `None`: the data directory alone.
    pub fleet: Option<lora_fleet::FleetConfig>,
    /// How long a resumable upload lives.
    pub upload_expiry: std::time::Duration,
    /// The bearer token `/metrics` requires; `None`: open.
    pub metrics_token: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_public_key_file", &self.jwt_public_key_file)
            .field("jwt_algorithm", &self.jwt_algorithm)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("workers", &self.workers)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("accept_base_models", &self.accept_base_models)
            .field("accept_non_lora", &self.accept_non_lora)
            .field("bin_retention", &self.bin_retention)
            .field("create_data_dir", &self.create_data_dir)
            .field("file_mode", &self.file_mode.map(|m| format!("{m:04o}")))
            .field("upload_idle_timeout", &self.upload_idle_timeout)
            .field("max_concurrent_uploads", &self.max_concurrent_uploads)
            .field("fleet", &self.fleet)
            .field("upload_expiry", &self.upload_expiry)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Config {
    /// What uploads (and `inspect`) admit.
    pub fn admission(&self) -> lora_inspect::Admission {
        lora_inspect::Admission {
            base_models: self.accept_base_models.clone(),
            non_lora: self.accept_non_lora,
        }
    }
}

/// Where variables come from; a function so tests need not touch the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Loads defaults, then `file` (relative paths in it are taken relative to the file's
    /// folder), then the environment.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unreadable file or a value of the wrong form.
    pub fn load(file: Option<&Utf8Path>, env: Env<'_>) -> Result<Self, ConfigError> {
        let from_file = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                        path: path.to_owned(),
                        source,
                    })?;
                let mut parsed: FileConfig =
                    toml::from_str(&text).map_err(|source| ConfigError::ParseFile {
                        path: path.to_owned(),
                        source,
                    })?;
                let base = path.parent().unwrap_or(Utf8Path::new(""));
                parsed.data_dir = parsed.data_dir.map(|d| base.join(d));
                parsed.jwt_public_key_file = parsed.jwt_public_key_file.map(|d| base.join(d));
                parsed
            }
            None => FileConfig::default(),
        };
        // A variable set to nothing is refused rather than read as unset: an empty
        // LORA_JWT_SECRET must not quietly mean "the file's secret" or development mode.
        // The first one met is reported once every value has been read.
        let empty = std::cell::Cell::new(None);
        let var = |key: &'static str| match env(key) {
            Some(v) if v.trim().is_empty() => {
                empty.set(empty.get().or(Some(key)));
                None
            }
            v => v,
        };

        let bind = var("LORA_BIND")
            .or(from_file.bind)
            .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
        let bind = bind.parse().map_err(|e| ConfigError::Invalid {
            key: "LORA_BIND",
            reason: format!("'{bind}' is not an address:port ({e})"),
        })?;
        let max_upload_bytes = at_least_one(
            "LORA_MAX_UPLOAD_BYTES",
            var("LORA_MAX_UPLOAD_BYTES"),
            from_file.max_upload_bytes,
            lora_http::DEFAULT_MAX_UPLOAD_BYTES,
        )?;
        let workers = match var("LORA_WORKERS") {
            Some(v) => Some(parse_number("LORA_WORKERS", &v)?),
            None => from_file.workers,
        };
        let shutdown_grace_secs = match var("LORA_SHUTDOWN_GRACE_SECS") {
            Some(v) => parse_number("LORA_SHUTDOWN_GRACE_SECS", &v)?,
            None => from_file.shutdown_grace_secs.unwrap_or(30),
        };
        let accept_base_models =
            match var("LORA_ACCEPT_BASE_MODELS").or(from_file.accept_base_models) {
                None => None,
                Some(list) => Some(
                    list.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| {
                            BaseModel::parse(s).ok_or_else(|| ConfigError::Invalid {
                                key: "LORA_ACCEPT_BASE_MODELS",
                                reason: format!(
                                    "'{s}' is not one of {}",
                                    BaseModel::ALL.map(BaseModel::as_str).join(", ")
                                ),
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
        if accept_base_models.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::Invalid {
                key: "LORA_ACCEPT_BASE_MODELS",
                reason: "names no base model, which would refuse every upload; leave it unset to accept all".into(),
            });
        }
        let retention_days = match var("LORA_BIN_RETENTION_DAYS") {
            Some(v) => Some(parse_number::<f64>("LORA_BIN_RETENTION_DAYS", &v)?),
            None => from_file.bin_retention_days,
        };
        let bin_retention = match retention_days {
            None => None,
            Some(d) if d.is_finite() && d > 0.0 => {
                Some(std::time::Duration::from_secs_f64(d * 86_400.0))
            }
            Some(d) => {
                return Err(ConfigError::Invalid {
                    key: "LORA_BIN_RETENTION_DAYS",
                    reason: format!(
                        "{d} is not a number of days > 0 (0 would empty the bin within a second \
                         of every delete; leave it unset to keep binned files forever)"
                    ),
                });
            }
        };
        let accept_non_lora = match var("LORA_ACCEPT_NON_LORA") {
            Some(v) => parse_bool("LORA_ACCEPT_NON_LORA", &v)?,
            None => from_file.accept_non_lora.unwrap_or(false),
        };
        let create_data_dir = match var("LORA_CREATE_DATA_DIR") {
            Some(v) => parse_bool("LORA_CREATE_DATA_DIR", &v)?,
            None => from_file.create_data_dir.unwrap_or(true),
        };
        let file_mode = match var("LORA_FILE_MODE").or(from_file.file_mode) {
            None => None,
            Some(v) => Some(parse_mode(&v)?),
        };
        let idle_secs = at_least_one(
            "LORA_UPLOAD_IDLE_TIMEOUT_SECS",
            var("LORA_UPLOAD_IDLE_TIMEOUT_SECS"),
            from_file.upload_idle_timeout_secs,
            lora_http::DEFAULT_BODY_IDLE_TIMEOUT.as_secs(),
        )?;
        let max_concurrent_uploads = at_least_one(
            "LORA_MAX_CONCURRENT_UPLOADS",
            var("LORA_MAX_CONCURRENT_UPLOADS"),
            from_file.max_concurrent_uploads,
            lora_http::DEFAULT_MAX_CONCURRENT_UPLOADS,
        )?;
        let fleet = match var("LORA_STORAGE_URL").or(from_file.storage_url) {
            None => None,
            Some(url) => {
                let mut fleet = lora_fleet::FleetConfig::from_url(url.trim()).map_err(|e| {
                    ConfigError::Invalid {
                        key: "LORA_STORAGE_URL",
                        reason: e.to_string(),
                    }
                })?;
                fleet.endpoint = var("LORA_S3_ENDPOINT").or(from_file.s3_endpoint);
                if let Some(mode) =
                    var("LORA_S3_COPY_IF_NOT_EXISTS").or(from_file.s3_copy_if_not_exists)
                {
                    fleet.copy_if_not_exists = mode;
                }
                fleet.allow_http = match var("LORA_S3_ALLOW_HTTP") {
                    Some(v) => parse_bool("LORA_S3_ALLOW_HTTP", &v)?,
                    None => from_file.s3_allow_http.unwrap_or(false),
                };
                fleet.sync_interval = std::time::Duration::from_secs(at_least_one(
                    "LORA_SYNC_INTERVAL_SECS",
                    var("LORA_SYNC_INTERVAL_SECS"),
                    from_file.sync_interval_secs,
                    10,
                )?);
                fleet.access_key_id = env("AWS_ACCESS_KEY_ID").filter(|v| !v.is_empty());
                fleet.secret_access_key = env("AWS_SECRET_ACCESS_KEY").filter(|v| !v.is_empty());
                if let Some(region) = env("AWS_REGION").filter(|v| !v.trim().is_empty()) {
                    fleet.region = region;
                }
                if fleet
                    .endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://"))
                    && !fleet.allow_http
                {
                    return Err(ConfigError::Invalid {
                        key: "LORA_S3_ENDPOINT",
                        reason: "is plain HTTP: set LORA_S3_ALLOW_HTTP=true to allow it".into(),
                    });
                }
                Some(fleet)
            }
        };
        let upload_expiry = std::time::Duration::from_secs(at_least_one(
            "LORA_UPLOAD_EXPIRY_SECS",
            var("LORA_UPLOAD_EXPIRY_SECS"),
            from_file.upload_expiry_secs,
            86_400,
        )?);
        let config = Self {
            metrics_token: var("LORA_METRICS_TOKEN").or(from_file.metrics_token),
            upload_expiry,
            fleet,
            max_concurrent_uploads,
            upload_idle_timeout: std::time::Duration::from_secs(idle_secs),
            create_data_dir,
            file_mode,
            bin_retention,
            accept_base_models,
            accept_non_lora,
            bind,
            data_dir: var("LORA_DATA_DIR")
                .map(Utf8PathBuf::from)
                .or(from_file.data_dir)
                .unwrap_or_else(|| Utf8PathBuf::from("./data")),
            jwt_secret: var("LORA_JWT_SECRET")
                .or(from_file.jwt_secret)
                .map(|s| HmacSecret::new(s.into_bytes())),
            jwt_public_key_file: var("LORA_JWT_PUBLIC_KEY_FILE")
                .map(Utf8PathBuf::from)
                .or(from_file.jwt_public_key_file),
            jwt_algorithm: var("LORA_JWT_ALGORITHM").or(from_file.jwt_algorithm),
            jwt_issuer: var("LORA_JWT_ISSUER").or(from_file.jwt_issuer),
            jwt_audience: var("LORA_JWT_AUDIENCE").or(from_file.jwt_audience),
            max_upload_bytes,
            workers,
            shutdown_grace_secs,
        };
        match empty.get() {
            Some(key) => Err(ConfigError::Empty { key }),
            None => Ok(config),
        }
    }

    /// The verifier configuration, or `None` when no key is configured at all.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Key`] for a contradictory or incomplete key configuration.
    pub fn auth(&self) -> Result<Option<AuthConfig>, ConfigError> {
        let algorithm = self.jwt_algorithm.as_deref().map(str::trim);
        let mut config = match (&self.jwt_secret, &self.jwt_public_key_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Key(
                    "both a JWT secret (LORA_JWT_SECRET or jwt_secret) and a public key file \
                     (LORA_JWT_PUBLIC_KEY_FILE or jwt_public_key_file) are configured, from the \
                     environment or the config file: keep only one"
                        .into(),
                ));
            }
            (None, None) => return Ok(None),
            (Some(secret), None) => {
                if let Some(alg) = algorithm
                    && !alg.eq_ignore_ascii_case("HS256")
                {
                    return Err(ConfigError::Key(format!(
                        "LORA_JWT_SECRET is an HS256 secret, but LORA_JWT_ALGORITHM is '{alg}'"
                    )));
                }
                AuthConfig::hs256(secret.clone())
            }
            (None, Some(file)) => {
                let alg = algorithm.ok_or_else(|| {
                    ConfigError::Key(
                        "LORA_JWT_PUBLIC_KEY_FILE needs LORA_JWT_ALGORITHM (RS256, ES256 or EdDSA)"
                            .into(),
                    )
                })?;
                let alg: PublicKeyAlgorithm =
                    alg.parse().map_err(|e| ConfigError::Key(format!("{e}")))?;
                let pem = std::fs::read(file).map_err(|e| {
                    ConfigError::Key(format!("cannot read the public key {file}: {e}"))
                })?;
                AuthConfig::public_key(alg, pem)
            }
        };
        config.issuer = self.jwt_issuer.clone();
        config.audience = self.jwt_audience.clone();
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests;
