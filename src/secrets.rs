//! Randomness, the master key, and the keys derived from it.
//!
//! Every secret value comes from the operating system's generator. The master key
//! (from `KEYWARD_SECRET_KEY` or a file in the data folder) is never used directly:
//! each purpose gets its own key derived with HMAC-SHA-512, so a cookie key can
//! never be confused with a digest key.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::rand_core::{Rng, UnwrapErr};
use rand::rngs::SysRng;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256, Sha512};

/// `N` bytes from the operating system's generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    UnwrapErr(SysRng).fill_bytes(&mut out);
    out
}

/// A URL-safe random token of `N` bytes of entropy.
pub fn random_token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

/// Lower-case hex SHA-256, for looking up high-entropy tokens by hash.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The installation's master secret.
pub struct MasterKey(SecretSlice<u8>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// The master key could not be read or kept.
#[derive(Debug, thiserror::Error)]
#[error("secret key file {path}: {message}")]
pub struct KeyFileError {
    path: String,
    message: String,
}

impl MasterKey {
    /// The configured key.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(SecretSlice::from(bytes.to_vec()))
    }

    /// Reads the key kept at `path`, or makes one there (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyFileError> {
        let err = |message: String| KeyFileError {
            path: path.display().to_string(),
            message,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let key = text.trim();
                if key.len() < 32 {
                    return Err(err(
                        "is shorter than 32 characters; delete it to make a new one".into(),
                    ));
                }
                warn_if_readable_by_others(path);
                return Ok(Self::from_bytes(key.as_bytes()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e.to_string())),
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| err(e.to_string()))?;
        }
        let key = random_token::<48>();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(format!("{key}\n").as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| err(e.to_string()))?;
                tracing::info!(path = %path.display(), "generated a new secret key");
                Ok(Self::from_bytes(key.as_bytes()))
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// A 64-byte key for `purpose`.
    pub fn derive(&self, purpose: &str) -> [u8; 64] {
        let mut out = [0u8; 64];
        if let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(self.0.expose_secret()) {
            mac.update(b"keyward/v1/");
            mac.update(purpose.as_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// The key for API key digests.
    pub fn digest_key(&self) -> DigestKey {
        DigestKey::new(&self.derive("api-key-digest"))
    }

    /// The key that signs session cookies.
    pub fn cookie_key(&self) -> actix_web::cookie::Key {
        actix_web::cookie::Key::from(&self.derive("cookies"))
    }

    /// The key that seals what the database keeps encrypted (token signing keys).
    pub fn sealing_key(&self) -> SealingKey {
        let derived = self.derive("sealing");
        let mut key = [0u8; 32];
        key.copy_from_slice(&derived[..32]);
        SealingKey(SecretSlice::from(key.to_vec()))
    }
}

/// Encrypts small values for the database with AES-256-GCM under a key derived
/// from the master key, bound to what they are (the associated data), so a
/// sealed value copied to another row or purpose does not open.
#[derive(Clone)]
pub struct SealingKey(SecretSlice<u8>);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

impl SealingKey {
    fn cipher(&self) -> aes_gcm::Aes256Gcm {
        use aes_gcm::KeyInit as _;
        aes_gcm::Aes256Gcm::new(aes_gcm::Key::<aes_gcm::Aes256Gcm>::from_slice(
            self.0.expose_secret(),
        ))
    }

    /// `plaintext` sealed for `context`: base64url of a random 96-bit nonce and
    /// the ciphertext with its tag.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        use aes_gcm::aead::{Aead, Payload};
        let nonce = random_bytes::<12>();
        let sealed = self
            .cipher()
            .encrypt(
                aes_gcm::Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The plaintext of a value sealed for `context`, or `None` when it was
    /// altered, sealed for something else, or under another master key.
    pub fn open(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        use aes_gcm::aead::{Aead, Payload};
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        self.cipher()
            .decrypt(
                aes_gcm::Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }
}

/// Keys the digests of API key secrets (HMAC-SHA-256): a stolen table of digests
/// is useless without this key, and checking one costs a microsecond, not the tens
/// of milliseconds a password hash would cost every API call.
///
/// The key is set up once (HMAC's inner and outer pads hashed); each digest
/// clones that state, so a digest costs two compressions, not four.
#[derive(Clone)]
pub struct DigestKey(Hmac<Sha256>);

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey(***)")
    }
}

impl DigestKey {
    /// A digest key from its 64 bytes (HMAC-SHA-256's block size).
    pub fn new(key: &[u8; 64]) -> Self {
        Self(<Hmac<Sha256> as KeyInit>::new(&(*key).into()))
    }

    /// The hex digest of `secret`.
    pub fn digest(&self, secret: &str) -> String {
        hex(&self.digest_bytes(secret))
    }

    /// The digest of `secret`, as bytes.
    pub fn digest_bytes(&self, secret: &str) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the secret key file is readable by others; chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_context_and_key() {
        let key = MasterKey::from_bytes(b"0123456789abcdef0123456789abcdef").sealing_key();
        let sealed = key.seal(b"signing key bytes", "signing-key:k1");
        assert!(!sealed.contains("signing"));
        assert_eq!(
            key.open(&sealed, "signing-key:k1").as_deref(),
            Some(&b"signing key bytes"[..])
        );
        assert_eq!(key.open(&sealed, "signing-key:k2"), None);
        let other = MasterKey::from_bytes(b"another master key of 32 bytes!!").sealing_key();
        assert_eq!(other.open(&sealed, "signing-key:k1"), None);
        let mut altered = sealed.clone().into_bytes();
        altered[20] = if altered[20] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            key.open(&String::from_utf8(altered).unwrap(), "signing-key:k1"),
            None
        );
        assert_ne!(
            key.seal(b"x", "c"),
            key.seal(b"x", "c"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn a_generated_key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/secret.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.derive("x"), b.derive("x"));
        assert_ne!(a.derive("x"), a.derive("y"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(format!("{a:?}"), "MasterKey(***)");
    }

    #[test]
    fn tokens_are_random_and_url_safe() {
        let a = random_token::<32>();
        assert_ne!(a, random_token::<32>());
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
