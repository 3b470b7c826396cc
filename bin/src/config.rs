//! Configuration in layers: embedded defaults, then an optional TOML file, then `LORA_*`
//! environment variables (which win).

use std::fmt;
use std::net::SocketAddr;

use camino::{Utf8Path, Utf8PathBuf};
use lora_auth::{AuthConfig, HmacSecret, PublicKeyAlgorithm};
use lora_inspect::BaseModel;
use serde::Deserialize;
use thiserror::Error;

/// Why the configuration cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read the config file {path}: {source}")]
    ReadFile {
        path: Utf8PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML of the expected shape.
    #[error("invalid config file {path}: {source}")]
    ParseFile {
        path: Utf8PathBuf,
        #[source]
        source: toml::de::Error,
    },
    /// A value is not of the expected form.
    #[error("invalid {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    /// A `LORA_*` variable is set to an empty or blank value.
    #[error(
        "{key} is set but empty: give it a value, or unset it (the config file's value or the default then applies)"
    )]
    Empty { key: &'static str },
    /// The JWT key configuration is incomplete or contradictory.
    #[error("{0}")]
    Key(String),
}

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

fn parse_number<T: std::str::FromStr>(key: &'static str, raw: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    raw.trim().parse().map_err(|e| ConfigError::Invalid {
        key,
        reason: format!("'{raw}': {e}"),
    })
}

/// A count from the environment (which wins), else the file, else `default`; 0 refused.
fn at_least_one<T>(
    key: &'static str,
    env: Option<String>,
    file: Option<T>,
    default: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialEq + From<u8>,
    T::Err: fmt::Display,
{
    let value = match env {
        Some(raw) => parse_number(key, &raw)?,
        None => file.unwrap_or(default),
    };
    if value == T::from(0) {
        return Err(ConfigError::Invalid {
            key,
            reason: "must be at least 1".into(),
        });
    }
    Ok(value)
}

/// `true/false/1/0/yes/no/on/off`, any case.
fn parse_bool(key: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            key,
            reason: format!("'{raw}' is not a boolean (true or false)"),
        }),
    }
}

