//! Password and app-secret hashing with argon2id, off the async workers, capped,
//! and with a fixed memory cost.
//!
//! Each hash needs its parameters' memory (19 MiB by default). At most a few run
//! at once, each in a slot that owns a block buffer allocated once at start-up:
//! hashing allocates nothing, so a flood of sign-ins cannot grow the process
//! (the allocator kept freed 19 MiB blocks before). Beyond the cap a sign-in is
//! refused at once ("busy", a 503 with Retry-After) instead of queueing, and the
//! cap leaves a core to the API.
//!
//! Passwords are normalised to NFKC before hashing, so the same characters typed
//! on two keyboards give the same hash. An unknown account is checked against a
//! dummy hash, so it costs the same as a wrong password and the timing does not
//! tell which emails exist. A hash made with other parameters than the
//! configured ones is reported, so the caller can store a new one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use unicode_normalization::UnicodeNormalization;

pub use crate::config::HashCost;
use crate::secrets::{constant_time_eq, random_bytes};

/// How long a sign-in waits for a free slot before it is refused.
const SIGN_IN_WAIT: Duration = Duration::from_millis(250);
/// How long an admin's own hashing (a new secret, setup) waits for a slot.
const CONSOLE_WAIT: Duration = Duration::from_secs(5);

/// Hashing could not be done.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot is busy; try again in a moment.
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

/// The answer of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The secret matches a stored hash (never for an unknown account).
    pub matches: bool,
    /// It matches, but the stored hash has other parameters than the configured
    /// ones (or predates NFKC): store a new hash.
    pub stale: bool,
}

/// Hashes and verifies passwords and app secrets. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    params: Params,
    slots: Arc<Semaphore>,
    buffers: Mutex<Vec<Vec<Block>>>,
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("slots", &self.inner.slots.available_permits())
            .finish_non_exhaustive()
    }
}

/// One hashing slot, with its memory: held while hashes run.
pub struct Slot {
    inner: Arc<Inner>,
    blocks: Option<Vec<Block>>,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let (Some(blocks), Ok(mut buffers)) = (self.blocks.take(), self.inner.buffers.lock()) {
            buffers.push(blocks);
        }
    }
}

fn normalized(secret: &str) -> String {
    secret.nfkc().collect()
}

fn failed(e: impl std::fmt::Display) -> HashError {
    HashError::Failed(e.to_string())
}

impl Inner {
    /// The PHC string of `secret` with a fresh salt, in `blocks`.
    fn hash_into(&self, secret: &[u8], blocks: &mut [Block]) -> Result<String, HashError> {
        let salt = Salt::new(&random_bytes::<16>()).map_err(failed)?;
        let mut out = [0u8; 32];
        self.argon2
            .hash_password_into_with_memory(secret, &salt, &mut out, &mut *blocks)
            .map_err(failed)?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&self.params).try_into().map_err(failed)?,
            salt: Some(salt),
            hash: Some(Output::new(&out).map_err(failed)?),
        };
        Ok(hash.to_string())
    }

    /// Whether `secret` gives `phc`, computed in `blocks` (or in memory of its
    /// own when the stored parameters need more than the slot has).
    fn matches(
        &self,
        secret: &[u8],
        phc: &PasswordHash,
        blocks: &mut [Block],
    ) -> Result<bool, HashError> {
        let params = Params::try_from(phc).map_err(failed)?;
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return Err(failed("stored hash without salt or output"));
        };
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut out = vec![0u8; expected.len()];
        if params.block_count() <= blocks.len() {
            argon2
                .hash_password_into_with_memory(secret, salt, &mut out, &mut *blocks)
                .map_err(failed)?;
        } else {
            argon2
                .hash_password_into(secret, salt, &mut out)
                .map_err(failed)?;
        }
        Ok(constant_time_eq(&out, expected.as_bytes()))
    }

    fn check(
        &self,
        secret: &str,
        stored: Option<&str>,
        blocks: &mut [Block],
    ) -> Result<Checked, HashError> {
        let known = stored.is_some();
        let phc = PasswordHash::new(stored.unwrap_or(&self.dummy_hash)).map_err(failed)?;
        let nfkc = normalized(secret);
        let mut matches = self.matches(nfkc.as_bytes(), &phc, blocks)?;
        let mut stale = false;
        if !matches && nfkc != secret {
            // Hashed before passwords were normalised.
            matches = self.matches(secret.as_bytes(), &phc, blocks)?;
            stale = matches;
        }
        let same_cost = Params::try_from(&phc).is_ok_and(|p| {
            p.m_cost() == self.params.m_cost()
                && p.t_cost() == self.params.t_cost()
                && p.p_cost() == self.params.p_cost()
        });
        Ok(Checked {
            matches: known && matches,
            stale: known && matches && (stale || !same_cost),
        })
    }
}

