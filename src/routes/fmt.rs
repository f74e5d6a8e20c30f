//! How times and other values are written on pages.

use time::macros::format_description;

use crate::clock::Timestamp;

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
