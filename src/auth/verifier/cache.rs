//! The verifier's memory and how far it may be trusted.
//!
//! Verified keys are kept by the keyed digest of their secret (never the
//! plaintext), unknown digests too. Every entry carries the generation it was
//! read in; the generation moves whenever an organization's credentials version
//! moves (polled four times a second) or this instance made a change, so a stale
//! entry is never used. The cache is trusted only while the last successful poll
//! is at most a second old.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::decision::Standing;
use super::grant::Grant;
use crate::domain::OrgId;

/// How old the last successful poll may be for the cache to be trusted.
pub const FRESHNESS: Duration = Duration::from_secs(1);

/// What the poll keeps of one organization.
#[derive(Debug, Default)]
pub struct OrgFlags {
    version: AtomicI64,
    external_connectivity: AtomicBool,
}

impl OrgFlags {
    /// Whether the organization's API access is on.
    pub fn external_connectivity(&self) -> bool {
        self.external_connectivity.load(Ordering::SeqCst)
    }
}

/// A verified key, as cached.
#[derive(Debug)]
pub struct Entry {
    pub generation: u64,
    pub grant: Arc<Grant>,
    pub standing: Standing,
    pub org: Arc<OrgFlags>,
    /// The second of the last use queued for `last_used_at`: a key used many
    /// times a second is queued once a second, not on every request.
    pub queued_use: AtomicI64,
}

/// The caches, the generation and the poll's freshness.
pub struct Cache {
    positive: quick_cache::sync::Cache<[u8; 32], Arc<Entry>>,
    negative: quick_cache::sync::Cache<[u8; 32], u64>,
    generation: AtomicU64,
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

    /// Makes every entry stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes in a successful poll: each organization's credentials version and
    /// feature switch. A version that moved makes every entry stale.
    pub fn polled(&self, states: &[(OrgId, i64, bool)]) {
        let mut moved = false;
        if let Ok(mut orgs) = self.orgs.lock() {
            for (id, version, connectivity) in states {
                let flags = orgs.entry(id.clone()).or_insert_with(|| {
                    Arc::new(OrgFlags {
                        version: AtomicI64::new(*version),
                        external_connectivity: AtomicBool::new(*connectivity),
                    })
                });
                flags
                    .external_connectivity
                    .store(*connectivity, Ordering::SeqCst);
                moved |= flags.version.swap(*version, Ordering::SeqCst) != *version;
            }
        }
        if moved {
            self.invalidate();
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

    /// The fresh entry of a digest, if any.
    pub fn known(&self, digest: &[u8; 32], generation: u64) -> Option<Arc<Entry>> {
        self.positive
            .get(digest)
            .filter(|e| e.generation == generation)
    }

    /// Whether the digest is known not to be a key, in this generation.
    pub fn known_unknown(&self, digest: &[u8; 32], generation: u64) -> bool {
        self.negative.get(digest) == Some(generation)
    }

    /// Remembers a verified key, unless a change committed while it was read.
    pub fn remember(&self, digest: [u8; 32], entry: &Arc<Entry>) {
        if self.generation() == entry.generation {
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
