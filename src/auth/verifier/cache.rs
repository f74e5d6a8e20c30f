//! The verifier's memory and how far it may be trusted.
//!
//! Verified keys are kept by the keyed digest of their secret (never the
//! plaintext), verified access tokens by the keyed digest of their text, and
//! unknown digests too. Every entry carries the generation it was read in; the
//! generation moves whenever an organization's credentials version moves
//! (polled four times a second), so a stale entry is never used. Tokens carry a
//! second generation, which also moves with the tokens version: revoking a
//! sign-in or changing a password drops the verified tokens, not the keys. The
//! cache is trusted only while the last successful poll is at most a second old.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::decision::Standing;
use super::grant::Grant;
use super::limits::KeyCounter;
use crate::domain::{OrgId, RateLimits};

/// How old the last successful poll may be for the cache to be trusted.
pub const FRESHNESS: Duration = Duration::from_secs(1);

/// What the poll keeps of one organization.
#[derive(Debug, Default)]
pub struct OrgFlags {
    version: AtomicI64,
    tokens_version: AtomicI64,
    external_connectivity: AtomicBool,
    log_sample_basis_points: std::sync::atomic::AtomicU32,
}

/// What one poll reads of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgState {
    /// The organization.
    pub id: OrgId,
    /// Moves when what passes may have changed (keys, apps, features).
    pub credentials_version: i64,
    /// Moves when which access tokens pass may have changed.
    pub tokens_version: i64,
    /// The feature switch.
    pub external_connectivity: bool,
    /// The request log's sample of allowed requests, in basis points.
    pub log_sample_basis_points: u32,
}

impl OrgFlags {
    /// Whether the organization's API access is on.
    pub fn external_connectivity(&self) -> bool {
        self.external_connectivity.load(Ordering::SeqCst)
    }

    /// The share of allowed requests its request log samples, in basis points.
    pub fn log_sample_basis_points(&self) -> u32 {
        self.log_sample_basis_points.load(Ordering::Relaxed)
    }
}

/// A verified key or access token, as cached.
#[derive(Debug)]
pub struct Entry {
    pub generation: u64,
    /// For an access token, the token generation it was read in.
    pub token_generation: Option<u64>,
    pub grant: Arc<Grant>,
    pub standing: Standing,
    pub org: Arc<OrgFlags>,
    /// The second of the last use queued for `last_used_at`: a key used many
    /// times a second is queued once a second, not on every request.
    pub queued_use: AtomicI64,
    /// A digest of the client address of that use: a use from another
    /// address is queued too, so every address a key is used from is seen.
    pub queued_address: AtomicU64,
    /// A key's rate limits and its counters, when it has limits.
    pub limits: Option<(RateLimits, Arc<KeyCounter>)>,
    /// The key replaced another by a roll and has not been used yet: its
    /// first use may start the other's grace. Cleared once reported.
    pub first_use_pending: AtomicBool,
    /// Where its requests are counted, attached at its first request.
    pub usage: std::sync::OnceLock<Arc<super::usage::UsageCell>>,
}

