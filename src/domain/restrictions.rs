//! What a key may be restricted to: the client addresses it is accepted from
//! (an allowlist of addresses and CIDR ranges), and how many requests it may
//! make per second and per minute.

use std::net::IpAddr;

use ipnet::IpNet;

use super::input::Invalid;

/// The most entries one allowlist holds.
pub const MAX_ALLOWED_IPS: usize = 100;
/// The highest rate a limit may name, per second.
pub const MAX_PER_SECOND: u32 = 1_000_000;
/// The highest rate a limit may name, per minute.
pub const MAX_PER_MINUTE: u32 = 60_000_000;

/// The addresses and ranges a key is accepted from; empty is anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// Parses what an admin typed: addresses (`203.0.113.7`, `2001:db8::1`)
    /// and CIDR ranges (`10.1.2.0/24`), separated by spaces, commas or new
    /// lines. Duplicates are dropped; an entry that is not one of these is
    /// refused by name, and so is a range with host bits set (`10.1.2.3/24`
    /// names an address, not the range it lies in).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut nets: Vec<IpNet> = Vec::new();
        for entry in raw
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let net = parse_entry(entry)?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        if nets.len() > MAX_ALLOWED_IPS {
            return Err(Invalid::new(format!(
                "List at most {MAX_ALLOWED_IPS} addresses or ranges."
            )));
        }
        Ok(Self(nets))
    }

    /// As stored: normalized entries, space-separated. What was stored is
    /// trusted back (it was parsed before it was written).
    pub fn from_stored(stored: &str) -> Self {
        Self(
            stored
                .split_whitespace()
                .filter_map(|s| parse_entry(s).ok())
                .collect(),
        )
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        self.entries().join(" ")
    }

    /// Each entry as shown: an address alone, a range with its prefix.
    pub fn entries(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|net| {
                if net.prefix_len() == net.max_prefix_len() {
                    net.addr().to_string()
                } else {
                    net.to_string()
                }
            })
            .collect()
    }

    /// Whether it restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether one of its entries is every address (`0.0.0.0/0`, `::/0`):
    /// allowed, but worth a warning.
    pub fn has_any_address(&self) -> bool {
        self.0.iter().any(|net| net.prefix_len() == 0)
    }

    /// Whether `client` may use the key. An IPv4 client seen as an
    /// IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, a dual-stack listener)
    /// is matched as the IPv4 address it is.
    pub fn allows(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        self.0.iter().any(|net| net.contains(&client))
    }
}

fn parse_entry(entry: &str) -> Result<IpNet, Invalid> {
    let shown: String = entry.chars().take(60).collect();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(IpNet::from(ip.to_canonical()));
    }
    match entry.parse::<IpNet>() {
        Ok(net) if net.trunc() != net => Err(Invalid::new(format!(
            "“{shown}” has host bits set: write the range as {}, or the address alone.",
            net.trunc()
        ))),
        Ok(net) => Ok(net),
        Err(_) => Err(Invalid::new(format!(
            "“{shown}” is not an IP address or a CIDR range (like 203.0.113.7 or 10.1.2.0/24)."
        ))),
    }
}

/// How many requests a key may make; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per second.
    pub per_second: Option<u32>,
    /// Requests per minute.
    pub per_minute: Option<u32>,
}

/// Which of the two limits a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateField {
    /// Per second.
    PerSecond,
    /// Per minute.
    PerMinute,
}

impl RateLimits {
    /// Parses the two typed limits (empty is no limit): whole numbers from 1,
    /// a minute's at least a second's (else the second's could never bind).
    pub fn parse(per_second: &str, per_minute: &str) -> Result<Self, (RateField, Invalid)> {
        let per_second = parse_rate(per_second, MAX_PER_SECOND, "second")
            .map_err(|e| (RateField::PerSecond, e))?;
        let per_minute = parse_rate(per_minute, MAX_PER_MINUTE, "minute")
            .map_err(|e| (RateField::PerMinute, e))?;
        if let (Some(s), Some(m)) = (per_second, per_minute)
            && m < s
        {
            return Err((
                RateField::PerMinute,
                Invalid::new(format!(
                    "A minute's limit below a second's ({s}) leaves the second's without effect: \
                     raise it, or clear the per-second limit."
                )),
            ));
        }
        Ok(Self {
            per_second,
            per_minute,
        })
    }

