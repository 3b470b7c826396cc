//! Value parsers. A key's value is read in two steps: its *raw* type ([`Raw`]: what the
//! TOML file holds, or the environment's text parsed to it), then a converter
//! (`fn(key, raw) -> Result<value, ConfigError>`) that checks it and makes the value
//! `Config` holds. Defaults are raw values too, so they pass the same converter.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use lora_auth::HmacSecret;
use lora_inspect::BaseModel;
use serde::de::DeserializeOwned;

use super::{ConfigError, Env, LogFormat};

/// A type a key's value has in the file, and how the environment's text becomes one.
pub(super) trait Raw: DeserializeOwned + Sized {
    /// The value of `key`'s environment variable (neither empty nor blank).
    fn from_env(key: &'static str, text: &str) -> Result<Self, ConfigError>;

    /// A value from a file in `folder` (paths are taken relative to it).
    fn in_folder(self, _folder: &Utf8Path) -> Self {
        self
    }

    /// A value of this type in TOML, for the test that writes every key to a file.
    #[cfg(test)]
    const TOML_SAMPLE: &'static str;
}

impl Raw for String {
    fn from_env(_key: &'static str, text: &str) -> Result<Self, ConfigError> {
        Ok(text.to_owned())
    }
    #[cfg(test)]
    const TOML_SAMPLE: &'static str = "\"x\"";
}

impl Raw for Utf8PathBuf {
    fn from_env(_key: &'static str, text: &str) -> Result<Self, ConfigError> {
        Ok(Utf8PathBuf::from(text))
    }
    fn in_folder(self, folder: &Utf8Path) -> Self {
        folder.join(self)
    }
    #[cfg(test)]
    const TOML_SAMPLE: &'static str = "\"x\"";
}

impl Raw for bool {
    fn from_env(key: &'static str, text: &str) -> Result<Self, ConfigError> {
        parse_bool(key, text)
    }
    #[cfg(test)]
    const TOML_SAMPLE: &'static str = "true";
}

macro_rules! raw_numbers {
    ($($ty:ty = $sample:literal),*) => {$(
        impl Raw for $ty {
            fn from_env(key: &'static str, text: &str) -> Result<Self, ConfigError> {
                parse_number(key, text)
            }
            #[cfg(test)]
            const TOML_SAMPLE: &'static str = $sample;
        }
    )*};
}
raw_numbers!(u64 = "1", usize = "1", f64 = "1.5");

/// `key`'s variable: `None` when unset. An empty or blank `LORA_*` variable is refused
/// rather than read as unset: an empty `LORA_JWT_SECRET` must not quietly mean "the
/// file's secret" or development mode. Other variables (`AWS_*`) follow their own
/// convention, where empty means unset.
pub(super) fn from_env<R: Raw>(key: &'static str, env: Env<'_>) -> Result<Option<R>, ConfigError> {
    match env(key) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => {
            if key.starts_with("LORA_") {
                Err(ConfigError::Empty { key })
            } else {
                Ok(None)
            }
        }
        Some(text) => R::from_env(key, &text).map(Some),
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

// The converters, one per kind of key.

/// The value as it is.
pub(super) fn same<T>(_key: &'static str, value: T) -> Result<T, ConfigError> {
    Ok(value)
}

/// A count; 0 refused.
pub(super) fn at_least_one<T>(key: &'static str, value: T) -> Result<T, ConfigError>
where
    T: PartialEq + From<u8>,
{
    if value == T::from(0) {
        return Err(ConfigError::Invalid {
            key,
            reason: "must be at least 1".into(),
        });
    }
    Ok(value)
}

/// A number of seconds; 0 refused.
pub(super) fn seconds(key: &'static str, secs: u64) -> Result<Duration, ConfigError> {
    at_least_one(key, secs).map(Duration::from_secs)
}

/// A comma list of entity types (`styles,clothes`).
pub(super) fn entity_types(
    key: &'static str,
    list: String,
) -> Result<Vec<lora_core::EntityType>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| ConfigError::Invalid {
                key,
                reason: format!(
                    "'{s}' is not one of {}",
                    lora_core::EntityType::ALL
                        .map(lora_core::EntityType::as_str)
                        .join(", ")
                ),
            })
        })
        .collect()
}

