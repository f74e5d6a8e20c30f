//! Time as the database stores it: UTC, to the microsecond.
//!
//! Every timestamp column holds a `PrimitiveDateTime` in UTC (TIMESTAMP on both
//! backends), so comparisons work the same on SQLite's text and PostgreSQL's values.

use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// A UTC instant as stored in the database.
pub type Timestamp = PrimitiveDateTime;

/// Now, truncated to microseconds so a value read back equals the value written.
pub fn now() -> Timestamp {
    from_offset(OffsetDateTime::now_utc())
}

/// Converts any instant to the stored form.
pub fn from_offset(t: OffsetDateTime) -> Timestamp {
    let t = t.to_offset(UtcOffset::UTC);
    let micros = t.nanosecond() / 1_000 * 1_000;
    let t = t.replace_nanosecond(micros).unwrap_or(t);
    PrimitiveDateTime::new(t.date(), t.time())
}

/// The instant `seconds` after the Unix epoch (a JWT's `exp`), if representable.
pub fn from_unix(seconds: i64) -> Option<Timestamp> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .map(from_offset)
}

/// The stored form back as an instant.
pub fn to_offset(t: Timestamp) -> OffsetDateTime {
    t.assume_utc()
}

/// How times are written on pages, in emails and in exports.
pub mod fmt {
    use time::macros::format_description;

    use super::Timestamp;

    /// `2026-11-23 14:05 UTC`.
    pub fn timestamp(t: Timestamp) -> String {
        t.format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
    }

    /// ISO 8601 in UTC, for `<time datetime>`.
    pub fn iso(t: Timestamp) -> String {
        t.assume_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    /// `2026-11-23 14:05:09 UTC`.
    pub fn timestamp_seconds(t: Timestamp) -> String {
        t.format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_default()
    }

    /// `20261123`, for file names.
    pub fn date_compact(t: Timestamp) -> String {
        t.format(format_description!("[year][month][day]"))
            .unwrap_or_default()
    }
}
