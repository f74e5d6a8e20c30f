//! Password and app-secret hashing with argon2id, off the async workers and capped.
//!
//! Each hash costs ~19 MiB and tens of milliseconds, so at most a few run at once;
//! the rest wait briefly and then get "busy" (a 503) instead of piling up memory.
//! An unknown account is checked against a dummy hash, so it costs the same as a
//! wrong password and the timing does not tell which emails exist.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// How long a hash waits for a free slot before the request is refused.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Hashing could not be done.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes are running; try later.
    #[error("too many password checks at once")]
    Busy,
    /// argon2 failed (a bug, or a corrupt stored hash).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

impl From<HashError> for crate::error::AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Unavailable(e.to_string()),
            HashError::Failed(why) => Self::Internal(why),
        }
    }
}

/// Hashes and verifies passwords and app secrets. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    slots: Semaphore,
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher running at most `max_concurrent` hashes at once. Computes the dummy
    /// hash now (blocking, once at start-up).
    pub fn new(max_concurrent: usize) -> Result<Self, HashError> {
        let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
            .map_err(|e| HashError::Failed(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash_with(&argon2, b"keyward dummy password for unknown accounts")?;
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                slots: Semaphore::new(max_concurrent.max(1)),
                dummy_hash,
            }),
        })
    }

    /// The PHC string of `secret`, with a fresh random salt.
    pub async fn hash(&self, secret: &str) -> Result<String, HashError> {
        let secret = secret.to_owned();
        self.run(move |inner| hash_with(&inner.argon2, secret.as_bytes()))
            .await
    }

    /// Whether `secret` matches `stored`. With no stored hash (an unknown account)
    /// the dummy hash is checked, so both cost the same, and the answer is false.
    pub async fn verify(&self, secret: &str, stored: Option<String>) -> Result<bool, HashError> {
        let secret = secret.to_owned();
        self.run(move |inner| {
            let known = stored.is_some();
            let phc = stored.unwrap_or_else(|| inner.dummy_hash.clone());
            let parsed = PasswordHash::new(&phc).map_err(|e| HashError::Failed(e.to_string()))?;
            let matches = inner
                .argon2
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok();
            Ok(known && matches)
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _slot = tokio::time::timeout(QUEUE_WAIT, self.inner.slots.acquire())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Busy)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| HashError::Failed(e.to_string()))?
    }
}

fn hash_with(argon2: &Argon2<'_>, secret: &[u8]) -> Result<String, HashError> {
    argon2
        .hash_password(secret)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_secret_and_nothing_else() {
        let hasher = PasswordHasher::new(2).unwrap();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!hash.contains("horse"));
        assert!(
            hasher
                .verify("correct horse battery", Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse battery", Some(hash))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("correct horse battery", None).await.unwrap());
    }
}
