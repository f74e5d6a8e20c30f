//! What the operator types about an organization: its slug (its place in
//! URLs and its issuer's path) and its subscription's limits.

use super::input::Invalid;

/// An organization's short name in URLs: `<public URL>/o/<slug>`. 2 to 40
/// lower-case letters, digits and single hyphens, starting with a letter and
/// ending with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    /// The longest slug.
    pub const MAX_CHARS: usize = 40;

    /// Parses a typed slug (surrounding spaces and capitals are forgiven).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(Invalid::new("Enter a slug, e.g. acme-travel."));
        }
        if s.len() < 2 || s.len() > Self::MAX_CHARS {
            return Err(Invalid::new(format!(
                "Use 2 to {} characters.",
                Self::MAX_CHARS
            )));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Invalid::new("Use only letters a to z, digits and hyphens."));
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) || s.ends_with('-') || s.contains("--")
        {
            return Err(Invalid::new(
                "Start with a letter, end with a letter or digit, and use single hyphens.",
            ));
        }
        Ok(Self(s))
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A limit typed as a whole number within `range`; blank is `None` (no
/// limit) where `optional`.
pub fn parse_limit(
    raw: &str,
    range: std::ops::RangeInclusive<i32>,
    optional: bool,
) -> Result<Option<i32>, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return if optional {
            Ok(None)
        } else {
            Err(Invalid::new(format!(
                "Enter a whole number from {} to {}.",
                range.start(),
                range.end()
            )))
        };
    }
    match s.parse::<i32>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(Invalid::new(format!(
            "Enter a whole number from {} to {}{}.",
            range.start(),
            range.end(),
            if optional {
                ", or leave it blank for no limit"
            } else {
                ""
            }
        ))),
    }
}

/// The most apps an organization may be given.
pub const MAX_APPS: std::ops::RangeInclusive<i32> = 1..=100_000;
/// The most keys per app an organization may be given.
pub const MAX_KEYS_PER_APP: std::ops::RangeInclusive<i32> = 1..=1_000;
/// The rate ceiling, in requests per second.
pub const MAX_RATE_PER_SECOND: std::ops::RangeInclusive<i32> = 1..=1_000_000;
/// The keys per app of a new organization.
pub const DEFAULT_KEYS_PER_APP: i32 = 20;

/// An organization's issuer, the `iss` of its tokens and the URL its
/// discovery document is under (OpenID Connect Discovery 1.0 §4):
/// `<public URL>/o/<slug>`, or the server's own (`public`, the public URL
/// without a trailing slash) for the organization of a server from before
/// there were many (`root`), whose clients already know that one.
pub fn issuer(public: &str, slug: &str, root: bool) -> String {
    if root {
        public.to_owned()
    } else {
        format!("{public}/o/{slug}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_organization_issues_under_its_slug_unless_it_kept_the_servers_own() {
        let public = "https://keys.example/kw";
        assert_eq!(
            issuer(public, "acme", false),
            "https://keys.example/kw/o/acme"
        );
        assert_eq!(issuer(public, "main", true), public);
    }

    #[test]
    fn slugs_are_short_lower_case_and_hyphenated_once() {
        assert_eq!(
            Slug::parse(" Acme-Travel ").unwrap().as_str(),
            "acme-travel"
        );
        assert_eq!(Slug::parse("a1").unwrap().as_str(), "a1");
        for bad in [
            "",
            "a",
            "1acme",
            "acme-",
            "-acme",
            "ac--me",
            "acme travel",
            "acmé",
            "acme_x",
            "o/acme",
            &"a".repeat(41),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_are_whole_numbers_in_range_and_blank_means_none() {
        assert_eq!(parse_limit(" 20 ", MAX_KEYS_PER_APP, false), Ok(Some(20)));
        assert_eq!(parse_limit("", MAX_APPS, true), Ok(None));
        assert!(parse_limit("", MAX_KEYS_PER_APP, false).is_err());
        for bad in ["0", "-1", "1001", "2.5", "twenty", "1e3"] {
            assert!(parse_limit(bad, MAX_KEYS_PER_APP, false).is_err(), "{bad}");
        }
    }
}
