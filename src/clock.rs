//! Time as the database stores it: UTC, to the microsecond.
//!
//! Every timestamp column holds a `PrimitiveDateTime` in UTC (TIMESTAMP on both
//! backends), so comparisons work the same on SQLite's text and PostgreSQL's values.

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use time_tz::{Offset, OffsetDateTimeExt, OffsetResult, PrimitiveDateTimeExt, TimeZone, Tz};

/// A UTC instant as stored in the database.
pub type Timestamp = PrimitiveDateTime;

/// Now, truncated to microseconds so a value read back equals the value written.
pub fn now() -> Timestamp {
    from_offset(OffsetDateTime::now_utc())
}

/// A clock that can be moved ahead: the credential check reads the time
/// from one, so a test (or a drill) can see what a key's grace or expiry
/// does an hour from now without waiting an hour. At rest it is [`now`].
#[derive(Debug, Default)]
pub struct Clock {
    ahead_micros: std::sync::atomic::AtomicI64,
}

impl Clock {
    /// The time on this clock.
    pub fn now(&self) -> Timestamp {
        let ahead = self.ahead_micros.load(std::sync::atomic::Ordering::Relaxed);
        if ahead == 0 {
            now()
        } else {
            now() + time::Duration::microseconds(ahead)
        }
    }

    /// Moves this clock `by` ahead of the real time (cumulative).
    pub fn advance(&self, by: time::Duration) {
        let micros = i64::try_from(by.whole_microseconds()).unwrap_or(i64::MAX);
        self.ahead_micros
            .fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
    }
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

/// An organization's time zone: the console shows times in it and reads the
/// times it is given (a key's expiry) in it. UTC, or an IANA zone.
#[derive(Clone, Copy)]
pub struct Zone {
    /// `None` is UTC.
    tz: Option<&'static Tz>,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A time shown on a page: in the organization's zone, with the UTC time for
/// the hover title and ISO 8601 for `<time datetime>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// `2026-11-23 15:05 CET`.
    pub text: String,
    /// `2026-11-23 14:05 UTC`.
    pub utc: String,
    /// `2026-11-23T14:05:00Z`.
    pub iso: String,
}

/// A local time that never happens in a zone: the clocks jump over it (the
/// start of daylight saving time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped;

/// The regions whose zones the time zone picker lists (IANA's own areas;
/// the legacy aliases such as `US/Eastern` or `Etc/GMT+3` are left out).
const REGIONS: [&str; 9] = [
    "Africa",
    "America",
    "Antarctica",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
];

impl Zone {
    /// Coordinated Universal Time.
    pub const UTC: Self = Self { tz: None };

    /// The zone named `name` (`UTC` or an IANA name such as `Europe/Paris`).
    pub fn named(name: &str) -> Option<Self> {
        let name = crate::domain::settings::parse_time_zone(name).ok()?;
        if name == "UTC" {
            return Some(Self::UTC);
        }
        time_tz::timezones::get_by_name(&name).map(|tz| Self { tz: Some(tz) })
    }

    /// The zone named `name`, or UTC when it names none (a stored name
    /// that a newer time zone database dropped).
    pub fn or_utc(name: &str) -> Self {
        Self::named(name).unwrap_or(Self::UTC)
    }

    /// Its IANA name, or `UTC`.
    pub fn name(&self) -> &'static str {
        self.tz.map_or("UTC", |tz| tz.name())
    }

