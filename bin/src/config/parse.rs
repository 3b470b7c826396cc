//! Value parsers: text (from the environment or the file) to typed values.

use std::fmt;

use super::ConfigError;

pub(super) fn parse_number<T: std::str::FromStr>(
    key: &'static str,
    raw: &str,
) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    raw.trim().parse().map_err(|e| ConfigError::Invalid {
        key,
        reason: format!("'{raw}': {e}"),
    })
}

/// A count from the environment (which wins), else the file, else `default`; 0 refused.
pub(super) fn at_least_one<T>(
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
pub(super) fn parse_bool(key: &'static str, raw: &str) -> Result<bool, ConfigError> {
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
pub(super) fn parse_mode(raw: &str) -> Result<u32, ConfigError> {
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
