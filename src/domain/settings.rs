//! Organization settings typed by admins: alert thresholds, key lifetimes, time zone.

use std::fmt;

use super::input::Invalid;

/// Days before expiry at which staff are alerted: 1 to 5 distinct values from 1 to
/// 365, kept in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds(Vec<i32>);

impl Thresholds {
    /// Most values.
    pub const MAX_VALUES: usize = 5;

    /// Parses `30, 7, 1` (commas or spaces).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut days = Vec::new();
        for part in raw
            .split([',', ' ', ';'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let n: i32 = part.parse().map_err(|_| {
                Invalid::new("Enter whole numbers of days, separated by commas, e.g. 30, 7, 1.")
            })?;
            if !(1..=365).contains(&n) {
                return Err(Invalid::new("Each threshold is from 1 to 365 days."));
            }
            if !days.contains(&n) {
                days.push(n);
            }
        }
        if days.is_empty() {
            return Err(Invalid::new("Enter at least one number of days, e.g. 7."));
        }
        if days.len() > Self::MAX_VALUES {
            return Err(Invalid::new(format!(
                "Use at most {} thresholds.",
                Self::MAX_VALUES
            )));
        }
        days.sort_unstable();
        Ok(Self(days))
    }

    /// The stored value, read back; a bad one falls back to 7 days.
    pub fn from_stored(s: &str) -> Self {
        Self::parse(s).unwrap_or_else(|_| Self(vec![7]))
    }

    /// The days, ascending.
    pub fn days(&self) -> &[i32] {
        &self.0
    }

    /// The stored form: `1,7,30`.
    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The largest threshold.
    pub fn max(&self) -> i32 {
        self.0.last().copied().unwrap_or(7)
    }
}

impl fmt::Display for Thresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut desc: Vec<i32> = self.0.clone();
        desc.reverse();
        f.write_str(
            &desc
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

/// A key lifetime in days, 1 to 3650, or none.
pub fn parse_lifetime(raw: &str) -> Result<Option<i32>, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let n: i32 = s
        .parse()
        .map_err(|_| Invalid::new("Enter a whole number of days, or leave it empty."))?;
    if !(1..=3650).contains(&n) {
        return Err(Invalid::new("Use from 1 to 3650 days."));
    }
    Ok(Some(n))
}

/// A whole number in `range`, or the message for the field (`unit` names it).
pub fn parse_bounded(
    raw: &str,
    range: std::ops::RangeInclusive<i32>,
    unit: &str,
) -> Result<i32, Invalid> {
    let n: i32 = raw
        .trim()
        .parse()
        .map_err(|_| Invalid::new(format!("Enter a whole number of {unit}.")))?;
    if !range.contains(&n) {
        return Err(Invalid::new(format!(
            "Use from {} to {} {unit}.",
            range.start(),
            range.end()
        )));
    }
    Ok(n)
}

/// The longest an access token may live, in minutes (a day).
pub const MAX_ACCESS_TOKEN_MINUTES: i32 = 1440;

/// How long an organization's tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// An access token, in minutes (5 to a day).
    pub access_minutes: i32,
    /// A sign-in's refresh tokens in all, in days (1 to 365).
    pub refresh_days: i32,
    /// A refresh token unused this long expires, in days (1 to `refresh_days`).
    pub idle_days: i32,
    /// A retired refresh token presented again this soon gets the same pair, in
    /// seconds (0 to 60; 0 turns the grace off).
    pub grace_seconds: i32,
}

impl TokenLifetimes {
    /// Parses the typed values, each checked on its own, then together.
    pub fn parse(
        access: &str,
        refresh: &str,
        idle: &str,
        grace: &str,
    ) -> Result<Self, [Option<Invalid>; 4]> {
        let access = parse_bounded(access, 5..=MAX_ACCESS_TOKEN_MINUTES, "minutes");
        let refresh = parse_bounded(refresh, 1..=365, "days");
        let idle = parse_bounded(idle, 1..=365, "days");
        let grace = parse_bounded(grace, 0..=60, "seconds");
        match (access, refresh, idle, grace) {
            (Ok(access_minutes), Ok(refresh_days), Ok(idle_days), Ok(grace_seconds)) => {
                if idle_days > refresh_days {
                    return Err([
                        None,
                        None,
                        Some(Invalid::new(
                            "A sign-in cannot stay idle longer than it lasts: use at most the sign-in lifetime.",
                        )),
                        None,
                    ]);
                }
                Ok(Self {
                    access_minutes,
                    refresh_days,
                    idle_days,
                    grace_seconds,
                })
            }
            (a, r, i, g) => Err([a.err(), r.err(), i.err(), g.err()]),
        }
    }
}

/// `UTC` or an IANA time zone name known to this build, spelled as IANA
/// spells it, e.g. `Europe/Paris` (not the Windows names the database also
/// knows).
pub fn parse_time_zone(raw: &str) -> Result<String, Invalid> {
    let s = raw.trim();
    let iana = s.contains('/')
        && time_tz::timezones::get_by_name(s).is_some_and(|tz| {
            use time_tz::TimeZone;
            tz.name() == s
        });
    if s == "UTC" || iana {
        Ok(s.to_owned())
    } else {
        Err(Invalid::new(
            "Enter a time zone name like Europe/Paris or America/New_York.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes_are_bounded_each_and_together() {
        let ok = TokenLifetimes::parse("15", "30", "7", "10").unwrap();
        assert_eq!(
            (
                ok.access_minutes,
                ok.refresh_days,
                ok.idle_days,
                ok.grace_seconds
            ),
            (15, 30, 7, 10)
        );
        let errors = TokenLifetimes::parse("4", "x", "0", "61").unwrap_err();
        let messages: Vec<String> = errors
            .iter()
            .map(|e| e.as_ref().map(ToString::to_string).unwrap_or_default())
            .collect();
        assert_eq!(
            messages,
            [
                "Use from 5 to 1440 minutes.",
                "Enter a whole number of days.",
                "Use from 1 to 365 days.",
                "Use from 0 to 60 seconds.",
            ]
        );
        let errors = TokenLifetimes::parse("15", "7", "8", "0").unwrap_err();
        assert!(errors[2].is_some() && errors[0].is_none());
    }

    #[test]
    fn thresholds_are_sorted_distinct_and_bounded() {
        let t = Thresholds::parse("30, 7,1 7").unwrap();
        assert_eq!(t.days(), &[1, 7, 30]);
        assert_eq!(t.to_string(), "30, 7, 1");
        assert_eq!(Thresholds::from_stored(&t.to_stored()), t);
        for bad in ["", "0", "366", "seven", "1,2,3,4,5,6", "-1"] {
            assert!(Thresholds::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lifetimes_and_zones_are_checked() {
        assert_eq!(parse_lifetime(" 90 ").unwrap(), Some(90));
        assert_eq!(parse_lifetime("").unwrap(), None);
        assert!(parse_lifetime("0").is_err() && parse_lifetime("ten").is_err());
        assert_eq!(parse_time_zone("Europe/Paris").unwrap(), "Europe/Paris");
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }
}

/// The key policy: the lifetime of new keys, their default rate limits,
/// and how long retired keys stay listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Default lifetime of a new key, in days.
    pub default_days: Option<i32>,
    /// Maximum lifetime of a key, in days.
    pub max_days: Option<i32>,
    /// The rate limits a new key starts with.
    pub rate_limits: super::RateLimits,
    /// Days retired keys stay listed (1 to 3650); `None` keeps the current.
    pub retired_days: Option<i32>,
}