impl PasswordHasher {
    /// A hasher running at most `max_concurrent` hashes at once with `cost`:
    /// allocates every slot's memory and computes the dummy hash now (blocking,
    /// once at start-up).
    pub fn new(cost: HashCost, max_concurrent: usize) -> Result<Self, HashError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, Some(32))
            .map_err(failed)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let slots = max_concurrent.max(1);
        let mut buffers: Vec<Vec<Block>> = (0..slots)
            .map(|_| vec![Block::new(); params.block_count()])
            .collect();
        let mut inner = Inner {
            argon2,
            params,
            slots: Arc::new(Semaphore::new(slots)),
            buffers: Mutex::new(Vec::new()),
            dummy_hash: String::new(),
        };
        if let Some(first) = buffers.first_mut() {
            inner.dummy_hash =
                inner.hash_into(b"keyward dummy password for unknown accounts", first)?;
        }
        inner.buffers = Mutex::new(buffers);
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// A slot for a sign-in: free within a quarter of a second, or [`HashError::Busy`].
    pub async fn sign_in_slot(&self) -> Result<Slot, HashError> {
        self.slot(SIGN_IN_WAIT).await
    }

    async fn slot(&self, wait: Duration) -> Result<Slot, HashError> {
        let permit = tokio::time::timeout(wait, Arc::clone(&self.inner.slots).acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Busy)?;
        let blocks = self
            .inner
            .buffers
            .lock()
            .map_err(|_| failed("hashing buffers poisoned"))?
            .pop();
        Ok(Slot {
            inner: Arc::clone(&self.inner),
            blocks,
            _permit: permit,
        })
    }

    /// The PHC string of `secret` (NFKC-normalised), with a fresh random salt.
    pub async fn hash(&self, secret: &str) -> Result<String, HashError> {
        self.slot(CONSOLE_WAIT).await?.hash(secret).await
    }

    /// Checks `secret` against `stored` (the dummy hash when `None`).
    pub async fn check(&self, secret: &str, stored: Option<String>) -> Result<Checked, HashError> {
        self.slot(CONSOLE_WAIT).await?.check(secret, stored).await
    }
}

impl Slot {
    async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Inner, &mut [Block]) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let inner = Arc::clone(&self.inner);
        let mut blocks = self
            .blocks
            .take()
            .unwrap_or_else(|| vec![Block::new(); inner.params.block_count()]);
        let (result, blocks) = tokio::task::spawn_blocking(move || {
            let result = f(&inner, &mut blocks);
            (result, blocks)
        })
        .await
        .map_err(failed)?;
        self.blocks = Some(blocks);
        result
    }

    /// The PHC string of `secret` (NFKC-normalised), with a fresh random salt.
    pub async fn hash(&mut self, secret: &str) -> Result<String, HashError> {
        let secret = normalized(secret);
        self.run(move |inner, blocks| inner.hash_into(secret.as_bytes(), blocks))
            .await
    }

    /// Checks `secret` against `stored`; with no stored hash (an unknown
    /// account) the dummy hash is checked, so both cost the same, and the answer
    /// is no.
    pub async fn check(
        &mut self,
        secret: &str,
        stored: Option<String>,
    ) -> Result<Checked, HashError> {
        let secret = secret.to_owned();
        self.run(move |inner, blocks| inner.check(&secret, stored.as_deref(), blocks))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_secret_and_nothing_else() {
        let hasher = PasswordHasher::new(HashCost::default(), 2).unwrap();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!hash.contains("horse"));
        let right = hasher
            .check("correct horse battery", Some(hash.clone()))
            .await
            .unwrap();
        assert_eq!(
            right,
            Checked {
                matches: true,
                stale: false
            }
        );
        assert!(
            !hasher
                .check("wrong horse battery", Some(hash))
                .await
                .unwrap()
                .matches
        );
        assert!(
            !hasher
                .check("correct horse battery", None)
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn the_same_characters_typed_differently_give_the_same_password() {
        let hasher = PasswordHasher::new(HashCost::default(), 1).unwrap();
        // "Å" as one code point, and as A plus a combining ring.
        let hash = hasher.hash("p\u{00C5}ssword for tests").await.unwrap();
        assert!(
            hasher
                .check("pA\u{030A}ssword for tests", Some(hash))
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn a_hash_of_another_cost_still_verifies_and_asks_to_be_renewed() {
        let old = PasswordHasher::new(
            HashCost {
                memory_kib: 8 * 1024,
                iterations: 1,
                parallelism: 1,
            },
            1,
        )
        .unwrap();
        let hash = old.hash("correct horse battery").await.unwrap();
        let new = PasswordHasher::new(HashCost::default(), 1).unwrap();
        assert_eq!(
            new.check("correct horse battery", Some(hash))
                .await
                .unwrap(),
            Checked {
                matches: true,
                stale: true
            }
        );
    }

    #[tokio::test]
    async fn beyond_its_slots_a_sign_in_is_refused_at_once() {
        let hasher = PasswordHasher::new(HashCost::default(), 1).unwrap();
        let held = hasher.sign_in_slot().await.unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(hasher.sign_in_slot().await, Err(HashError::Busy)));
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(held);
        assert!(hasher.sign_in_slot().await.is_ok());
    }
}
