//! The one decision for every external request: does this credential allow this
//! permission now?
//!
//! Its parts: [`cache`] (verified keys and access tokens by digest, and how far
//! the cache may be trusted), [`lookup`] (the database read when a credential
//! is not cached), [`decision`] (the rules, a pure function of the entry and
//! the time) and [`failures`] (clients sending bad credentials are told to wait).
//!
//! An access token is verified offline first (its signature against the
//! published keys, its issuer, audience and expiry: `crate::jwt`), then what
//! only the database knows is read once (its sign-in and user not revoked, its
//! app's status and permissions now) and cached like a key, never past its
//! `exp` and dropped at once by a revocation (the change feed names its user).
//!
//! Speed without staleness: every change that can affect the answer appends
//! what it changed (an organization, an app, a key, a user) to the change feed
//! in the same transaction; the instance that made it reads the feed at once,
//! and every instance reads it four times a second (one query when nothing
//! changed, whatever the number of organizations), forgetting only the cached
//! credentials that depend on what a row names. If the poll has not succeeded
//! for a second, the cache is not trusted; if the database cannot be reached,
//! an uncached key gets 503, never a pass and never a 401.
//!
//! Failed lookups are bounded: checksum failures never reach the database,
//! unknown digests are remembered, concurrent lookups are capped, and a client
//! with many failures is told to wait (429).

pub mod cache;
pub mod clients;
pub mod decision;
pub mod failures;
pub mod grant;
pub mod limits;
pub mod lookup;
pub mod usage;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderMap;
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;

use self::cache::{Cache, Entry};
use self::clients::{ClientDenial, Clients};
use self::failures::Failures;
pub use self::grant::{Denial, Grant, Principal};
use self::limits::Limiter;
pub use self::limits::RateState;
use self::usage::{Owner, Usage, UsageTag};
use super::credentials::{self, Credential, CredentialError};
use crate::clock::{self, Timestamp};
use crate::db::models::request_log::RequestLog;
use crate::db::models::token::SigningKey;
use crate::db::models::usage::{self as usage_model, MinuteCount};
use crate::db::models::{Change, ChangeKind};
use crate::db::{Db, DbError};
use crate::domain::scopes::Permission;
use crate::domain::{KeyId, OrgId};
use crate::jwt::{self, AccessClaims, PublicKeys, TokenError};
use crate::secrets::DigestKey;

/// How often each instance reads the change feed.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How many rows of the change feed one read takes.
const FEED_BATCH: i64 = 1000;
/// How often `last_used_at` is written.
pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// Cache lookups of the database running at once.
const CONCURRENT_LOOKUPS: usize = 16;
/// How often an unknown `kid` may make the published keys be read again.
const KEYS_RELOAD_EVERY: Duration = Duration::from_secs(1);

/// The published token signing keys, as last read.
#[derive(Debug)]
struct KeySet {
    keys: PublicKeys,
    /// The cache's signing keys generation they were read in: a new key or a
    /// rotation moves it.
    generation: u64,
    loaded: Instant,
}
/// One read of the change feed.
#[derive(Debug, Default)]
struct FeedRead {
    /// The last change committed when it was read.
    head: i64,
    /// The rows after the last applied, in order.
    changes: Vec<Change>,
    /// The states of the organizations the rows name.
    orgs: Vec<cache::OrgState>,
}

/// Verifies external credentials; one per server, shared by its workers.
pub struct Verifier {
    db: Db,
    digest_key: DigestKey,
    /// The public URL each organization's issuer is under.
    public: String,
    audience: String,
    keys: RwLock<Arc<KeySet>>,
    keys_reload: tokio::sync::Mutex<()>,
    cache: Cache,
    /// One read of the change feed at a time, so rows are applied in order.
    polling: tokio::sync::Mutex<()>,
    clients: Clients,
    failures: Failures,
    lookups: Semaphore,
    throttled_lookups: Semaphore,
    uses: Mutex<HashMap<KeyId, KeyUse>>,
    limiter: Limiter,
    clock: clock::Clock,
    /// Requests counted by key, minute and outcome, and the log's rows;
    /// `None` when usage is not counted (`KEYWARD_USAGE=off`).
    usage: Option<Usage>,
    /// Credentials found in the cache, and read from the database.
    cache_hits: std::sync::atomic::AtomicU64,
    cache_misses: std::sync::atomic::AtomicU64,
}