/// A lease in seconds: 0 (none) to a day.
pub(super) fn lease_seconds(key: &'static str, secs: u64) -> Result<Duration, ConfigError> {
    if secs > lora_http::MAX_LEASE_SECS {
        return Err(ConfigError::Invalid {
            key,
            reason: format!("{secs} is more than {} (a day)", lora_http::MAX_LEASE_SECS),
        });
    }
    Ok(Duration::from_secs(secs))
}

/// `address:port`.
pub(super) fn address(key: &'static str, text: String) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|e| ConfigError::Invalid {
        key,
        reason: format!("'{text}' is not an address:port ({e})"),
    })
}

/// The HS256 secret's bytes.
pub(super) fn hmac_secret(_key: &'static str, text: String) -> Result<HmacSecret, ConfigError> {
    Ok(HmacSecret::new(text.into_bytes()))
}

/// A comma list of base models, naming at least one.
pub(super) fn base_models(key: &'static str, list: String) -> Result<Vec<BaseModel>, ConfigError> {
    let models = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            BaseModel::parse(s).ok_or_else(|| ConfigError::Invalid {
                key,
                reason: format!(
                    "'{s}' is not one of {}",
                    BaseModel::ALL.map(BaseModel::as_str).join(", ")
                ),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if models.is_empty() {
        return Err(ConfigError::Invalid {
            key,
            reason: "names no base model, which would refuse every upload; leave it unset to \
                     accept all"
                .into(),
        });
    }
    Ok(models)
}

/// A number of days > 0 (fractions allowed).
pub(super) fn days(key: &'static str, days: f64) -> Result<Duration, ConfigError> {
    if days.is_finite() && days > 0.0 {
        Ok(Duration::from_secs_f64(days * 86_400.0))
    } else {
        Err(ConfigError::Invalid {
            key,
            reason: format!(
                "{days} is not a number of days > 0 (0 would empty the bin within a second \
                 of every delete; leave it unset to keep binned files forever)"
            ),
        })
    }
}

/// Octal permission bits (`0644`, `640`); the owner must keep read and write access.
pub(super) fn octal_mode(key: &'static str, raw: String) -> Result<u32, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { key, reason };
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

/// `text` or `json`, any case.
pub(super) fn text_or_json(key: &'static str, raw: String) -> Result<LogFormat, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(ConfigError::Invalid {
            key,
            reason: format!("'{raw}' is not text or json"),
        }),
    }
}

/// `s3://BUCKET[/PREFIX]`: fleet mode, with every other fleet setting at its default
/// until [`super::Config::load`] applies the other fleet keys.
pub(super) fn s3_url(
    key: &'static str,
    url: String,
) -> Result<lora_fleet::FleetConfig, ConfigError> {
    lora_fleet::FleetConfig::from_url(url.trim()).map_err(|e| ConfigError::Invalid {
        key,
        reason: e.to_string(),
    })
}

/// `true`, `false`, or a comma list of addresses and CIDR networks.
pub(super) fn private_access(
    key: &'static str,
    raw: String,
) -> Result<lora_http::PrivateAccess, ConfigError> {
    lora_http::PrivateAccess::parse(&raw).map_err(|reason| ConfigError::Invalid { key, reason })
}

/// A comma list of host names (lower-cased; empty parts dropped).
pub(super) fn host_list(key: &'static str, raw: String) -> Result<Vec<String>, ConfigError> {
    let hosts: Vec<String> = raw
        .split(',')
        .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if let Some(bad) = hosts
        .iter()
        .find(|h| h.contains(['/', ':', ' ', '@']) || h.starts_with('.'))
    {
        return Err(ConfigError::Invalid {
            key,
            reason: format!("'{bad}' is not a host name"),
        });
    }
    if hosts.is_empty() {
        return Err(ConfigError::Invalid {
            key,
            reason: "names no host".into(),
        });
    }
    Ok(hosts)
}

/// An `https://` or `http://` origin (a path is kept: an endpoint behind a prefix).
pub(super) fn endpoint(key: &'static str, raw: String) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| ConfigError::Invalid {
        key,
        reason: format!("'{raw}' is not a URL ({e})"),
    })?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(ConfigError::Invalid {
            key,
            reason: format!("'{raw}' is not an http(s) URL"),
        });
    }
    Ok(url)
}
