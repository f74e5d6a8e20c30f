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

/// An IANA time zone name known to this build, e.g. `Europe/Paris`.
pub fn parse_time_zone(raw: &str) -> Result<String, Invalid> {
    let s = raw.trim();
    if s == "UTC" || time_tz::timezones::get_by_name(s).is_some() {
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
