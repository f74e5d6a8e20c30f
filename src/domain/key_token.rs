//! The text of API keys and app secrets.
//!
//! An API key reads `kw_` + a 12-character public id + 26 characters of secret +
//! a 6-character checksum, all base62 (so a double-click selects all of it and
//! nothing needs escaping in a header or a URL). The public id finds the key's row;
//! the secret (154 bits from the OS generator) is checked against its stored keyed
//! digest; the CRC-32 checksum lets a mistyped or truncated key be refused, and a
//! leaked one be recognised by a scanner, without touching the database.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use rand::rand_core::{Rng, UnwrapErr};
use rand::rngs::SysRng;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "kw_";
/// Every app secret starts with this.
pub const SECRET_PREFIX: &str = "kws_";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 26;
const CHECK_LEN: usize = 6;
/// The length of a key's text.
pub const KEY_LEN: usize = KEY_PREFIX.len() + ID_LEN + SECRET_LEN + CHECK_LEN;
const APP_SECRET_LEN: usize = 43;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` uniformly random base62 characters from the OS generator.
fn random_base62(n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut block = [0u8; 64];
    while out.len() < n {
        UnwrapErr(SysRng).fill_bytes(&mut block);
        for b in block {
            // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
            if b < 248 && out.len() < n {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    out
}

fn checksum(body: &str) -> [u8; CHECK_LEN] {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut digits = [b'0'; CHECK_LEN];
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    digits
}

/// Why a string is not a key. Messages never include the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Not `kw_…`, or the wrong length, or a character outside base62.
    #[error("not a Keyward API key")]
    Malformed,
    /// The right shape, but the checksum does not match: mistyped or altered.
    #[error("the key's checksum does not match")]
    Checksum,
}

/// A newly issued key: the full text, shown once, and its parts.
pub struct NewKey {
    /// The full text to show the admin once.
    pub token: SecretString,
    /// The parsed parts, to store.
    pub parsed: ParsedKey,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("parsed", &self.parsed)
            .finish_non_exhaustive()
    }
}

/// A presented key's parts, borrowed from the request (no copy of the secret on
/// the credential check's path).
#[derive(Clone, Copy)]
pub struct KeyRef<'a> {
    public_id: &'a str,
    secret: &'a str,
}

impl fmt::Debug for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRef({KEY_PREFIX}{}…)", self.public_id)
    }
}

/// The id and secret of `text`, if it is `prefix` + id + secret + checksum.
fn parse_parts<'a>(text: &'a str, prefix: &str) -> Result<(&'a str, &'a str), KeyFormatError> {
    let len = prefix.len() + ID_LEN + SECRET_LEN + CHECK_LEN;
    if text.len() != len || !text.starts_with(prefix) {
        return Err(KeyFormatError::Malformed);
    }
    let rest = &text[prefix.len()..];
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyFormatError::Malformed);
    }
    let (body, check) = text.split_at(len - CHECK_LEN);
    // Not secret-dependent timing worth hiding: the checksum is a typo check,
    // and the secret is verified in constant time against its digest later.
    if checksum(body) != check.as_bytes() {
        return Err(KeyFormatError::Checksum);
    }
    Ok((&rest[..ID_LEN], &rest[ID_LEN..ID_LEN + SECRET_LEN]))
}

impl<'a> KeyRef<'a> {
    /// Checks a presented key's shape and checksum. Costs no database access.
    pub fn parse(text: &'a str) -> Result<Self, KeyFormatError> {
        let (public_id, secret) = parse_parts(text, KEY_PREFIX)?;
        Ok(Self { public_id, secret })
    }

    /// The public id, which finds the key's row.
    pub fn public_id(&self) -> &'a str {
        self.public_id
    }

    /// The secret part, for its keyed digest.
    pub fn secret(&self) -> &'a str {
        self.secret
    }
}

/// A key's parts, after its format and checksum were checked.
pub struct ParsedKey {
    public_id: String,
    secret: SecretString,
    last_four: String,
}

impl fmt::Debug for ParsedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParsedKey({})", self.masked())
    }
}

impl ParsedKey {
    /// Makes a new key from the OS generator.
    pub fn generate() -> NewKey {
        Self::build(random_base62(ID_LEN), random_base62(SECRET_LEN))
    }

    /// The key made of these parts, its checksum appended: `None` unless the
    /// public id has 12 and the secret 26 base62 characters.
    pub fn assemble(public_id: String, secret: String) -> Option<NewKey> {
        let base62 = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric());
        (base62(&public_id, ID_LEN) && base62(&secret, SECRET_LEN))
            .then(|| Self::build(public_id, secret))
    }

    fn build(public_id: String, secret: String) -> NewKey {
        let body = format!("{KEY_PREFIX}{public_id}{secret}");
        let token = format!("{body}{}", String::from_utf8_lossy(&checksum(&body)));
        let last_four = token[token.len() - 4..].to_owned();
        NewKey {
            token: SecretString::from(token),
            parsed: ParsedKey {
                public_id,
                secret: SecretString::from(secret),
                last_four,
            },
        }
    }

    /// Checks a presented key's shape and checksum. Costs no database access.
    pub fn parse(text: &str) -> Result<Self, KeyFormatError> {
        let key = KeyRef::parse(text)?;
        Ok(Self {
            public_id: key.public_id.to_owned(),
            secret: SecretString::from(key.secret.to_owned()),
            last_four: text[KEY_LEN - 4..].to_owned(),
        })
    }

    /// The public id, which finds the key's row.
    pub fn public_id(&self) -> &str {
        &self.public_id
    }

    /// The last four characters of the key's text.
    pub fn last_four(&self) -> &str {
        &self.last_four
    }

    /// The secret part, for its keyed digest.
    pub fn secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// The key as the console shows it.
    pub fn masked(&self) -> String {
        mask(&self.public_id, &self.last_four)
    }
}

/// The masked form of a key: its public prefix and last four characters.
pub fn mask(public_id: &str, last_four: &str) -> String {
    format!("{KEY_PREFIX}{public_id}…{last_four}")
}

/// Every admin API token starts with this.
pub const ADMIN_TOKEN_PREFIX: &str = "kwa_";
/// Every operator API token starts with this.
pub const OPERATOR_TOKEN_PREFIX: &str = "kwo_";

/// An API token type: its prefix and the same parts and checksum as a key, so
/// scanners and typos are caught the same way.
macro_rules! api_token {
    ($(#[$doc:meta])* $name:ident, $prefix:ident) => {
        $(#[$doc])*
        pub struct $name {
            /// The full text, shown once.
            pub token: SecretString,
            /// Finds the token's row.
            pub public_id: String,
            /// Checked against its stored keyed digest.
            pub secret: SecretString,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({}{}…)", stringify!($name), $prefix, self.public_id)
            }
        }

        impl $name {
            /// A new token from the OS generator.
            pub fn generate() -> Self {
                let (public_id, secret) = (random_base62(ID_LEN), random_base62(SECRET_LEN));
                let body = format!("{}{public_id}{secret}", $prefix);
                let token = format!("{body}{}", String::from_utf8_lossy(&checksum(&body)));
                Self {
                    token: SecretString::from(token),
                    public_id,
                    secret: SecretString::from(secret),
                }
            }

            /// The public id and secret of a presented token, after its shape
            /// and checksum were checked. Costs no database access.
            pub fn parse(text: &str) -> Result<(&str, &str), KeyFormatError> {
                parse_parts(text, $prefix)
            }

            /// The masked form: the prefix, the public id and `…`.
            pub fn mask(public_id: &str) -> String {
                format!("{}{public_id}…", $prefix)
            }
        }
    };
}

api_token!(
    /// An admin API token (`kwa_…`), the management API's credential.
    AdminToken,
    ADMIN_TOKEN_PREFIX
);
api_token!(
    /// An operator API token (`kwo_…`), the operator API's credential.
    OperatorToken,
    OPERATOR_TOKEN_PREFIX
);

/// A new app secret: `kws_` + 43 base62 characters (256 bits).
pub fn generate_app_secret() -> SecretString {
    SecretString::from(format!("{SECRET_PREFIX}{}", random_base62(APP_SECRET_LEN)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_generated_key_parses_back_to_its_parts() {
        let new = ParsedKey::generate();
        let text = new.token.expose_secret();
        assert_eq!(text.len(), KEY_LEN);
        assert!(text.starts_with("kw_"));
        let parsed = ParsedKey::parse(text).unwrap();
        assert_eq!(parsed.public_id(), new.parsed.public_id());
        assert_eq!(parsed.secret(), new.parsed.secret());
        assert_eq!(parsed.masked(), new.parsed.masked());
        assert!(parsed.masked().ends_with(&text[text.len() - 4..]));
        assert!(
            !format!("{parsed:?}{new:?}").contains(parsed.secret()),
            "Debug never shows the secret"
        );
    }

    #[test]
    fn admin_tokens_share_the_format_and_checksum_of_keys_but_not_their_prefix() {
        let new = AdminToken::generate();
        let text = new.token.expose_secret();
        assert!(text.starts_with("kwa_"));
        assert_eq!(text.len(), KEY_LEN + 1);
        let (id, secret) = AdminToken::parse(text).unwrap();
        assert_eq!(id, new.public_id);
        assert_eq!(secret, new.secret.expose_secret());
        assert!(ParsedKey::parse(text).is_err(), "not a key");
        let mut typo = text.to_owned().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            AdminToken::parse(&String::from_utf8(typo).unwrap()),
            Err(KeyFormatError::Checksum)
        );
        assert!(!format!("{new:?}").contains(new.secret.expose_secret()));
    }

    #[test]
    fn operator_and_admin_tokens_are_not_each_other() {
        let op = OperatorToken::generate();
        let text = op.token.expose_secret();
        assert!(text.starts_with("kwo_"));
        assert_eq!(OperatorToken::parse(text).unwrap().0, op.public_id);
        assert!(AdminToken::parse(text).is_err());
        let admin = AdminToken::generate();
        assert!(OperatorToken::parse(admin.token.expose_secret()).is_err());
        assert!(!format!("{op:?}").contains(op.secret.expose_secret()));
    }

    #[test]
    fn keys_are_random() {
        let a = ParsedKey::generate();
        let b = ParsedKey::generate();
        assert_ne!(a.parsed.public_id(), b.parsed.public_id());
        assert_ne!(a.parsed.secret(), b.parsed.secret());
    }

    #[test]
    fn any_single_typo_is_caught_by_the_checksum() {
        let new = ParsedKey::generate();
        let text = new.token.expose_secret().to_owned();
        for i in KEY_PREFIX.len()..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert_eq!(
                ParsedKey::parse(&typo).unwrap_err(),
                KeyFormatError::Checksum,
                "position {i}"
            );
        }
        assert_eq!(
            ParsedKey::parse(&text[..text.len() - 1]).unwrap_err(),
            KeyFormatError::Malformed
        );
        assert_eq!(
            ParsedKey::parse(&format!("xx_{}", &text[3..])).unwrap_err(),
            KeyFormatError::Malformed
        );
    }

    #[test]
    fn app_secrets_are_prefixed_and_long() {
        let s = generate_app_secret();
        assert!(s.expose_secret().starts_with("kws_"));
        assert_eq!(s.expose_secret().len(), 47);
        assert_ne!(s.expose_secret(), generate_app_secret().expose_secret());
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC{0,80}") {
            let _ = ParsedKey::parse(&s);
        }

        #[test]
        fn no_random_key_shaped_text_is_accepted_by_accident(body in "[0-9A-Za-z]{44}") {
            // 1 in 2^32 could pass the checksum; proptest's few hundred cases should not.
            let text = format!("kw_{body}");
            prop_assert!(ParsedKey::parse(&text).is_err());
        }
    }
}

/// Every refresh token starts with this (never confused with a key's `kw_`).
pub const REFRESH_PREFIX: &str = "kwr_";
/// The length of a refresh token's text.
pub const REFRESH_LEN: usize = REFRESH_PREFIX.len() + ID_LEN + SECRET_LEN + CHECK_LEN;

/// A presented refresh token's parts: the public id finds its row, the secret
/// is checked against its keyed digest. The same shape and checksum as keys.
#[derive(Clone, Copy)]
pub struct RefreshRef<'a> {
    public_id: &'a str,
    secret: &'a str,
}

impl fmt::Debug for RefreshRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefreshRef({REFRESH_PREFIX}{}…)", self.public_id)
    }
}

impl<'a> RefreshRef<'a> {
    /// Checks a presented refresh token's shape and checksum.
    pub fn parse(text: &'a str) -> Result<Self, KeyFormatError> {
        let (public_id, secret) = parse_parts(text, REFRESH_PREFIX)?;
        Ok(Self { public_id, secret })
    }

    /// The public id.
    pub fn public_id(&self) -> &'a str {
        self.public_id
    }

    /// The secret part.
    pub fn secret(&self) -> &'a str {
        self.secret
    }
}

/// A new refresh token: its text, handed to the client once, and its public id.
pub struct NewRefresh {
    /// The full text.
    pub token: SecretString,
    /// The public id, stored beside the secret's digest.
    pub public_id: String,
}

impl fmt::Debug for NewRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NewRefresh({REFRESH_PREFIX}{}…)", self.public_id)
    }
}

impl NewRefresh {
    /// A new token from the OS generator.
    pub fn generate() -> Self {
        let public_id = random_base62(ID_LEN);
        let body = format!("{REFRESH_PREFIX}{public_id}{}", random_base62(SECRET_LEN));
        let token = format!("{body}{}", String::from_utf8_lossy(&checksum(&body)));
        Self {
            token: SecretString::from(token),
            public_id,
        }
    }

    /// The secret part, for its digest.
    pub fn secret(&self) -> &str {
        let t = self.token.expose_secret();
        &t[REFRESH_PREFIX.len() + ID_LEN..REFRESH_LEN - CHECK_LEN]
    }
}

#[cfg(test)]
mod refresh_tests {
    use super::*;

    #[test]
    fn a_refresh_token_parses_back_and_is_never_a_key() {
        let new = NewRefresh::generate();
        let text = new.token.expose_secret();
        assert!(text.starts_with("kwr_") && text.len() == REFRESH_LEN);
        let parsed = RefreshRef::parse(text).unwrap();
        assert_eq!(parsed.public_id(), new.public_id);
        assert_eq!(parsed.secret(), new.secret());
        assert_eq!(KeyRef::parse(text).err(), Some(KeyFormatError::Malformed));
        let key = ParsedKey::generate();
        assert!(RefreshRef::parse(key.token.expose_secret()).is_err());
        let mut altered = text.to_owned().into_bytes();
        altered[10] = if altered[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            RefreshRef::parse(&String::from_utf8(altered).unwrap()).err(),
            Some(KeyFormatError::Checksum)
        );
    }
}
