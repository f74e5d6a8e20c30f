//! An admin's password, as typed: kept secret, length-checked.

use secrecy::{ExposeSecret, SecretString};

use super::input::Invalid;

/// A password that meets the policy: 12 to 128 characters.
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
        Ok(Self(raw))
    }

    /// The password's bytes, for hashing.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
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
    fn debug_never_shows_the_password() {
        let p = Password::parse(SecretString::from("correct horse battery")).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