/// What a verified request is allowed, and, for a rate-limited key, the
/// state of its windows (the answer's `RateLimit` fields).
#[derive(Debug)]
pub struct Verified {
    /// What the credential may do.
    pub grant: Arc<Grant>,
    /// The key's rate-limit windows after this request, if it has limits.
    pub rate: Option<RateState>,
    /// Where the answer is counted (when usage is counted).
    pub usage: Option<UsageTag>,
}

/// A refused request: why, and, when the credential was known, where the
/// refusal is counted.
#[derive(Debug)]
pub struct Refused {
    /// Why.
    pub denial: Denial,
    /// The known credential's usage, if usage is counted.
    pub usage: Option<UsageTag>,
}

impl From<Denial> for Refused {
    fn from(denial: Denial) -> Self {
        Self {
            denial,
            usage: None,
        }
    }
}

/// A key's uses since the last flush.
#[derive(Debug, Default)]
struct KeyUse {
    last: Option<Timestamp>,
    /// Each client address's latest use (a handful: the key keeps five).
    addresses: Vec<(IpAddr, Timestamp)>,
    /// The first use of a key that replaced another by a roll.
    first_of_successor: Option<Timestamp>,
}

/// The most addresses one flush records per key: the key keeps no more
/// (the latest uses replace the oldest).
const ADDRESSES_PER_FLUSH: usize = crate::db::models::key_address::KEPT;

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Why the header did not give a credential, as the API answers it.
fn header_denial(e: CredentialError) -> Denial {
    match e {
        CredentialError::Missing => Denial::MissingCredentials,
        // RFC 6750 §3.1 (invalid_request): a request with two credentials is
        // malformed, not unauthenticated.
        CredentialError::Duplicate => {
            Denial::InvalidRequest("Send exactly one Authorization header.")
        }
        CredentialError::UnsupportedScheme => {
            Denial::InvalidCredentials("Use the apikey or Bearer scheme.")
        }
        CredentialError::Malformed => {
            Denial::InvalidCredentials("The credential is not well formed.")
        }
        CredentialError::BadChecksum => {
            Denial::InvalidCredentials("The API key is mistyped or altered.")
        }
    }
}

const INVALID_TOKEN: Denial = Denial::InvalidToken;

impl Verifier {
    /// A verifier that follows the change feed from its head now, with the
    /// published token signing keys read, keeping up to `capacity` verified
    /// credentials. Access tokens must come from their organization's issuer
    /// under `public`, the public URL.
    /// `count_usage` turns the usage counts and the request log on.
    pub async fn new(
        db: Db,
        digest_key: DigestKey,
        public: String,
        count_usage: bool,
        capacity: usize,
    ) -> Result<Self, DbError> {
        // Generation 0, behind the cache's first: the first unknown kid (the
        // key made at first start) reads the keys again at once.
        let keys = Self::read_keys(&db, &public, 0).await?;
        let head = db
            .run(|conn| Change::head(conn).map_err(DbError::from))
            .await?;
        let verifier = Self {
            db,
            digest_key,
            audience: jwt::audience(&public),
            public,
            keys: RwLock::new(Arc::new(keys)),
            keys_reload: tokio::sync::Mutex::new(()),
            cache: Cache::new(capacity, head),
            polling: tokio::sync::Mutex::new(()),
            clients: Clients::new(10_000),
            failures: Failures::new(100_000),
            lookups: Semaphore::new(CONCURRENT_LOOKUPS),
            throttled_lookups: Semaphore::new(2),
            uses: Mutex::new(HashMap::new()),
            limiter: Limiter::new(crate::secrets::random_token::<12>()),
            clock: clock::Clock::default(),
            usage: count_usage.then(Usage::default),
            cache_hits: Default::default(),
            cache_misses: Default::default(),
        };
        verifier.poll().await?;
        Ok(verifier)
    }