    /// From the stored columns (checked when written).
    pub fn from_stored(per_second: Option<i32>, per_minute: Option<i32>) -> Self {
        let positive = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0);
        Self {
            per_second: positive(per_second),
            per_minute: positive(per_minute),
        }
    }

    /// Whether it limits anything.
    pub fn is_limited(&self) -> bool {
        self.per_second.is_some() || self.per_minute.is_some()
    }

    /// These limits held under a ceiling of requests per second: the
    /// lower of the two, and the ceiling alone where the key sets none.
    pub fn under_ceiling(self, ceiling: Option<u32>) -> Self {
        let per_second = match (self.per_second, ceiling) {
            (Some(own), Some(top)) => Some(own.min(top)),
            (own, top) => own.or(top),
        };
        Self { per_second, ..self }
    }

    /// The stored columns.
    pub fn to_stored(self) -> (Option<i32>, Option<i32>) {
        let column = |v: Option<u32>| v.and_then(|v| i32::try_from(v).ok());
        (column(self.per_second), column(self.per_minute))
    }

    /// In words, as the console shows it: `5/s, 100/min`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.per_second {
            parts.push(format!("{s}/s"));
        }
        if let Some(m) = self.per_minute {
            parts.push(format!("{m}/min"));
        }
        parts.join(", ")
    }
}

fn parse_rate(raw: &str, max: u32, unit: &str) -> Result<Option<u32>, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
        _ => Err(Invalid::new(format!(
            "Enter a whole number of requests per {unit} from 1 to {max}, or leave it empty for no limit."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowlist_takes_addresses_and_ranges_and_names_a_bad_entry() {
        let list =
            IpAllowlist::parse("10.1.2.0/24, 203.0.113.7\n2001:db8::/32 10.1.2.0/24").unwrap();
        assert_eq!(
            list.entries(),
            ["10.1.2.0/24", "203.0.113.7", "2001:db8::/32"]
        );
        assert_eq!(IpAllowlist::from_stored(&list.to_stored()), list);
        assert!(list.allows("10.1.2.200".parse().unwrap()));
        assert!(list.allows("::ffff:10.1.2.9".parse().unwrap()));
        assert!(list.allows("2001:db8:1::5".parse().unwrap()));
        assert!(!list.allows("127.0.0.1".parse().unwrap()));
        assert!(!list.allows("10.1.3.1".parse().unwrap()));
        assert!(!list.has_any_address());
        assert!(IpAllowlist::parse("::/0").unwrap().has_any_address());
        assert!(IpAllowlist::parse("  ").unwrap().is_empty());

        let e = IpAllowlist::parse("10.0.0.0/8, 10.1.2.300").unwrap_err();
        assert!(e.0.contains("“10.1.2.300” is not an IP address"), "{e}");
        let e = IpAllowlist::parse("10.1.2.3/24").unwrap_err();
        assert!(e.0.contains("write the range as 10.1.2.0/24"), "{e}");
        assert!(IpAllowlist::parse("10.0.0.0/33").is_err());
        let many: Vec<String> = (0..=MAX_ALLOWED_IPS)
            .map(|i| format!("10.0.{}.{}", i / 250, i % 250))
            .collect();
        assert!(IpAllowlist::parse(&many.join(" ")).is_err());
    }

    #[test]
    fn rate_limits_are_whole_numbers_and_a_minute_holds_a_second() {
        assert_eq!(
            RateLimits::parse("5", " 100 "),
            Ok(RateLimits {
                per_second: Some(5),
                per_minute: Some(100)
            })
        );
        assert_eq!(RateLimits::parse("", ""), Ok(RateLimits::default()));
        for bad in ["0", "-1", "1.5", "ten", "1000001"] {
            assert_eq!(
                RateLimits::parse(bad, "").unwrap_err().0,
                RateField::PerSecond,
                "{bad}"
            );
        }
        assert_eq!(
            RateLimits::parse("10", "5").unwrap_err().0,
            RateField::PerMinute
        );
        let limits = RateLimits::parse("5", "").unwrap();
        let (s, m) = limits.to_stored();
        assert_eq!(RateLimits::from_stored(s, m), limits);
        assert_eq!(limits.describe(), "5/s");
    }
}
