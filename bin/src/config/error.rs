//! Why a configuration is refused.

use camino::Utf8PathBuf;
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