    /// The clock the decisions read: tests move it ahead to see an expiry or
    /// a grace end without waiting for it.
    pub fn clock(&self) -> &clock::Clock {
        &self.clock
    }

    /// Drops every cached answer (after a change made by this instance).
    pub fn invalidate(&self) {
        self.cache.invalidate();
    }

    /// After a change made by this instance: reads the change feed at once,
    /// not at the next poll, so what the change made stale (every change that
    /// can alter what passes appends to the feed in its own transaction) is
    /// forgotten before the change is answered.
    pub async fn refresh(&self) {
        if let Err(e) = self.poll().await {
            // Not knowing what changed, drop everything.
            self.invalidate();
            crate::warn_limited!("credentials_refresh", error = %e, "credentials refresh failed");
        }
    }

    /// Reads the change feed after the last row applied and forgets what the
    /// new rows make stale. If rows are missing (pruned while this instance
    /// could not read them) or the feed went back (a restored database),
    /// everything is dropped and the feed followed from its head.
    pub async fn poll(&self) -> Result<(), DbError> {
        let _in_order = self.polling.lock().await;
        loop {
            let from = self.cache.position();
            let read = self
                .db
                .run(move |conn| -> Result<FeedRead, DbError> {
                    let head = Change::head(conn)?;
                    if head <= from {
                        return Ok(FeedRead {
                            head,
                            ..FeedRead::default()
                        });
                    }
                    let changes = Change::after(conn, from, FEED_BATCH)?;
                    let mut named: Vec<OrgId> = changes
                        .iter()
                        .filter(|c| c.kind() == Some(ChangeKind::Organization))
                        .map(|c| c.organization_id.clone())
                        .collect();
                    named.sort();
                    named.dedup();
                    let orgs = lookup::org_states(conn, &named)?;
                    Ok(FeedRead {
                        head,
                        changes,
                        orgs,
                    })
                })
                .await;
            let read = match read {
                Ok(read) => read,
                Err(e) => {
                    self.cache.poll_failed();
                    return Err(e);
                }
            };
            let full = i64::try_from(read.changes.len()).unwrap_or(i64::MAX) >= FEED_BATCH;
            let contiguous = read
                .changes
                .first()
                .map_or(read.head <= from, |c| c.seq == from + 1);
            if read.head < from || !contiguous {
                tracing::warn!(
                    from,
                    head = read.head,
                    "the change feed could not be followed from where this instance left it; every cached credential is dropped"
                );
                self.cache.restart(read.head);
            } else {
                let mut changes = Vec::with_capacity(read.changes.len());
                for change in &read.changes {
                    match change.kind() {
                        Some(kind) => changes.push((change.seq, kind, change.subject.as_str())),
                        // Written by a newer version: not knowing what it
                        // makes stale, drop everything.
                        None => self.cache.invalidate(),
                    }
                }
                // Past every row read, even one of an unknown kind.
                self.cache
                    .apply(&changes, &read.orgs, read.changes.last().map(|c| c.seq));
            }
            if !full {
                break;
            }
        }
        self.cache.polled();
        Ok(())
    }

