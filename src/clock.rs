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

/// The stored form back as an instant.
pub fn to_offset(t: Timestamp) -> OffsetDateTime {
    t.assume_utc()
}