    /// Every zone the picker offers, by region, each sorted by name; UTC first.
    pub fn choices() -> &'static [(&'static str, Vec<&'static str>)] {
        static CHOICES: std::sync::LazyLock<Vec<(&'static str, Vec<&'static str>)>> =
            std::sync::LazyLock::new(Zone::list_choices);
        &CHOICES
    }

    fn list_choices() -> Vec<(&'static str, Vec<&'static str>)> {
        let mut names: Vec<&'static str> = time_tz::timezones::iter()
            .map(|tz| tz.name())
            .filter(|n| {
                n.split_once('/')
                    .is_some_and(|(region, _)| REGIONS.contains(&region))
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut groups = vec![("UTC", vec!["UTC"])];
        for region in REGIONS {
            let zones: Vec<_> = names
                .iter()
                .copied()
                .filter(|n| n.split_once('/').is_some_and(|(r, _)| r == region))
                .collect();
            groups.push((region, zones));
        }
        groups
    }

    /// `t` as the zone's wall clock shows it.
    pub fn local(&self, t: Timestamp) -> OffsetDateTime {
        let utc = to_offset(t);
        match self.tz {
            Some(tz) => utc.to_timezone(tz),
            None => utc,
        }
    }

    /// The abbreviation of the zone's offset at `t` (`CET`, `CEST`, `UTC`).
    fn abbreviation(&self, t: Timestamp) -> String {
        match self.tz {
            Some(tz) => tz.get_offset_utc(&to_offset(t)).name().to_owned(),
            None => "UTC".to_owned(),
        }
    }

    /// `t` for a page: `2026-11-23 15:05 CET`, with its UTC time and ISO form.
    pub fn when(&self, t: Timestamp) -> When {
        let local = self.local(t);
        let text = local
            .format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
            .unwrap_or_default();
        When {
            text: format!("{text} {}", self.abbreviation(t)),
            utc: fmt::timestamp(t),
            iso: fmt::iso(t),
        }
    }

    /// `t` with seconds: `2026-11-23 15:05:09 CET`.
    pub fn when_seconds(&self, t: Timestamp) -> When {
        let local = self.local(t);
        let text = local
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .unwrap_or_default();
        When {
            text: format!("{text} {}", self.abbreviation(t)),
            utc: fmt::timestamp_seconds(t),
            iso: fmt::iso(t),
        }
    }

    /// The value of a `datetime-local` input showing `t` in this zone.
    pub fn datetime_local(&self, t: Timestamp) -> String {
        self.local(t)
            .format(format_description!("[year]-[month]-[day]T[hour]:[minute]"))
            .unwrap_or_default()
    }

    /// The instant the day `date` starts in this zone: its midnight, or the
    /// first hour after it when the clocks skip midnight (as some zones do
    /// when daylight saving time starts).
    pub fn start_of_day(&self, date: time::Date) -> Timestamp {
        (0..24)
            .filter_map(|h| time::Time::from_hms(h, 0, 0).ok())
            .find_map(|t| self.instant(PrimitiveDateTime::new(date, t)).ok())
            .unwrap_or_else(|| from_offset(date.midnight().assume_utc()))
    }

    /// The instant a wall-clock time of this zone names. A time the clocks
    /// repeat (the end of daylight saving time) is its first occurrence, the
    /// earlier instant; a time they skip is refused.
    pub fn instant(&self, local: PrimitiveDateTime) -> Result<Timestamp, Skipped> {
        let Some(tz) = self.tz else {
            return Ok(from_offset(local.assume_utc()));
        };
        match local.assume_timezone(tz) {
            OffsetResult::Some(t) => Ok(from_offset(t)),
            OffsetResult::Ambiguous(a, b) => Ok(from_offset(a.min(b))),
            OffsetResult::None => Err(Skipped),
        }
    }
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

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn paris() -> Zone {
        Zone::named("Europe/Paris").unwrap()
    }

    #[test]
    fn a_time_is_shown_in_the_zone_with_its_utc_time_beside_it() {
        // Winter (CET, +1) and summer (CEST, +2).
        let winter = paris().when(datetime!(2026-11-23 14:05));
        assert_eq!(winter.text, "2026-11-23 15:05 CET");
        assert_eq!(winter.utc, "2026-11-23 14:05 UTC");
        assert_eq!(winter.iso, "2026-11-23T14:05:00Z");
        assert_eq!(
            paris().when(datetime!(2026-07-01 10:00)).text,
            "2026-07-01 12:00 CEST"
        );
        assert_eq!(
            Zone::UTC.when(datetime!(2026-07-01 10:00)).text,
            "2026-07-01 10:00 UTC"
        );
        assert_eq!(
            Zone::named("America/New_York")
                .unwrap()
                .when_seconds(datetime!(2026-01-15 17:00:09))
                .text,
            "2026-01-15 12:00:09 EST"
        );
    }

    #[test]
    fn a_wall_clock_time_names_its_instant_across_daylight_saving_changes() {
        // An ordinary time.
        assert_eq!(
            paris().instant(datetime!(2027-01-10 09:00)),
            Ok(datetime!(2027-01-10 08:00))
        );
        // 2027-03-28: clocks go from 02:00 to 03:00; 02:30 never happens.
        assert_eq!(paris().instant(datetime!(2027-03-28 02:30)), Err(Skipped));
        assert_eq!(
            paris().instant(datetime!(2027-03-28 03:00)),
            Ok(datetime!(2027-03-28 01:00))
        );
        // 2026-10-25: clocks go from 03:00 back to 02:00; 02:30 happens
        // twice, and means the first (CEST, 00:30 UTC).
        assert_eq!(
            paris().instant(datetime!(2026-10-25 02:30)),
            Ok(datetime!(2026-10-25 00:30))
        );
        // What is shown is read back as the same instant.
        for t in [
            datetime!(2026-10-25 00:30),
            datetime!(2026-10-25 02:00),
            datetime!(2027-03-28 01:00),
        ] {
            let shown = paris().datetime_local(t);
            let local = PrimitiveDateTime::parse(
                &shown,
                format_description!("[year]-[month]-[day]T[hour]:[minute]"),
            )
            .unwrap();
            assert_eq!(paris().instant(local), Ok(t), "{shown}");
        }
        // Santiago skips midnight when its summer time starts (2026-09-06).
        let santiago = Zone::named("America/Santiago").unwrap();
        assert_eq!(
            santiago.start_of_day(time::macros::date!(2026 - 09 - 06)),
            datetime!(2026-09-06 04:00)
        );
        assert_eq!(
            paris().start_of_day(time::macros::date!(2026 - 11 - 23)),
            datetime!(2026-11-22 23:00)
        );
        assert_eq!(
            Zone::UTC.instant(datetime!(2027-03-28 02:30)),
            Ok(datetime!(2027-03-28 02:30))
        );
    }

    #[test]
    fn only_iana_names_are_zones_and_the_picker_lists_them_by_region() {
        assert_eq!(paris().name(), "Europe/Paris");
        assert_eq!(Zone::named("UTC").unwrap().name(), "UTC");
        for bad in ["Mars/Olympus", "", "Romance Standard Time", "europe/paris"] {
            assert!(Zone::named(bad).is_none(), "{bad}");
        }
        assert_eq!(Zone::or_utc("Mars/Olympus").name(), "UTC");
        let choices = Zone::choices();
        assert_eq!(choices[0], ("UTC", vec!["UTC"]));
        let europe = &choices.iter().find(|(r, _)| *r == "Europe").unwrap().1;
        assert!(europe.contains(&"Europe/Paris") && europe.is_sorted());
        let all: Vec<_> = choices.iter().flat_map(|(_, z)| z.iter()).collect();
        assert!(all.iter().all(|n| Zone::named(n).is_some()));
        assert!(
            !all.iter()
                .any(|n| n.starts_with("US/") || n.starts_with("Etc/"))
        );
    }
}
