//! The one timestamp form of the API: RFC 3339, UTC, whole seconds, ending in `Z`.
//!
//! ```
//! use time::macros::datetime;
//! assert_eq!(
//!     lora_core::timestamp::format(datetime!(2024-01-01 12:00:00.75 UTC)),
//!     "2024-01-01T12:00:00Z"
//! );
//! ```

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Formats `at` in UTC as `YYYY-MM-DDTHH:MM:SSZ`, dropping fractions of a second.
pub fn format(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(FORMAT)
        // Formatting a valid date with a fixed, literal-only description cannot fail; the
        // fallback keeps this total for years beyond 9999, which the format cannot show.
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// The current time, formatted by [`format()`].
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}
