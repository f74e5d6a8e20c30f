//! How a request of a key or token ended, as the usage charts and the request
//! log class it, and the retention of both as admins set it.

use std::fmt;

use super::input::Invalid;
use super::settings::parse_bounded;

/// A request's outcome class: allowed, or refused with 401, 402, 403 or 429,
/// or failed with a 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Passed the credential check (whatever the route then answered, but
    /// a 5xx).
    Allowed,
    /// Not authenticated (a key expired, rolled out or inactive, say).
    Unauthorized,
    /// The organization's API access is off.
    PaymentRequired,
    /// Not allowed: a permission the key lacks, or an address outside its
    /// allowlist.
    Forbidden,
    /// Over a rate limit.
    TooManyRequests,
    /// The server failed.
    ServerError,
}

impl Outcome {
    /// Every class, in the order the charts stack them.
    pub const ALL: [Outcome; 6] = [
        Outcome::Allowed,
        Outcome::Unauthorized,
        Outcome::PaymentRequired,
        Outcome::Forbidden,
        Outcome::TooManyRequests,
        Outcome::ServerError,
    ];

    /// The class of an answer's status code.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthorized,
            402 => Self::PaymentRequired,
            403 => Self::Forbidden,
            429 => Self::TooManyRequests,
            500..=599 => Self::ServerError,
            _ => Self::Allowed,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Unauthorized => "401",
            Self::PaymentRequired => "402",
            Self::Forbidden => "403",
            Self::TooManyRequests => "429",
            Self::ServerError => "5xx",
        }
    }

    /// Its index in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The class a stored name or a filter names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// What the console calls it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Allowed => "Allowed",
            Self::Unauthorized => "401 Unauthorized",
            Self::PaymentRequired => "402 Payment required",
            Self::Forbidden => "403 Forbidden",
            Self::TooManyRequests => "429 Rate limited",
            Self::ServerError => "5xx Server error",
        }
    }

    /// Whether the request was refused or failed (always logged).
    pub fn is_refused(self) -> bool {
        self != Self::Allowed
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The length of a usage bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Minute,
    Hour,
    Day,
}

impl Period {
    /// Every length, from the shortest: each count is added to all three.
    pub const ALL: [Period; 3] = [Period::Minute, Period::Hour, Period::Day];

    /// Its length in seconds (the stored `period_seconds`).
    pub fn seconds(self) -> i64 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3600,
            Self::Day => 86_400,
        }
    }

    /// The first second of the bucket that holds `unix`.
    pub fn bucket(self, unix: i64) -> i64 {
        unix.div_euclid(self.seconds()) * self.seconds()
    }
}

/// How long usage and the request log are kept, and how much of the allowed
/// traffic the log samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageSettings {
    /// Minute buckets, in hours (1 to 720; default 48).
    pub minutes_hours: i32,
    /// Hour buckets, in days (1 to 3650; default 90).
    pub hours_days: i32,
    /// Day buckets, in days (1 to 3650; default 730).
    pub days_days: i32,
    /// The share of allowed requests logged, in basis points (0 to 10,000;
    /// default 100, 1 %). Refused requests are always logged.
    pub log_sample_basis_points: i32,
    /// Log rows, in days (1 to 3650; default 30).
    pub log_retention_days: i32,
    /// The most log rows kept; the oldest go first (1,000 to 100,000,000).
    pub log_max_rows: i64,
}

impl Default for UsageSettings {
    fn default() -> Self {
        Self {
            minutes_hours: 48,
            hours_days: 90,
            days_days: 730,
            log_sample_basis_points: 100,
            log_retention_days: 30,
            log_max_rows: 1_000_000,
        }
    }
}