/// The caches, the generation and the poll's freshness.
pub struct Cache {
    positive: quick_cache::sync::Cache<[u8; 32], Arc<Entry>>,
    negative: quick_cache::sync::Cache<[u8; 32], u64>,
    generation: AtomicU64,
    token_generation: AtomicU64,
    orgs: Mutex<HashMap<OrgId, Arc<OrgFlags>>>,
    started: Instant,
    last_poll_ok_ms: AtomicI64,
    db_down: AtomicBool,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("cached", &self.positive.len())
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Empty, untrusted until the first poll, room for `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            positive: quick_cache::sync::Cache::new(capacity),
            negative: quick_cache::sync::Cache::new(capacity),
            generation: AtomicU64::new(0),
            // Ahead of the signing keys the verifier reads at start (0): the
            // first unknown kid reads them again at once.
            token_generation: AtomicU64::new(1),
            orgs: Mutex::new(HashMap::new()),
            started: Instant::now(),
            last_poll_ok_ms: AtomicI64::new(i64::MIN / 2),
            db_down: AtomicBool::new(false),
        }
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// The current generation: entries of another are stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The current token generation: token entries of another are stale.
    pub fn token_generation(&self) -> u64 {
        self.token_generation.load(Ordering::SeqCst)
    }

    /// Makes every entry stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Makes every access token entry stale.
    pub fn invalidate_tokens(&self) {
        self.token_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes in a successful poll: each organization's versions and feature
    /// switch. A credentials version that moved makes every entry stale; a
    /// tokens version, every access token entry.
    pub fn polled(&self, states: &[OrgState]) {
        let (mut moved, mut tokens_moved) = (false, false);
        if let Ok(mut orgs) = self.orgs.lock() {
            for state in states {
                let flags = orgs.entry(state.id.clone()).or_insert_with(|| {
                    Arc::new(OrgFlags {
                        version: AtomicI64::new(state.credentials_version),
                        tokens_version: AtomicI64::new(state.tokens_version),
                        external_connectivity: AtomicBool::new(state.external_connectivity),
                        log_sample_basis_points: state.log_sample_basis_points.into(),
                    })
                });
                flags
                    .log_sample_basis_points
                    .store(state.log_sample_basis_points, Ordering::Relaxed);
                flags
                    .external_connectivity
                    .store(state.external_connectivity, Ordering::SeqCst);
                moved |= flags
                    .version
                    .swap(state.credentials_version, Ordering::SeqCst)
                    != state.credentials_version;
                tokens_moved |= flags
                    .tokens_version
                    .swap(state.tokens_version, Ordering::SeqCst)
                    != state.tokens_version;
            }
        }
        if moved {
            self.invalidate();
        }
        if tokens_moved {
            self.invalidate_tokens();
        }
        self.last_poll_ok_ms
            .store(self.elapsed_ms(), Ordering::SeqCst);
        self.db_down.store(false, Ordering::SeqCst);
    }

    /// Takes in a failed poll: uncached keys get 503 until one succeeds.
    pub fn poll_failed(&self) {
        self.db_down.store(true, Ordering::SeqCst);
    }

    /// Whether the last poll failed.
    pub fn db_down(&self) -> bool {
        self.db_down.load(Ordering::SeqCst)
    }

    /// Whether the cache may answer: the last poll succeeded within [`FRESHNESS`].
    pub fn trusted(&self) -> bool {
        let age = self.elapsed_ms() - self.last_poll_ok_ms.load(Ordering::SeqCst);
        age <= i64::try_from(FRESHNESS.as_millis()).unwrap_or(1000)
    }

    /// The organization's flags, as last polled (switched off until then).
    pub fn org(&self, id: &OrgId) -> Arc<OrgFlags> {
        match self.orgs.lock() {
            Ok(mut orgs) => Arc::clone(orgs.entry(id.clone()).or_default()),
            Err(_) => Arc::new(OrgFlags::default()),
        }
    }

    /// The fresh entry of a digest, if any: read in `generation` and, for an
    /// access token, in `token_generation`.
    pub fn known(
        &self,
        digest: &[u8; 32],
        generation: u64,
        token_generation: u64,
    ) -> Option<Arc<Entry>> {
        self.positive.get(digest).filter(|e| {
            e.generation == generation && e.token_generation.is_none_or(|t| t == token_generation)
        })
    }

    /// Whether the digest is known not to be a key, in this generation.
    pub fn known_unknown(&self, digest: &[u8; 32], generation: u64) -> bool {
        self.negative.get(digest) == Some(generation)
    }

    /// Remembers a verified credential, unless a change committed while it was read.
    pub fn remember(&self, digest: [u8; 32], entry: &Arc<Entry>) {
        if self.generation() == entry.generation
            && entry
                .token_generation
                .is_none_or(|t| t == self.token_generation())
        {
            self.positive.insert(digest, Arc::clone(entry));
        }
    }

    /// Remembers that a digest is no key, unless a change committed meanwhile.
    pub fn remember_unknown(&self, digest: [u8; 32], generation: u64) {
        if self.generation() == generation {
            self.negative.insert(digest, generation);
        }
    }

    /// How many keys are cached.
    pub fn len(&self) -> usize {
        self.positive.len()
    }

    /// Whether no key is cached.
    pub fn is_empty(&self) -> bool {
        self.positive.is_empty()
    }
}
