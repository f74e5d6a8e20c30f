//! The verifier's memory and how far it may be trusted.
//!
//! Verified keys are kept by the keyed digest of their secret (never the
//! plaintext), verified access tokens by the keyed digest of their text, and
//! unknown digests too.
//!
//! What may make an entry stale arrives through the change feed
//! (`db::models::change`): each row names an organization, an app, a key or a
//! user. Applying a row marks its subject's stripe (one of [`STRIPES`], chosen
//! by a keyed hash of the subject) with the row's number. An entry remembers
//! the feed position applied when its read began, and the stripes of what it
//! depends on (its organization, its app, and its key or its user): it is
//! used only while none of them was marked after that position. So a change
//! to one key makes that key (and the few that share its stripe) be read
//! again, never the whole cache; a change marked before a read began was
//! committed before it, so the read saw it. A wholesale drop (the feed could
//! not be followed) moves the generation instead. The cache is trusted only
//! while the last successful poll is at most a second old.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::decision::{OrgAccess, Standing};
use super::grant::Grant;
use super::limits::KeyCounter;
use crate::db::models::ChangeKind;
use crate::domain::{OrgId, RateLimits};

/// How old the last successful poll may be for the cache to be trusted.
pub const FRESHNESS: Duration = Duration::from_secs(1);

/// How many stripes the change marks are spread over: a change makes every
/// cached credential sharing its stripe be read again, so about one in this
/// many of them per change.
pub const STRIPES: usize = 1 << 16;

/// What the cache keeps of one organization, read when it is first met and
/// again whenever the change feed names it.
#[derive(Debug, Default)]
pub struct OrgFlags {
    external_connectivity: AtomicBool,
    suspended: AtomicBool,
    log_sample_basis_points: AtomicU32,
}

/// What is read of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgState {
    /// The organization.
    pub id: OrgId,
    /// The feature switch.
    pub external_connectivity: bool,
    /// Whether the operator suspended it.
    pub suspended: bool,
    /// The request log's sample of allowed requests, in basis points.
    pub log_sample_basis_points: u32,
    /// The most requests per second any of its keys may be allowed. Baked
    /// into each key's limits as it is read: a change of it is an
    /// organization change, which has every key of it read again.
    pub rate_ceiling: Option<u32>,
}

impl OrgFlags {
    /// Whether the organization's API access is on, off (402), or
    /// suspended by the operator (402).
    pub fn access(&self) -> OrgAccess {
        if self.suspended.load(Ordering::SeqCst) {
            OrgAccess::Suspended
        } else if self.external_connectivity.load(Ordering::SeqCst) {
            OrgAccess::Open
        } else {
            OrgAccess::NoConnectivity
        }
    }

    /// The share of allowed requests its request log samples, in basis points.
    pub fn log_sample_basis_points(&self) -> u32 {
        self.log_sample_basis_points.load(Ordering::Relaxed)
    }

    fn set(&self, state: &OrgState) {
        self.log_sample_basis_points
            .store(state.log_sample_basis_points, Ordering::Relaxed);
        self.external_connectivity
            .store(state.external_connectivity, Ordering::SeqCst);
        self.suspended.store(state.suspended, Ordering::SeqCst);
    }
}

/// Where a read began: the generation and the last change applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadStart {
    generation: u64,
    position: i64,
}

/// When a cached answer was read and the stripes of what it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    start: ReadStart,
    stripes: [u32; 3],
}

