//! An admin's password, as typed: kept secret, length-checked, and refused when
//! it is easy to guess (NIST SP 800-63B-4 §3.1.1.2: a blocklist of commonly
//! used, expected or compromised values).

use secrecy::{ExposeSecret, SecretString};

use super::input::Invalid;

/// A password that meets the policy: 12 to 128 characters, and not easy to guess.
///
/// The upper bound caps the work one sign-in can ask of argon2. `Debug` never shows it.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    /// Fewest characters accepted.
    pub const MIN_CHARS: usize = 12;
    /// Most characters accepted.
    pub const MAX_CHARS: usize = 128;

    /// Checks a new password against the policy.
    pub fn parse(raw: SecretString) -> Result<Self, Invalid> {
        Self::parse_for(raw, &[])
    }

    /// Checks a new password for the account named by `context` (its email, its
    /// organization): a password made of them is easy to guess too.
    pub fn parse_for(raw: SecretString, context: &[&str]) -> Result<Self, Invalid> {
        let n = raw.expose_secret().chars().count();
        if n < Self::MIN_CHARS {
            return Err(Invalid::new(format!(
                "Use at least {} characters.",
                Self::MIN_CHARS
            )));
        }
        if n > Self::MAX_CHARS {
            return Err(Invalid::new(format!(
                "Use at most {} characters.",
                Self::MAX_CHARS
            )));
        }
        // zxcvbn's frequency lists hold the commonly used passwords (and names,
        // words, keyboard walks); a score of 3 means about 10^8 guesses or more.
        let estimate = zxcvbn::zxcvbn(raw.expose_secret(), context);
        if u8::from(estimate.score()) < 3 {
            let why = estimate
                .feedback()
                .and_then(|f| f.warning())
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            return Err(Invalid::new(format!(
                "This password is easy to guess{why}. Choose another: several unrelated words make a strong one."
            )));
        }
        Ok(Self(raw))
    }

    /// A new password typed twice (a missing field counts as empty): the
    /// policy's refusal of the first, or, once it passes, a second that differs.
    pub fn parse_confirmed(
        raw: Option<SecretString>,
        confirm: Option<&SecretString>,
        context: &[&str],
    ) -> Result<Self, NewPasswordError> {
        let raw = raw.unwrap_or_else(|| SecretString::from(""));
        let password = Self::parse_for(raw, context).map_err(NewPasswordError::Password)?;
        if confirm.map(ExposeSecret::expose_secret) != Some(password.expose()) {
            return Err(NewPasswordError::Confirm(Invalid::new(
                "The two passwords differ.",
            )));
        }
        Ok(password)
    }

    /// The password's bytes, for hashing.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Why a new password typed twice was refused, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewPasswordError {
    /// The password breaks the policy.
    Password(Invalid),
    /// The confirmation differs.
    Confirm(Invalid),
}

impl NewPasswordError {
    /// The message for the password field and the one for its confirmation:
    /// one of them, beside the field at fault.
    pub fn messages(&self) -> (Option<String>, Option<String>) {
        match self {
            Self::Password(e) => (Some(e.to_string()), None),
            Self::Confirm(e) => (None, Some(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_huge_passwords_are_refused_without_echo() {
        let err = Password::parse(SecretString::from("hunter2")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(Password::parse(SecretString::from("x".repeat(129))).is_err());
        assert!(Password::parse(SecretString::from("correct horse battery")).is_ok());
    }

    #[test]
    fn commonly_used_passwords_are_refused() {
        for weak in [
            "qwerty123456",
            "password1234",
            "iloveyou1234",
            "aaaaaaaaaaaa",
        ] {
            let err = Password::parse(SecretString::from(weak)).unwrap_err();
            assert!(err.to_string().contains("easy to guess"), "{weak}");
            assert!(!err.to_string().contains(weak));
        }
        assert!(
            Password::parse_for(SecretString::from("ada@example.com"), &["ada@example.com"])
                .is_err()
        );
        assert!(Password::parse(SecretString::from("correct horse battery staple")).is_ok());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::parse(SecretString::from("correct horse battery")).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
