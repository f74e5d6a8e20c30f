//! Second factors of admin sign-in, as values: a TOTP secret and the codes
//! typed for it (RFC 6238: 30-second steps, 6 digits, HMAC-SHA-1, one step
//! either side), and recovery codes.

use std::fmt;

use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::Invalid;

/// RFC 6238 §4: the time step, in seconds (the recommended 30).
pub const TOTP_STEP: u64 = 30;
/// RFC 6238 §5.2: steps accepted either side of now for clock drift and
/// typing time (the recommended one).
pub const TOTP_SKEW: u16 = 1;
/// Digits of a code (RFC 4226 §5.3: at least six).
pub const TOTP_DIGITS: u8 = 6;

/// An admin's TOTP shared secret: 160 random bits (RFC 4226 §4 recommends
/// 160; it must be at least 128).
#[derive(Clone)]
pub struct TotpSecret([u8; 20]);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

impl TotpSecret {
    /// A secret from 20 random bytes.
    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// A secret read back from its stored bytes; none unless 20 of them.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 20]>::try_from(bytes).ok().map(Self)
    }

    /// The bytes, to seal.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, issuer: &str, account: &str) -> Option<Totp> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(TOTP_DIGITS)
            .with_skew(TOTP_SKEW)
            .with_step_duration(TOTP_STEP)
            .with_secret(Secret::new_stack(self.0))
            .with_issuer(Some(issuer.replace(':', " ")))
            .with_account_name(account.replace(':', " "))
            .build()
            .ok()
    }

    /// The secret as an authenticator app takes it typed: base32 (RFC 4648),
    /// in groups of four.
    pub fn base32(&self) -> String {
        let plain = Secret::new_stack(self.0).to_base32();
        plain
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `otpauth://totp/…` URI an authenticator app scans (the Key Uri
    /// Format that authenticator apps share).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Option<String> {
        self.totp(issuer, account)?.to_url().ok()
    }

    /// The time step `code` is right for at `unix_seconds`, one step either
    /// side allowed (RFC 6238 §5.2); none when it is wrong. Whether that step
    /// was used already is the caller's to check.
    pub fn check(&self, code: &TotpCode, unix_seconds: u64) -> Option<u64> {
        self.totp("Keyward", "admin")?.check(&code.0, unix_seconds)
    }

    /// The code for `unix_seconds` (the tests' authenticator; the server only
    /// checks).
    pub fn code_at(&self, unix_seconds: u64) -> Option<String> {
        Some(
            self.totp("Keyward", "admin")?
                .generate(unix_seconds)
                .to_string(),
        )
    }
}

/// A typed TOTP code: six digits, spaces ignored.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(String);

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode(…)")
    }
}

impl TotpCode {
    /// Parses what was typed.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == usize::from(TOTP_DIGITS) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err(Invalid::new(
                "Enter the 6-digit code your authenticator app shows.",
            ))
        }
    }
}

/// How many recovery codes a set has.
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
const RECOVERY_LEN: usize = 12;

/// A recovery code: 12 characters of a 32-letter alphabet without look-alikes
/// (60 bits), shown as `xxxx-xxxx-xxxx`; typed with or without the dashes
/// and spaces, in either case.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(…)")
    }
}

impl RecoveryCode {
    /// A code from 12 random bytes (each picks a letter: 256 is a multiple
    /// of 32, so every letter is as likely).
    pub fn from_random(bytes: [u8; RECOVERY_LEN]) -> Self {
        Self(
            bytes
                .iter()
                .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b % 32)]))
                .collect(),
        )
    }

    /// Parses what was typed.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let plain: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if plain.len() == RECOVERY_LEN && plain.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
            Ok(Self(plain))
        } else {
            Err(Invalid::new("That is not a recovery code."))
        }
    }

    /// The canonical form, to digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As shown: `xxxx-xxxx-xxxx`.
    pub fn display(&self) -> String {
        format!("{}-{}-{}", &self.0[..4], &self.0[4..8], &self.0[8..])
    }
}

/// A typed second-factor code: an authenticator app's code or a recovery code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorCode {
    /// Six digits.
    Totp(TotpCode),
    /// A recovery code.
    Recovery(RecoveryCode),
}

impl FactorCode {
    /// Parses what was typed into the one code field.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return Err(Invalid::new(
                "Enter the code from your authenticator app, or a recovery code.",
            ));
        }
        if raw.len() > 64 {
            return Err(Invalid::new("That code is too long."));
        }
        TotpCode::parse(raw)
            .map(Self::Totp)
            .or_else(|_| RecoveryCode::parse(raw).map(Self::Recovery))
            .map_err(|_| {
                Invalid::new(
                    "Enter the 6-digit code from your authenticator app, or a recovery code (xxxx-xxxx-xxxx).",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_rfc_6238_appendix_b() {
        // RFC 6238 Appendix B, SHA-1 seed "12345678901234567890": at T = 59
        // the 8-digit code is 94287082, so the 6-digit one is its last six.
        let secret = TotpSecret::from_bytes(*b"12345678901234567890");
        assert_eq!(secret.code_at(59).as_deref(), Some("287082"));
        assert_eq!(secret.code_at(1_111_111_109).as_deref(), Some("081804"));
        assert_eq!(secret.code_at(1_234_567_890).as_deref(), Some("005924"));
        let code = TotpCode::parse("287 082").unwrap();
        assert_eq!(secret.check(&code, 59), Some(1));
        // One step either side, no more.
        assert_eq!(secret.check(&code, 59 + 30), Some(1));
        assert_eq!(secret.check(&code, 59 + 60), None);
    }

    #[test]
    fn the_secret_is_shown_as_base32_and_in_an_otpauth_uri() {
        let secret = TotpSecret::from_bytes(*b"12345678901234567890");
        assert_eq!(secret.base32(), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
        let uri = secret
            .otpauth_uri("Acme: Keyward", "ada@example.com")
            .unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(format!("{secret:?}").contains('…'));
    }

    #[test]
    fn typed_codes_are_told_apart() {
        assert!(matches!(
            FactorCode::parse(" 123 456 "),
            Ok(FactorCode::Totp(_))
        ));
        let code = RecoveryCode::from_random([7; 12]);
        let typed = code.display().to_uppercase();
        assert_eq!(FactorCode::parse(&typed), Ok(FactorCode::Recovery(code)));
        for bad in ["", "12345", "1234567", "abcd-efgh-ijk0", &"9".repeat(100)] {
            assert!(FactorCode::parse(bad).is_err(), "{bad}");
        }
    }
}