/// Each field's error of [`UsageSettings::parse`], by form field name.
pub type FieldErrors = Vec<(&'static str, Invalid)>;

impl UsageSettings {
    /// Parses the typed values, every field's error at once.
    pub fn parse(
        minutes_hours: &str,
        hours_days: &str,
        days_days: &str,
        log_sample_percent: &str,
        log_retention_days: &str,
        log_max_rows: &str,
    ) -> Result<Self, FieldErrors> {
        let mut errors = Vec::new();
        let mut field = |name: &'static str, r: Result<i32, Invalid>| match r {
            Ok(n) => n,
            Err(e) => {
                errors.push((name, e));
                0
            }
        };
        let minutes_hours = field(
            "usage_minutes_hours",
            parse_bounded(minutes_hours, 1..=720, "hours"),
        );
        let hours_days = field(
            "usage_hours_days",
            parse_bounded(hours_days, 1..=3650, "days"),
        );
        let days_days = field(
            "usage_days_days",
            parse_bounded(days_days, 1..=3650, "days"),
        );
        let log_sample_basis_points =
            field("log_sample_percent", parse_percent(log_sample_percent));
        let log_retention_days = field(
            "log_retention_days",
            parse_bounded(log_retention_days, 1..=3650, "days"),
        );
        let log_max_rows = match parse_rows(log_max_rows) {
            Ok(n) => n,
            Err(e) => {
                errors.push(("log_max_rows", e));
                0
            }
        };
        if errors.is_empty() {
            Ok(Self {
                minutes_hours,
                hours_days,
                days_days,
                log_sample_basis_points,
                log_retention_days,
                log_max_rows,
            })
        } else {
            Err(errors)
        }
    }

    /// The sample as a percentage, for the form: `1`, `0.25`, `100`.
    pub fn log_sample_percent(&self) -> String {
        format_percent(self.log_sample_basis_points)
    }
}

/// A percentage from 0 to 100 with at most two decimals, in basis points.
fn parse_percent(raw: &str) -> Result<i32, Invalid> {
    let invalid = || Invalid::new("Enter a percentage from 0 to 100, e.g. 1 or 0.5.");
    let s = raw.trim().trim_end_matches('%').trim();
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || whole.len() > 3
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let whole: i32 = whole.parse().map_err(|_| invalid())?;
    let fraction: i32 = format!("{fraction:0<2}").parse().map_err(|_| invalid())?;
    let bp = whole * 100 + fraction;
    if bp > 10_000 {
        return Err(invalid());
    }
    Ok(bp)
}

fn format_percent(bp: i32) -> String {
    let (whole, fraction) = (bp / 100, bp % 100);
    match fraction {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// A row cap: 1,000 to 100,000,000 (separators allowed).
fn parse_rows(raw: &str) -> Result<i64, Invalid> {
    let digits: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ',' | '_' | ' '))
        .collect();
    let n: i64 = digits
        .parse()
        .map_err(|_| Invalid::new("Enter a whole number of rows, e.g. 1000000."))?;
    if !(1_000..=100_000_000).contains(&n) {
        return Err(Invalid::new("Use from 1,000 to 100,000,000 rows."));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_class() {
        assert_eq!(Outcome::of_status(200), Outcome::Allowed);
        assert_eq!(Outcome::of_status(404), Outcome::Allowed);
        assert_eq!(Outcome::of_status(401), Outcome::Unauthorized);
        assert_eq!(Outcome::of_status(402), Outcome::PaymentRequired);
        assert_eq!(Outcome::of_status(403), Outcome::Forbidden);
        assert_eq!(Outcome::of_status(429), Outcome::TooManyRequests);
        assert_eq!(Outcome::of_status(503), Outcome::ServerError);
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(Outcome::ALL[o.index()], o);
        }
        assert_eq!(Outcome::parse("404"), None);
    }

    #[test]
    fn buckets_start_at_their_period() {
        assert_eq!(Period::Minute.bucket(125), 120);
        assert_eq!(Period::Hour.bucket(7_199), 3_600);
        assert_eq!(Period::Day.bucket(86_400 * 3 + 5), 86_400 * 3);
        assert_eq!(Period::Minute.bucket(-1), -60);
    }

    #[test]
    fn percentages_become_basis_points() {
        assert_eq!(parse_percent("1"), Ok(100));
        assert_eq!(parse_percent(" 0.5 %"), Ok(50));
        assert_eq!(parse_percent("0.25"), Ok(25));
        assert_eq!(parse_percent("100"), Ok(10_000));
        assert_eq!(parse_percent("0"), Ok(0));
        for bad in ["", "-1", "100.01", "1.234", "1e2", "abc", ".5", "1000"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
        for bp in [0, 5, 50, 100, 125, 10_000] {
            assert_eq!(parse_percent(&format_percent(bp)), Ok(bp));
        }
    }

    #[test]
    fn settings_report_every_bad_field() {
        let errors = UsageSettings::parse("0", "90", "x", "1", "30", "10").err();
        let names: Vec<&str> = errors
            .unwrap_or_default()
            .iter()
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(
            names,
            ["usage_minutes_hours", "usage_days_days", "log_max_rows"]
        );
        assert_eq!(
            UsageSettings::parse("48", "90", "730", "1", "30", "1,000,000"),
            Ok(UsageSettings::default())
        );
    }
}
