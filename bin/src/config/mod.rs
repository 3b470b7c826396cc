//! Configuration in layers: embedded defaults, then an optional TOML file, then the
//! environment variables (which win). Every key is defined once, in the table of
//! `keys.rs`: `Config`, the file form, the loader, `Debug` and `--help` come from it.

use camino::Utf8Path;
use lora_auth::{AuthConfig, PublicKeyAlgorithm};

mod error;
mod keys;
mod macros;
mod parse;

pub use error::ConfigError;
pub use keys::{Config, env_help};

/// How log lines are written (`LORA_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people: colour only on a terminal and without `NO_COLOR`.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where variables come from; a function so tests need not touch the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Loads defaults, then `file` (relative paths in it are taken relative to the file's
    /// folder), then the environment.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unreadable file, a value of the wrong form, or an empty
    /// `LORA_*` variable.
    pub fn load(file: Option<&Utf8Path>, env: Env<'_>) -> Result<Self, ConfigError> {
        let (values, folder) = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                        path: path.to_owned(),
                        source,
                    })?;
                let values = toml::from_str(&text).map_err(|source| ConfigError::ParseFile {
                    path: path.to_owned(),
                    source,
                })?;
                (values, path.parent().unwrap_or(Utf8Path::new("")))
            }
            None => (keys::FileValues::default(), Utf8Path::new("")),
        };
        let mut config = Self::from_sources(values, folder, env)?;
        config.apply_fleet_keys()?;
        Ok(config)
    }

    /// Fleet mode (`LORA_STORAGE_URL` set) takes the endpoint, sync and AWS keys.
    fn apply_fleet_keys(&mut self) -> Result<(), ConfigError> {
        let Some(fleet) = self.fleet.as_mut() else {
            return Ok(());
        };
        fleet.endpoint.clone_from(&self.s3_endpoint);
        fleet.allow_http = self.s3_allow_http;
        fleet
            .copy_if_not_exists
            .clone_from(&self.s3_copy_if_not_exists);
        fleet.sync_interval = self.sync_interval;
        fleet.abandoned_after = self.abandoned_upload;
        fleet.budget = self.replica_budget_bytes;
        fleet.pins = self.replica_pin_types.clone().unwrap_or_default();
        fleet.access_key_id.clone_from(&self.aws_access_key_id);
        fleet
            .secret_access_key
            .clone_from(&self.aws_secret_access_key);
        if let Some(region) = &self.aws_region {
            fleet.region.clone_from(region);
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
        Ok(())
    }

    /// What uploads (and `inspect`) admit.
    pub fn admission(&self) -> lora_inspect::Admission {
        lora_inspect::Admission {
            base_models: self.accept_base_models.clone(),
            non_lora: self.accept_non_lora,
            unhealthy_weights: self.accept_unhealthy_weights,
        }
    }

    /// How installs from a URL behave.
    pub fn install(&self) -> lora_http::InstallConfig {
        lora_http::InstallConfig {
            concurrency: self.install_concurrency,
            allow_http: self.install_allow_http,
            private: self.install_allow_private.clone(),
            hosts: self.install_hosts.clone(),
            tokens: lora_http::Tokens {
                huggingface: self.hf_token.clone(),
                civitai: self.civitai_token.clone(),
            },
            endpoints: lora_http::Endpoints {
                huggingface: self.hf_endpoint.clone(),
                civitai: self.civitai_endpoint.clone(),
            },
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
mod table_tests;
#[cfg(test)]
mod tests;
