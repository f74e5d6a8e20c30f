//! An email address, normalised (NFKC, lower case), and the form that tells
//! look-alike addresses apart.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::input::{Invalid, has_invisible_chars};

/// A syntactically plausible email address, trimmed and lower-cased.
///
/// Deliverability is not checked here; the address is an identifier for sign-in
/// and a recipient for alerts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The longest address accepted (RFC 5321's path limit).
    pub const MAX_LEN: usize = 254;

    /// Parses what a person typed: compatibility characters become their plain
    /// form (NFKC: a fullwidth `ａ` is an `a`), then lower case.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if has_invisible_chars(raw) {
            return Err(Invalid::new(
                "Remove the invisible characters (direction marks, zero-width spaces).",
            ));
        }
        let normalized: String = raw.trim().nfkc().collect();
        let s = normalized.as_str();
        if s.is_empty() {
            return Err(Invalid::new("Enter an email address."));
        }
        if s.len() > Self::MAX_LEN {
            return Err(Invalid::new("An email address has at most 254 characters."));
        }
        let invalid = || Invalid::new("Enter an email address like name@example.com.");
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let domain_ok = !domain.is_empty()
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(s.to_lowercase()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the address looks like (Unicode UTS #39 skeleton, lower case): two
    /// addresses with the same skeleton are confusable, as a Cyrillic `а` is
    /// with a Latin `a`.
    pub fn skeleton(&self) -> String {
        unicode_security::skeleton(&self.0)
            .collect::<String>()
            .to_lowercase()
    }

    /// Whether this address and `other` look the same to a person.
    pub fn confusable_with(&self, other: &str) -> bool {
        EmailAddress::parse(other).is_ok_and(|o| o.skeleton() == self.skeleton())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fullwidth_and_cyrillic_look_alikes_are_caught() {
        let admin = super::EmailAddress::parse("admin@example.com").unwrap();
        let fullwidth = super::EmailAddress::parse("ａｄｍｉｎ@example.com").unwrap();
        assert_eq!(fullwidth, admin, "NFKC makes it the same address");
        let cyrillic = super::EmailAddress::parse("\u{0430}dmin@example.com").unwrap();
        assert_ne!(cyrillic, admin);
        assert!(cyrillic.confusable_with(admin.as_str()));
        assert!(!admin.confusable_with("bob@example.com"));
        assert!(super::EmailAddress::parse("ad\u{200B}min@example.com").is_err());
        assert!(super::EmailAddress::parse("admin\u{202E}@example.com").is_err());
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(
            EmailAddress::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        assert_eq!(
            EmailAddress::parse("ops+keys@localhost").unwrap().as_str(),
            "ops+keys@localhost"
        );
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@ex ample.com",
            "a..b@x.com",
            "ada@-x.com",
            "<script>@x.com",
            "a@b\0.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EmailAddress::parse(&format!("{}@x.com", "a".repeat(300))).is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepted_values_reparse(s in "\\PC{0,80}") {
            if let Ok(email) = EmailAddress::parse(&s) {
                prop_assert_eq!(EmailAddress::parse(email.as_str()).unwrap(), email);
            }
        }
    }
}