/// A verified key or access token, as cached.
#[derive(Debug)]
pub struct Entry {
    /// When it was read, and what it depends on.
    pub stamp: Stamp,
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

/// The caches, the change marks and the poll's freshness.
pub struct Cache {
    positive: quick_cache::sync::Cache<[u8; 32], Arc<Entry>>,
    negative: quick_cache::sync::Cache<[u8; 32], u64>,
    /// Moves when everything is dropped at once.
    generation: AtomicU64,
    /// The last change of the feed applied.
    position: AtomicI64,
    /// Per stripe, the last change applied that named a subject in it.
    marks: Box<[AtomicI64]>,
    hasher: std::collections::hash_map::RandomState,
    /// Moves when an organization's signing keys changed.
    signing_keys: AtomicU64,
    orgs: RwLock<HashMap<OrgId, Arc<OrgFlags>>>,
    started: Instant,
    last_poll_ok_ms: AtomicI64,
    db_down: AtomicBool,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("cached", &self.positive.len())
            .field("position", &self.position.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Empty, untrusted until the first poll, room for `capacity` keys; the
    /// feed is followed from `position` on.
    pub fn new(capacity: usize, position: i64) -> Self {
        Self {
            positive: quick_cache::sync::Cache::new(capacity),
            negative: quick_cache::sync::Cache::new(capacity),
            generation: AtomicU64::new(0),
            position: AtomicI64::new(position),
            marks: (0..STRIPES).map(|_| AtomicI64::new(i64::MIN)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            // Ahead of the signing keys the verifier reads at start (0): the
            // first unknown kid reads them again at once.
            signing_keys: AtomicU64::new(1),
            orgs: RwLock::new(HashMap::new()),
            started: Instant::now(),
            last_poll_ok_ms: AtomicI64::new(i64::MIN / 2),
            db_down: AtomicBool::new(false),
        }
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    fn stripe(&self, kind: ChangeKind, subject: &str) -> u32 {
        let hash = self.hasher.hash_one((kind.as_str(), subject));
        // Below STRIPES, so it fits.
        u32::try_from(hash % STRIPES as u64).unwrap_or(0)
    }

    /// The last change of the feed applied.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::SeqCst)
    }

    /// Where a read of the database begins: taken before it, so a change
    /// applied later counts against what it reads.
    pub fn read_start(&self) -> ReadStart {
        ReadStart {
            generation: self.generation.load(Ordering::SeqCst),
            position: self.position(),
        }
    }

    /// The stamp of what was read from `start` and depends on these subjects.
    pub fn stamp(&self, start: ReadStart, subjects: [(ChangeKind, &str); 3]) -> Stamp {
        Stamp {
            start,
            stripes: subjects.map(|(kind, subject)| self.stripe(kind, subject)),
        }
    }

    /// Whether nothing it depends on changed since the read that made it.
    pub fn fresh(&self, stamp: &Stamp) -> bool {
        stamp.start.generation == self.generation.load(Ordering::SeqCst)
            && stamp
                .stripes
                .iter()
                .all(|&i| self.marks[i as usize].load(Ordering::SeqCst) <= stamp.start.position)
    }

    /// Makes every entry stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Moves when an organization's signing keys changed: the published keys
    /// read before are to be read again.
    pub fn signing_keys(&self) -> u64 {
        self.signing_keys.load(Ordering::SeqCst)
    }

    /// Takes in changes read from the feed, in order, each numbered one after
    /// the last applied, with the state of every organization they name.
    /// Marks each subject's stripe, then moves the position to `last`.
    pub fn apply(&self, changes: &[(i64, ChangeKind, &str)], orgs: &[OrgState], last: Option<i64>) {
        for state in orgs {
            self.org_changed(state);
        }
        for &(seq, kind, subject) in changes {
            if kind == ChangeKind::SigningKeys {
                self.signing_keys.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            // An organization's change marks it; its entries all depend on it.
            self.marks[self.stripe(kind, subject) as usize].fetch_max(seq, Ordering::SeqCst);
        }
        if let Some(seq) = last {
            self.position.fetch_max(seq, Ordering::SeqCst);
        }
    }

    /// Drops everything and follows the feed from `position` on: rows were
    /// pruned before this instance read them, or the feed went back.
    pub fn restart(&self, position: i64) {
        self.invalidate();
        self.signing_keys.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut orgs) = self.orgs.write() {
            orgs.clear();
        }
        self.position.store(position, Ordering::SeqCst);
    }

    /// Takes in a successful poll.
    pub fn polled(&self) {
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

    /// The organization's flags, if it was met before.
    pub fn org(&self, id: &OrgId) -> Option<Arc<OrgFlags>> {
        self.orgs.read().ok()?.get(id).cloned()
    }

    /// The flags of an organization as a lookup that began at `start` read
    /// them: kept only if it was not met before (a state the feed brought is
    /// never older) and nothing was dropped meanwhile.
    pub fn org_seen(&self, state: &OrgState, start: ReadStart) -> Arc<OrgFlags> {
        let flags = || {
            let flags = OrgFlags::default();
            flags.set(state);
            Arc::new(flags)
        };
        match self.orgs.write() {
            Ok(mut orgs) if self.generation.load(Ordering::SeqCst) == start.generation => {
                Arc::clone(orgs.entry(state.id.clone()).or_insert_with(flags))
            }
            _ => flags(),
        }
    }

    /// The flags of an organization the feed named, read after its change.
    fn org_changed(&self, state: &OrgState) {
        if let Ok(mut orgs) = self.orgs.write() {
            orgs.entry(state.id.clone()).or_default().set(state);
        }
    }

    /// How many organizations are known.
    pub fn orgs_known(&self) -> usize {
        self.orgs.read().map_or(0, |orgs| orgs.len())
    }

    /// The fresh entry of a digest, if any.
    pub fn known(&self, digest: &[u8; 32]) -> Option<Arc<Entry>> {
        self.positive.get(digest).filter(|e| self.fresh(&e.stamp))
    }

    /// Whether the digest is known not to be a credential. A digest once
    /// unknown stays unknown until everything is dropped: a key's secret is
    /// random and first shown after the change that made it committed, so no
    /// client can present it before that (nor guess it), and a token that
    /// failed its signature check never passes it.
    pub fn known_unknown(&self, digest: &[u8; 32]) -> bool {
        self.negative.get(digest) == Some(self.generation.load(Ordering::SeqCst))
    }

    /// Remembers a verified credential, unless a change it depends on was
    /// applied while it was read.
    pub fn remember(&self, digest: [u8; 32], entry: &Arc<Entry>) {
        if self.fresh(&entry.stamp) {
            self.positive.insert(digest, Arc::clone(entry));
        }
    }

    /// Remembers that a digest is no credential, unless everything was
    /// dropped while it was read.
    pub fn remember_unknown(&self, digest: [u8; 32], start: ReadStart) {
        if self.generation.load(Ordering::SeqCst) == start.generation {
            self.negative.insert(digest, start.generation);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A subject of `kind` in another stripe than `other`.
    fn apart(cache: &Cache, kind: ChangeKind, other: &str) -> String {
        (0..)
            .map(|i| format!("subject-{i}"))
            .find(|s| cache.stripe(kind, s) != cache.stripe(kind, other))
            .unwrap_or_default()
    }

    fn stamp_of(cache: &Cache, start: ReadStart, key: &str) -> Stamp {
        cache.stamp(
            start,
            [
                (ChangeKind::Organization, "org"),
                (ChangeKind::App, "app"),
                (ChangeKind::Key, key),
            ],
        )
    }

    #[test]
    fn a_change_makes_stale_only_what_was_read_before_it_and_depends_on_it() {
        let cache = Cache::new(10, 7);
        let before = stamp_of(&cache, cache.read_start(), "key-1");
        let other_key = apart(&cache, ChangeKind::Key, "key-1");
        let other = stamp_of(&cache, cache.read_start(), &other_key);
        assert!(cache.fresh(&before) && cache.fresh(&other));

        cache.apply(&[(8, ChangeKind::Key, "key-1")], &[], Some(8));
        assert_eq!(cache.position(), 8);
        assert!(!cache.fresh(&before), "read before the change");
        assert!(cache.fresh(&other), "another key");
        let after = stamp_of(&cache, cache.read_start(), "key-1");
        assert!(cache.fresh(&after), "read after the change");

        // A change to the app reaches every key of it, read before.
        cache.apply(&[(9, ChangeKind::App, "app")], &[], Some(9));
        assert!(!cache.fresh(&after) && !cache.fresh(&other));
        // A change of another app does not.
        let now = stamp_of(&cache, cache.read_start(), "key-1");
        let other_app = apart(&cache, ChangeKind::App, "app");
        cache.apply(&[(10, ChangeKind::App, &other_app)], &[], Some(10));
        assert!(cache.fresh(&now));
    }

    #[test]
    fn a_restart_drops_everything_and_follows_the_feed_from_its_head() {
        let cache = Cache::new(10, 3);
        let start = cache.read_start();
        let stamp = stamp_of(&cache, start, "key");
        cache.org_seen(
            &OrgState {
                id: OrgId::from("org".to_owned()),
                external_connectivity: true,
                suspended: false,
                log_sample_basis_points: 100,
                rate_ceiling: None,
            },
            start,
        );
        let keys = cache.signing_keys();
        cache.restart(40);
        assert!(!cache.fresh(&stamp));
        assert_eq!(cache.position(), 40);
        assert_eq!(cache.orgs_known(), 0);
        assert!(
            cache.signing_keys() > keys,
            "the signing keys are read again"
        );
        // What a lookup begun before the drop read is not kept.
        let flags = cache.org_seen(
            &OrgState {
                id: OrgId::from("org".to_owned()),
                external_connectivity: true,
                suspended: false,
                log_sample_basis_points: 100,
                rate_ceiling: None,
            },
            start,
        );
        assert_eq!(flags.access(), OrgAccess::Open);
        assert_eq!(cache.orgs_known(), 0);
    }

    #[test]
    fn an_organization_the_feed_names_keeps_its_new_state_over_an_older_read() {
        let cache = Cache::new(10, 0);
        let id = OrgId::from("org".to_owned());
        let start = cache.read_start();
        let state = |on| OrgState {
            id: id.clone(),
            external_connectivity: on,
            suspended: false,
            log_sample_basis_points: 0,
            rate_ceiling: None,
        };
        // The feed brings the organization switched on; a lookup that read
        // it off before does not switch it back.
        cache.apply(
            &[(1, ChangeKind::Organization, "org")],
            &[state(true)],
            Some(1),
        );
        let flags = cache.org_seen(&state(false), start);
        assert_eq!(flags.access(), OrgAccess::Open);
        // A later change switches it off, in the flags every entry holds.
        cache.apply(
            &[(2, ChangeKind::Organization, "org")],
            &[state(false)],
            Some(2),
        );
        assert_eq!(flags.access(), OrgAccess::NoConnectivity);
        // Suspended, it is refused whatever its switch says; resumed, the
        // switch counts again.
        let suspended = OrgState {
            suspended: true,
            ..state(true)
        };
        cache.apply(
            &[(3, ChangeKind::Organization, "org")],
            &[suspended],
            Some(3),
        );
        assert_eq!(flags.access(), OrgAccess::Suspended);
        cache.apply(
            &[(4, ChangeKind::Organization, "org")],
            &[state(true)],
            Some(4),
        );
        assert_eq!(flags.access(), OrgAccess::Open);
        // Signing keys changes mark nothing but ask for the keys again.
        let keys = cache.signing_keys();
        let stamp = stamp_of(&cache, cache.read_start(), "key");
        cache.apply(&[(5, ChangeKind::SigningKeys, "org")], &[], Some(5));
        assert!(cache.fresh(&stamp));
        assert_eq!(cache.signing_keys(), keys + 1);
        assert_eq!(cache.position(), 5);
    }
}