/// Octal permission bits (`0644`, `640`); the owner must keep read and write access.
fn parse_mode(raw: &str) -> Result<u32, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        key: "LORA_FILE_MODE",
        reason,
    };
    let digits = raw.trim().trim_start_matches("0o");
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| invalid(format!("'{raw}' is not an octal mode like 0644")))?;
    if mode > 0o777 {
        return Err(invalid(format!("'{raw}' has bits beyond 0777")));
    }
    if mode & 0o600 != 0o600 {
        return Err(invalid(format!(
            "'{raw}' takes read or write access from the service's own user"
        )));
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults() {
        let c = Config::load(None, &env(&[])).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(c.data_dir, "./data");
        assert_eq!(c.max_upload_bytes, 524_288_000);
        assert!(c.auth().unwrap().is_none());
    }

    #[test]
    fn environment_wins_over_the_file_and_file_paths_are_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("lora.toml")).unwrap();
        std::fs::write(&path, "bind = \"0.0.0.0:9000\"\ndata_dir = \"store\"\nmax_upload_bytes = 10\njwt_secret = \"from-file\"\n").unwrap();
        let c = Config::load(Some(&path), &env(&[("LORA_MAX_UPLOAD_BYTES", "20")])).unwrap();
        assert_eq!(c.bind.to_string(), "0.0.0.0:9000");
        assert_eq!(c.data_dir, path.parent().unwrap().join("store"));
        assert_eq!(c.max_upload_bytes, 20);
        assert!(c.auth().unwrap().is_some());
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::load(None, &env(&[("LORA_BIND", "nowhere")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("LORA_BIND"));
        let err = Config::load(None, &env(&[("LORA_MAX_UPLOAD_BYTES", "lots")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("LORA_MAX_UPLOAD_BYTES"));
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("bad.toml")).unwrap();
        std::fs::write(&path, "colour = \"blue\"\n").unwrap();
        assert!(matches!(
            Config::load(Some(&path), &env(&[])),
            Err(ConfigError::ParseFile { .. })
        ));
    }

    #[test]
    fn key_combinations() {
        let both = Config::load(
            None,
            &env(&[
                ("LORA_JWT_SECRET", "s"),
                ("LORA_JWT_PUBLIC_KEY_FILE", "k.pem"),
            ]),
        )
        .unwrap();
        assert!(both.auth().is_err());
        let no_alg = Config::load(None, &env(&[("LORA_JWT_PUBLIC_KEY_FILE", "k.pem")])).unwrap();
        assert!(no_alg.auth().is_err());
        let wrong_alg = Config::load(
            None,
            &env(&[("LORA_JWT_SECRET", "s"), ("LORA_JWT_ALGORITHM", "RS256")]),
        )
        .unwrap();
        assert!(wrong_alg.auth().is_err());
        let ok = Config::load(
            None,
            &env(&[
                ("LORA_JWT_SECRET", "s"),
                ("LORA_JWT_ALGORITHM", "hs256"),
                ("LORA_JWT_ISSUER", "me"),
            ]),
        )
        .unwrap();
        assert_eq!(ok.auth().unwrap().unwrap().issuer.as_deref(), Some("me"));
    }

    #[test]
    fn fleet_mode_from_the_environment() {
        assert!(Config::load(None, &env(&[])).unwrap().fleet.is_none());
        let c = Config::load(
            None,
            &env(&[
                ("LORA_STORAGE_URL", "s3://loras/prod/"),
                ("LORA_S3_ENDPOINT", "http://127.0.0.1:8333"),
                ("LORA_S3_ALLOW_HTTP", "true"),
                ("LORA_SYNC_INTERVAL_SECS", "3"),
                ("AWS_ACCESS_KEY_ID", "id"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
            ]),
        )
        .unwrap();
        let fleet = c.fleet.unwrap();
        assert_eq!(
            (fleet.bucket.as_str(), fleet.prefix.as_str()),
            ("loras", "prod")
        );
        assert_eq!(fleet.region, "us-east-1");
        assert_eq!(fleet.sync_interval, std::time::Duration::from_secs(3));
        assert_eq!(
            fleet.copy_if_not_exists,
            lora_fleet::DEFAULT_COPY_IF_NOT_EXISTS
        );
        assert!(
            !format!("{fleet:?}").contains("secret\""),
            "the secret is redacted"
        );
        // Plain HTTP only when allowed; a bad URL or interval is named.
        for (vars, key) in [
            (
                vec![
                    ("LORA_STORAGE_URL", "s3://loras"),
                    ("LORA_S3_ENDPOINT", "http://127.0.0.1:8333"),
                ],
                "LORA_S3_ENDPOINT",
            ),
            (
                vec![("LORA_STORAGE_URL", "https://loras")],
                "LORA_STORAGE_URL",
            ),
            (
                vec![
                    ("LORA_STORAGE_URL", "s3://loras"),
                    ("LORA_SYNC_INTERVAL_SECS", "0"),
                ],
                "LORA_SYNC_INTERVAL_SECS",
            ),
        ] {
            let err = Config::load(None, &env(&vars)).err().unwrap();
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn other_kinds_are_refused_unless_accepted() {
        let default = Config::load(None, &env(&[])).unwrap();
        assert_eq!(default.admission(), lora_inspect::Admission::default());
        let c = Config::load(
            None,
            &env(&[
                ("LORA_ACCEPT_NON_LORA", "true"),
                (
                    "LORA_ACCEPT_BASE_MODELS",
                    "hunyuan_video, qwen_image, unknown",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.admission(),
            lora_inspect::Admission {
                base_models: Some(vec![
                    BaseModel::HunyuanVideo,
                    BaseModel::QwenImage,
                    BaseModel::Unknown
                ]),
                non_lora: true,
            }
        );
        let err = Config::load(None, &env(&[("LORA_ACCEPT_NON_LORA", "maybe")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("LORA_ACCEPT_NON_LORA"), "{err}");
    }

    #[test]
    fn accepted_base_models() {
        let c = Config::load(None, &env(&[("LORA_ACCEPT_BASE_MODELS", "sdxl, Flux")])).unwrap();
        assert_eq!(
            c.accept_base_models,
            Some(vec![BaseModel::Sdxl, BaseModel::Flux])
        );
        assert!(Config::load(None, &env(&[("LORA_ACCEPT_BASE_MODELS", "sdxl,sd9")])).is_err());
        assert_eq!(
            Config::load(None, &env(&[])).unwrap().accept_base_models,
            None
        );
    }

    #[test]
    fn an_empty_variable_is_refused_by_name() {
        for key in [
            "LORA_JWT_SECRET",
            "LORA_JWT_PUBLIC_KEY_FILE",
            "LORA_DATA_DIR",
            "LORA_ACCEPT_BASE_MODELS",
        ] {
            for blank in ["", "  "] {
                let err = Config::load(None, &env(&[(key, blank)])).err().unwrap();
                assert!(
                    matches!(err, ConfigError::Empty { key: k } if k == key),
                    "{err}"
                );
                assert!(
                    err.to_string()
                        .starts_with(&format!("{key} is set but empty"))
                );
            }
        }
    }

    /// Each variable overrides its own key only: a public key from the file and a secret
    /// from the environment are both configured, and that is refused.
    #[test]
    fn a_file_key_and_an_environment_secret_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("lora.toml")).unwrap();
        std::fs::write(
            &path,
            "jwt_public_key_file = \"jwt.pem\"\njwt_algorithm = \"RS256\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&path), &env(&[("LORA_JWT_SECRET", "s")])).unwrap();
        let err = c.auth().err().unwrap().to_string();
        assert!(
            err.contains("LORA_JWT_SECRET or jwt_secret") && err.contains("keep only one"),
            "{err}"
        );
    }

    #[test]
    fn bin_retention_must_be_positive() {
        for bad in ["0", "-1", "NaN"] {
            let err = Config::load(None, &env(&[("LORA_BIN_RETENTION_DAYS", bad)]))
                .err()
                .unwrap();
            assert!(err.to_string().contains("LORA_BIN_RETENTION_DAYS"), "{err}");
        }
        let c = Config::load(None, &env(&[("LORA_BIN_RETENTION_DAYS", "0.5")])).unwrap();
        assert_eq!(
            c.bin_retention,
            Some(std::time::Duration::from_secs(43_200))
        );
    }

    #[test]
    fn an_allowlist_naming_nothing_is_refused() {
        let err = Config::load(None, &env(&[("LORA_ACCEPT_BASE_MODELS", " , ")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("names no base model"), "{err}");
    }

    /// `--help` names every variable the configuration reads, with the defaults.
    #[test]
    fn the_help_lists_every_variable_read() {
        let asked = std::cell::RefCell::new(Vec::new());
        let recording = |key: &str| {
            asked.borrow_mut().push(key.to_owned());
            None
        };
        let c = Config::load(None, &recording).unwrap();
        let asked = asked.into_inner();
        assert!(asked.len() >= 12, "{asked:?}");
        for key in &asked {
            assert!(
                ENV_HELP.contains(key.as_str()),
                "{key} is missing from ENV_HELP"
            );
        }
        assert!(ENV_HELP.contains(&format!("[default: {}]", c.bind)));
        assert!(ENV_HELP.contains(&format!("[default: {}]", c.data_dir)));
        assert!(ENV_HELP.contains(&format!("[default: {}]", c.max_upload_bytes)));
        assert!(ENV_HELP.contains(&format!("[default: {}]", c.shutdown_grace_secs)));
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = Config::load(None, &env(&[("LORA_JWT_SECRET", "hunter2-very-secret")])).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