    /// The decision: the request's credential must hold `required` (or merely be
    /// valid when `None`), be used from an address its allowlist accepts, and
    /// be within its rate limits. Only a request that passes counts as the
    /// key's use (and toward its limits).
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        required: Option<Permission>,
        client: Option<IpAddr>,
    ) -> Result<Verified, Refused> {
        let credential = credentials::from_headers(headers).map_err(header_denial);
        // A client with many failures is told to wait, but only for credentials
        // that fail: a key that verifies always passes, so neighbours behind
        // one address cannot shut each other out.
        let throttled = self.failures.too_many(client);
        let refuse = |denial: Denial| {
            if throttled {
                return Denial::TooManyFailures;
            }
            if !matches!(denial, Denial::MissingCredentials | Denial::Unavailable) {
                self.failures.note(client);
            }
            denial
        };
        let entry = match credential {
            Ok(Credential::ApiKey(key)) => {
                let digest = self.digest_key.digest_bytes(key.secret());
                self.lookup(&digest, key.public_id(), throttled).await
            }
            Ok(Credential::AccessToken(token)) => {
                self.lookup_token(token.expose_secret(), throttled).await
            }
            Err(denial) => return Err(refuse(denial).into()),
        };
        let entry = match entry {
            Ok(entry) => entry,
            // A database fault is not the client's failure: never counted.
            Err(Denial::Unavailable) => return Err(Denial::Unavailable.into()),
            Err(denial) => return Err(refuse(denial).into()),
        };
        let usage = self.usage_tag(&entry, client);
        let now = self.clock.now();
        let refused = |denial: Denial| Refused {
            denial,
            usage: usage.clone(),
        };
        decision::decide(&entry.standing, entry.org.access(), required, client, now)
            .map_err(refused)?;
        let rate = match &entry.limits {
            Some((limits, counter)) => Some(
                counter
                    .admit(*limits, now.assume_utc().unix_timestamp())
                    .map_err(|state| refused(Denial::RateLimited(state)))?,
            ),
            None => None,
        };
        self.queue_use(&entry, now, client);
        Ok(Verified {
            grant: Arc::clone(&entry.grant),
            rate,
            usage,
        })
    }

    /// Where a known credential's answers are counted: its key's cell, or
    /// its app's for an access token.
    fn usage_tag(&self, entry: &Entry, client: Option<IpAddr>) -> Option<UsageTag> {
        let usage = self.usage.as_ref()?;
        let cell = entry.usage.get_or_init(|| {
            usage.cell(Owner {
                organization_id: entry.grant.organization_id.clone(),
                app_id: entry.grant.app_id.clone(),
                key_id: entry.grant.key_id().cloned(),
            })
        });
        Some(UsageTag {
            cell: Arc::clone(cell),
            sample_basis_points: entry.org.log_sample_basis_points(),
            client,
        })
    }

    /// Credentials answered from the cache, and read from the database,
    /// since the start.
    pub fn cache_stats(&self) -> (u64, u64) {
        (
            self.cache_hits.load(Ordering::Relaxed),
            self.cache_misses.load(Ordering::Relaxed),
        )
    }

    /// Whether the last poll of the database succeeded.
    pub fn database_up(&self) -> bool {
        !self.cache.db_down()
    }

    /// The usage counts and request log of this instance, when counted.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The app whose Application ID and Secret these are (an OAuth client,
    /// RFC 6749 §2.3.1): remembered once checked, so only a new or a wrong
    /// secret costs an argon2 check, in a sign-in's hashing slot.
    pub async fn authenticate_client(
        &self,
        hasher: &crate::auth::password::PasswordHasher,
        client_id: &str,
        secret: &str,
    ) -> Result<Arc<crate::db::models::App>, ClientDenial> {
        let typed = secret.to_owned();
        let check = |stored: Option<String>| async move {
            let mut slot = hasher
                .sign_in_slot()
                .await
                .map_err(|_| ClientDenial::Busy)?;
            match slot.check(&typed, stored).await {
                Ok(checked) => Ok(checked.matches),
                Err(crate::auth::password::HashError::Busy) => Err(ClientDenial::Busy),
                Err(e) => {
                    tracing::error!(error = %e, "an app secret could not be checked");
                    Ok(false)
                }
            }
        };
        self.clients
            .authenticate(
                &self.db,
                &self.digest_key,
                &self.cache,
                client_id,
                secret,
                check,
            )
            .await
    }

    /// Counts a failed attempt of `client` (a wrong client secret, say)
    /// toward the per-address limit that the API's credentials share.
    pub fn note_failure(&self, client: Option<IpAddr>) {
        self.failures.note(client);
    }

    /// Whether `client` has used up this minute's failed attempts.
    pub fn too_many_failures(&self, client: Option<IpAddr>) -> bool {
        self.failures.too_many(client)
    }

    /// The grant of an access token presented outside the `Authorization`
    /// header (introspection, RFC 7662): the same decision, with no
    /// permission asked and no failure counted against the caller.
    pub async fn check_access_token(&self, token: &str) -> Result<Arc<Grant>, Denial> {
        let entry = self.lookup_token(token, false).await?;
        decision::decide(
            &entry.standing,
            entry.org.access(),
            None,
            None,
            self.clock.now(),
        )?;
        Ok(Arc::clone(&entry.grant))
    }

    /// The verified claims of an access token this server signed, whatever
    /// its sign-in's standing: `Err(Expired)` once past its `exp`.
    pub async fn token_claims(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let now = clock::now().assume_utc().unix_timestamp();
        let set = self.key_set();
        match set.keys.verify(token, &self.audience, now) {
            Err(TokenError::UnknownKey) => {
                let set = self.reload_keys(&set).await;
                set.keys.verify(token, &self.audience, now)
            }
            // A retired key stays published until every token it signed has
            // expired, so a key read earlier never verifies a token it
            // should not: only a new kid calls for a new read.
            other => other,
        }
    }

    fn key_set(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .map(|set| Arc::clone(&set))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    async fn read_keys(db: &Db, public: &str, generation: u64) -> Result<KeySet, DbError> {
        let public = public.to_owned();
        let keys = db
            .run(move |conn| {
                SigningKey::public_keys(conn, clock::now(), &public).map_err(DbError::from)
            })
            .await?;
        Ok(KeySet {
            keys,
            generation,
            loaded: Instant::now(),
        })
    }

    /// Reads the published keys again after a token named an unknown kid:
    /// once for all the requests that found `seen` wanting; at once after a
    /// new key or a rotation (the change feed names them), else at most once a second,
    /// so a flood of forged kids costs no more than that.
    async fn reload_keys(&self, seen: &Arc<KeySet>) -> Arc<KeySet> {
        let _one_at_a_time = self.keys_reload.lock().await;
        let current = self.key_set();
        let generation = self.cache.signing_keys();
        if !Arc::ptr_eq(&current, seen)
            || (current.generation == generation && current.loaded.elapsed() < KEYS_RELOAD_EVERY)
        {
            return current;
        }
        match Self::read_keys(&self.db, &self.public, generation).await {
            Ok(set) => {
                let set = Arc::new(set);
                if let Ok(mut keys) = self.keys.write() {
                    *keys = Arc::clone(&set);
                }
                set
            }
            Err(e) => {
                crate::warn_limited!("signing_keys", error = %e, "the token signing keys could not be read");
                current
            }
        }
    }

    /// The cache entry of an access token: from the cache, or verified and
    /// looked up now. Expired and invalid tokens are refused before the
    /// database is asked.
    async fn lookup_token(&self, token: &str, throttled: bool) -> Result<Arc<Entry>, Denial> {
        let digest = self.digest_key.digest_bytes(token);
        if self.cache.trusted() {
            if let Some(entry) = self.cache.known(&digest) {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(entry);
            }
            if self.cache.known_unknown(&digest) {
                return Err(INVALID_TOKEN);
            }
        }
        let start = self.cache.read_start();
        let claims = match self.token_claims(token).await {
            Ok(claims) => claims,
            Err(TokenError::Expired) => return Err(Denial::TokenExpired),
            Err(TokenError::UnknownKey) => return Err(INVALID_TOKEN),
            Err(TokenError::Invalid) => {
                self.cache.remember_unknown(digest, start);
                return Err(INVALID_TOKEN);
            }
        };
        if self.cache.db_down() {
            return Err(Denial::Unavailable);
        }
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
        let _permit = self.lookup_permit(throttled).await?;
        // Taken again: a change applied while waiting counts against the read.
        let start = self.cache.read_start();
        let facts = lookup::find_token(&self.db, &claims)
            .await
            .map_err(|e| {
                crate::warn_limited!("token_lookup", error = %e, "access token lookup failed");
                Denial::Unavailable
            })?
            // Its app or sign-in is gone (deleted, or long expired).
            .ok_or(Denial::TokenRevoked)?;
        let org = self.cache.org_seen(&facts.org, start);
        let stamp = self.cache.stamp(
            start,
            [
                (ChangeKind::Organization, facts.org.id.as_str()),
                (ChangeKind::App, facts.app.id.as_str()),
                (ChangeKind::User, claims.sub.as_str()),
            ],
        );
        let entry = lookup::token_entry(&claims, &facts, org, stamp).ok_or(INVALID_TOKEN)?;
        let entry = Arc::new(entry);
        self.cache.remember(digest, &entry);
        Ok(entry)
    }

    /// A turn to read the database: a throttled client gets a small share and
    /// no wait, others wait up to two seconds.
    async fn lookup_permit(
        &self,
        throttled: bool,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, Denial> {
        if throttled {
            self.throttled_lookups
                .try_acquire()
                .map_err(|_| Denial::TooManyFailures)
        } else {
            tokio::time::timeout(Duration::from_secs(2), self.lookups.acquire())
                .await
                .map_err(|_| Denial::Unavailable)?
                .map_err(|_| Denial::Unavailable)
        }
    }

    /// The cache entry of a key, from the cache or the database. A throttled
    /// client's uncached keys are looked up only a few at a time.
    async fn lookup(
        &self,
        digest: &[u8; 32],
        public_id: &str,
        throttled: bool,
    ) -> Result<Arc<Entry>, Denial> {
        if self.cache.trusted() {
            if let Some(entry) = self.cache.known(digest) {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(entry);
            }
            if self.cache.known_unknown(digest) {
                return Err(Denial::InvalidCredentials("The API key is not valid."));
            }
        }
        if self.cache.db_down() {
            return Err(Denial::Unavailable);
        }
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
        // A flood of unknown keys from one client must not take every lookup.
        let _permit = self.lookup_permit(throttled).await?;
        let start = self.cache.read_start();
        let found = lookup::find_key(&self.db, public_id, digest)
            .await
            .map_err(|e| {
                crate::warn_limited!("key_lookup", error = %e, "key lookup failed");
                Denial::Unavailable
            })?;
        let Some((key, app, org)) = found else {
            self.cache.remember_unknown(*digest, start);
            return Err(Denial::InvalidCredentials("The API key is not valid."));
        };
        let flags = self.cache.org_seen(&org, start);
        let stamp = self.cache.stamp(
            start,
            [
                (ChangeKind::Organization, org.id.as_str()),
                (ChangeKind::App, app.id.as_str()),
                (ChangeKind::Key, key.id.as_str()),
            ],
        );
        let entry = Arc::new(lookup::entry(
            &key,
            &app,
            flags,
            stamp,
            &self.limiter,
            org.rate_ceiling,
        ));
        // A change committed while we read must not leave a stale entry behind.
        self.cache.remember(*digest, &entry);
        Ok(entry)
    }

    /// Queues the key's use for `last_used_at` and its address list: at most
    /// once a second per key and address, so a key used many times a second
    /// from one place takes the lock once a second.
    fn queue_use(&self, entry: &Entry, now: Timestamp, client: Option<IpAddr>) {
        let Some(key_id) = entry.grant.key_id() else {
            return;
        };
        let second = now.assume_utc().unix_timestamp();
        let address = client.map_or(0, |ip| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            ip.to_canonical().hash(&mut h);
            h.finish() | 1
        });
        let same_second = entry.queued_use.swap(second, Ordering::Relaxed) == second;
        let same_address = entry.queued_address.swap(address, Ordering::Relaxed) == address;
        if same_second && same_address {
            return;
        }
        let first = entry.first_use_pending.swap(false, Ordering::Relaxed);
        if let Ok(mut usage) = self.uses.lock() {
            let record = usage.entry(key_id.clone()).or_default();
            record.last = Some(now);
            if first {
                record.first_of_successor.get_or_insert(now);
            }
            if let Some(ip) = client.map(|ip| ip.to_canonical()) {
                let addresses = &mut record.addresses;
                if let Some(seen) = addresses.iter_mut().find(|(a, _)| *a == ip) {
                    seen.1 = now;
                } else if addresses.len() < ADDRESSES_PER_FLUSH {
                    addresses.push((ip, now));
                } else if let Some(oldest) = addresses.iter_mut().min_by_key(|(_, at)| *at) {
                    // Keep the latest: replace the oldest.
                    *oldest = (ip, now);
                }
            }
        }
    }

    /// Writes the batched uses: each key's `last_used_at`, its latest
    /// addresses, and the first uses that start a rolled key's grace; one
    /// transaction per flush, never a write per request. When a grace
    /// started, the credential caches are refreshed (the old key's deadline
    /// moved).
    pub async fn flush_usage(&self) -> Result<usize, DbError> {
        let counted = self.flush_counts().await;
        let n = self.flush_uses().await?;
        counted.map(|_| n)
    }

    /// Adds the requests counted since the last flush to the usage buckets
    /// and writes the request log's queued rows, in one transaction; on a
    /// failure both are kept for the next flush.
    async fn flush_counts(&self) -> Result<(), DbError> {
        let Some(usage) = &self.usage else {
            return Ok(());
        };
        let dropped = usage.newly_dropped();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "request log rows dropped: more were refused than the log's queue holds between flushes"
            );
        }
        let (counted, logs) = usage.drain();
        if counted.is_empty() && logs.is_empty() {
            return Ok(());
        }
        let rows: Vec<RequestLog> = logs
            .iter()
            .map(|l| RequestLog {
                id: uuid::Uuid::now_v7().to_string(),
                organization_id: l.owner.organization_id.clone(),
                at: l.at,
                app_id: l.owner.app_id.clone(),
                key_id: l.owner.key_id.clone(),
                credential: if l.owner.key_id.is_some() {
                    "api_key"
                } else {
                    "access_token"
                }
                .to_owned(),
                method: l.method.clone(),
                route: l.route.clone(),
                status: i32::from(l.status),
                outcome: l.outcome.as_str().to_owned(),
                error_code: l.error_code.clone(),
                client: l.client.map(|ip| ip.to_string()),
                latency_us: l.latency_us,
                request_id: l.request_id.clone(),
            })
            .collect();
        let counted = Arc::new(counted);
        let taken = Arc::clone(&counted);
        let result = self
            .db
            .run(move |conn| {
                // Borrowed from what was taken out, which stays whole to be
                // put back if the flush fails.
                let minutes: Vec<MinuteCount<'_>> = taken
                    .iter()
                    .map(|c| MinuteCount {
                        organization_id: &c.owner.organization_id,
                        app_id: &c.owner.app_id,
                        key_id: c
                            .owner
                            .key_id
                            .as_ref()
                            .map_or(usage_model::TOKENS, KeyId::as_str),
                        minute: c.minute,
                        outcome: c.outcome.as_str(),
                        count: i64::try_from(c.count).unwrap_or(i64::MAX),
                    })
                    .collect();
                crate::db::write_tx(conn, |conn| {
                    crate::services::usage::record(conn, &minutes, &rows)
                })
                .map_err(|e| match e {
                    crate::services::OpError::Db(db) => db,
                    other => DbError::Unavailable(other.to_string()),
                })
            })
            .await;
        if result.is_err() {
            let counted = Arc::try_unwrap(counted).unwrap_or_else(|shared| (*shared).clone());
            usage.restore(counted, logs);
        }
        result
    }

    async fn flush_uses(&self) -> Result<usize, DbError> {
        let batch: Vec<(KeyId, KeyUse)> = match self.uses.lock() {
            Ok(mut usage) => usage.drain().collect(),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        let uses: Vec<(KeyId, Timestamp)> = batch
            .iter()
            .filter_map(|(id, u)| u.last.map(|t| (id.clone(), t)))
            .collect();
        let addresses: Vec<(KeyId, Vec<(String, Timestamp)>)> = batch
            .iter()
            .filter(|(_, u)| !u.addresses.is_empty())
            .map(|(id, u)| {
                (
                    id.clone(),
                    u.addresses
                        .iter()
                        .map(|(ip, t)| (ip.to_string(), *t))
                        .collect(),
                )
            })
            .collect();
        let first_uses: Vec<(KeyId, Timestamp)> = batch
            .iter()
            .filter_map(|(id, u)| u.first_of_successor.map(|t| (id.clone(), t)))
            .collect();
        let result = self
            .db
            .run(move |conn| {
                crate::db::write_tx(conn, |conn| {
                    crate::services::keys::record_uses(conn, &uses, &addresses, &first_uses)
                })
                .map_err(|e| match e {
                    crate::services::OpError::Db(db) => db,
                    other => DbError::Unavailable(other.to_string()),
                })
            })
            .await;
        match result {
            Ok(started) => {
                if started {
                    self.refresh().await;
                }
                Ok(n)
            }
            Err(e) => {
                if let Ok(mut usage) = self.uses.lock() {
                    // Keep them for the next flush, merged with later uses.
                    for (id, old) in batch {
                        let record = usage.entry(id).or_default();
                        record.last = record.last.max(old.last);
                        if let Some(t) = old.first_of_successor {
                            let first = record.first_of_successor.get_or_insert(t);
                            *first = (*first).min(t);
                        }
                        for (ip, at) in old.addresses {
                            if record.addresses.len() < ADDRESSES_PER_FLUSH
                                && !record.addresses.iter().any(|(a, _)| *a == ip)
                            {
                                record.addresses.push((ip, at));
                            }
                        }
                    }
                }
                Err(e)
            }
        }
    }

    /// Shares this instance's rate-limit counts with the others: writes the
    /// counts that moved and reads the others' (only while a limited key is
    /// in use); forgets old windows now and then.
    pub async fn sync_rate_limits(&self, prune: bool) -> Result<(), DbError> {
        let unix = self.clock.now().assume_utc().unix_timestamp();
        if !self.limiter.is_busy() && !prune {
            return Ok(());
        }
        // Counts are written only while another instance is there to read
        // them (a lone instance writes its presence once a second, nothing
        // more); every instance that counts says it is there.
        let mut rows = self.limiter.to_publish(unix);
        rows.extend(self.limiter.presence(unix));
        let instance = self.limiter.instance().to_owned();
        let keys = self.limiter.keys();
        let others = self
            .db
            .run(move |conn| {
                use crate::db::models::rate_count::RateCount;
                if !rows.is_empty() || prune {
                    crate::db::write_tx(conn, |conn| {
                        RateCount::publish(conn, &rows)?;
                        if prune {
                            RateCount::prune(conn, unix - 120)?;
                        }
                        Ok::<_, diesel::result::Error>(())
                    })?;
                }
                RateCount::of_others(conn, &instance, unix, keys.as_deref()).map_err(DbError::from)
            })
            .await?;
        self.limiter.take_others(&others, unix);
        Ok(())
    }

    /// The background work, until aborted: reading the change feed, sharing
    /// rate-limit counts, and flushing usage, each on its own schedule so a
    /// slow one never holds up another (a flush of a busy minute's usage
    /// can take longer than the cache's freshness bound; the feed's poll
    /// must not wait for it).
    pub async fn run_background(self: Arc<Self>) {
        let follow_feed = async {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.poll().await {
                    crate::warn_limited!("credentials_poll", error = %e, "credentials poll failed; uncached keys get 503 until it recovers");
                }
            }
        };
        let share_counts = async {
            let mut tick = tokio::time::interval(limits::SYNC_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_prune = Instant::now();
            loop {
                tick.tick().await;
                let prune = last_prune.elapsed() >= Duration::from_secs(30);
                if prune {
                    last_prune = Instant::now();
                }
                if let Err(e) = self.sync_rate_limits(prune).await {
                    crate::warn_limited!("rate_sync", error = %e, "rate-limit counts could not be shared; each instance counts alone until it recovers");
                }
            }
        };
        let flush = async {
            let mut tick = tokio::time::interval(USAGE_FLUSH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is at once: skip it.
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = self.flush_usage().await {
                    crate::warn_limited!("key_usage", error = %e, "could not record key usage");
                }
            }
        };
        tokio::join!(follow_feed, share_counts, flush);
    }
}
