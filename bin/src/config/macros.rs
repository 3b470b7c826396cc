//! `config_keys!`: from one table entry per key, the `Config` struct (with its field
//! docs), the file form, the loader, the redacted `Debug` and the key list `--help` is
//! made of. The table itself is in `keys.rs`; an entry reads
//!
//! ```text
//! /// Help text (also the field's doc).
//! field: Type = converter(RawType) [secret] {
//!     env: "LORA_FIELD",
//!     file: "field",             // absent: environment only
//!     default: value,            // a RawType (or something Into it) ...
//!     unset: "what happens",     // ... or, for an Option<Type> field, the help's words
//! }
//! ```
//!
//! A key's value is, in this order of precedence: its variable (text parsed to `RawType`
//! by [`Raw::from_env`](super::parse::Raw)), the file's value (a `RawType`; paths taken
//! relative to the file's folder), the default. The converter
//! (`fn(env_name, RawType) -> Result<Type, ConfigError>`) then checks it; an error names
//! the variable, wherever the value came from.

/// The table; see the module documentation.
macro_rules! config_keys {
    ($(
        $(#[doc = $help:literal])+
        $field:ident: $ty:ty = $convert:ident($raw:ty) $($secret:ident)? {
            env: $env:literal,
            $(file: $file:literal,)?
            $(default: $default:expr,)?
            $(unset: $unset:literal,)?
        }
    )+) => {
        /// The resolved configuration: one field per key of the table in `keys.rs`. In
        /// fleet mode `fleet` also carries the S3, sync and AWS keys (see `Config::load`).
        pub struct Config {
            $(
                $(#[doc = $help])+
                pub $field: key_type!($ty $(, $default)?),
            )+
        }

        /// The config file: every key optional, the environment-only ones unknown.
        #[derive(Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct FileValues {
            $($(
                #[serde(rename = $file)]
                $field: Option<$raw>,
            )?)+
        }

        /// Every key, in the order `--help` lists them.
        pub(super) const KEYS: &[Key] = &[$(
            Key {
                env: $env,
                file: key_file!($($file)?),
                help: concat!($($help),+),
                default: || key_default!($raw $(, default $default)? $(, unset $unset)?),
                #[cfg(test)]
                secret: key_secret!($($secret)?),
                #[cfg(test)]
                toml_sample: <$raw as super::parse::Raw>::TOML_SAMPLE,
            }
        ),+];

        impl Config {
            /// Every key from `env`, else `file` (read from a file in `folder`), else its
            /// default.
            pub(super) fn from_sources(
                file: FileValues,
                folder: &Utf8Path,
                env: Env<'_>,
            ) -> Result<Self, ConfigError> {
                $(
                    let $field: Option<$raw> = super::parse::from_env($env, env)?
                        $(.or(file_value!($file, file.$field, folder)))?;
                    let $field = key_value!($convert, $env, $field $(, $default)?);
                )+
                Ok(Self { $($field),+ })
            }
        }

        impl std::fmt::Debug for Config {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Config")
                    $(.field(stringify!($field), key_debug!(&self.$field $(, $secret)?)))+
                    .finish()
            }
        }
    };
}

/// A key with a default holds a value; one without holds an `Option`.
macro_rules! key_type {
    ($ty:ty) => { Option<$ty> };
    ($ty:ty, $default:expr) => { $ty };
}

/// The converted value of `raw` (an `Option` of the raw type), or of the default.
macro_rules! key_value {
    ($convert:ident, $env:literal, $raw:ident) => {
        $raw.map(|v| $convert($env, v)).transpose()?
    };
    ($convert:ident, $env:literal, $raw:ident, $default:expr) => {
        $convert($env, $raw.unwrap_or_else(|| From::from($default)))?
    };
}

/// The file's value, its paths relative to the file's folder (`$file` only says the key
/// has one).
macro_rules! file_value {
    ($file:literal, $value:expr, $folder:ident) => {
        $value.map(|v| super::parse::Raw::in_folder(v, $folder))
    };
}

macro_rules! key_file {
    () => {
        None
    };
    ($file:literal) => {
        Some($file)
    };
}

/// The default as `--help` shows it: the raw value, or the words for "unset".
macro_rules! key_default {
    ($raw:ty, default $default:expr) => {{
        let value: $raw = From::from($default);
        value.to_string()
    }};
    ($raw:ty, unset $unset:literal) => {
        String::from($unset)
    };
}

#[cfg(test)]
macro_rules! key_secret {
    () => {
        false
    };
    (secret) => {
        true
    };
}

macro_rules! key_debug {
    ($value:expr) => {
        $value
    };
    ($value:expr, secret) => {
        &redacted($value)
    };
}

#[cfg(test)]
pub(super) use key_secret;
pub(super) use {config_keys, file_value, key_debug, key_default, key_file, key_type, key_value};
