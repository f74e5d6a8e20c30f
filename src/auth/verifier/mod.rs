//! The one decision for every external request: does this credential allow this
//! permission now?
//!
//! Its parts: [`cache`] (verified keys by digest, and how far the cache may be
//! trusted), [`lookup`] (the database read when a key is not cached),
//! [`decision`] (the rules, a pure function of the entry and the time) and
//! [`failures`] (clients sending bad credentials are told to wait).
//!
//! Speed without staleness: every change that can affect the answer bumps its
//! organization's `credentials_version` in the same transaction; the instance
//! that made it drops its cache at once, and every instance polls the versions
//! four times a second and drops its cache when one moves. If the poll has not
//! succeeded for a second, the cache is not trusted; if the database cannot be
//! reached, an uncached key gets 503, never a pass and never a 401.
//!
//! Failed lookups are bounded: checksum failures never reach the database,
//! unknown digests are remembered, concurrent lookups are capped, and a client
//! with many failures is told to wait (429).

pub mod cache;
pub mod decision;
pub mod failures;
pub mod grant;
pub mod lookup;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderMap;
use tokio::sync::Semaphore;

use self::cache::{Cache, Entry};
use self::failures::Failures;
pub use self::grant::{Denial, Grant, Principal};
use super::credentials::{self, Credential, CredentialError};
use crate::clock::{self, Timestamp};
use crate::db::models::{ApiKey, Organization};
use crate::db::{Db, DbError};
use crate::domain::KeyId;
use crate::domain::scopes::Permission;
use crate::secrets::DigestKey;

/// How often each instance polls the credentials versions.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often `last_used_at` is written.
pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// Cache lookups of the database running at once.
const CONCURRENT_LOOKUPS: usize = 16;

/// Verifies external credentials; one per server, shared by its workers.
pub struct Verifier {
    db: Db,
    digest_key: DigestKey,
    cache: Cache,
    failures: Failures,
    lookups: Semaphore,
    throttled_lookups: Semaphore,
    usage: Mutex<HashMap<KeyId, Timestamp>>,
}

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

impl Verifier {
    /// A verifier with every organization's state read once now.
    pub async fn new(db: Db, digest_key: DigestKey) -> Result<Self, DbError> {
        let verifier = Self {
            db,
            digest_key,
            cache: Cache::new(100_000),
            failures: Failures::new(100_000),
            lookups: Semaphore::new(CONCURRENT_LOOKUPS),
            throttled_lookups: Semaphore::new(2),
            usage: Mutex::new(HashMap::new()),
        };
        verifier.poll().await?;
        Ok(verifier)
    }

    /// Drops every cached answer (after a change made by this instance).
    pub fn invalidate(&self) {
        self.cache.invalidate();
    }

    /// After a change made by this instance: drops the cache and reads the new
    /// state (the feature switches among it) at once, not at the next poll.
    pub async fn refresh(&self) {
        self.invalidate();
        if let Err(e) = self.poll().await {
            crate::warn_limited!("credentials_refresh", error = %e, "credentials refresh failed");
        }
    }

    /// Reads every organization's credentials version; drops the cache if one moved.
    pub async fn poll(&self) -> Result<(), DbError> {
        match self
            .db
            .run(|conn| Organization::credentials_states(conn).map_err(DbError::from))
            .await
        {
            Ok(states) => {
                self.cache.polled(&states);
                Ok(())
            }
            Err(e) => {
                self.cache.poll_failed();
                Err(e)
            }
        }
    }

    /// The decision: the request's credential must hold `required` (or merely be
    /// valid when `None`).
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        required: Option<Permission>,
        client: Option<IpAddr>,
    ) -> Result<Arc<Grant>, Denial> {
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
        let key = match credential {
            Ok(Credential::ApiKey(key)) => key,
            // No access token has been issued by this version: none can be valid.
            Ok(Credential::AccessToken(_)) => {
                return Err(refuse(Denial::InvalidCredentials(
                    "The access token is not valid.",
                )));
            }
            Err(denial) => return Err(refuse(denial)),
        };
        let digest = self.digest_key.digest_bytes(key.secret());
        let entry = match self.lookup(&digest, key.public_id(), throttled).await {
            Ok(entry) => entry,
            // A database fault is not the client's failure: never counted.
            Err(Denial::Unavailable) => return Err(Denial::Unavailable),
            Err(denial) => return Err(refuse(denial)),
        };
        let now = clock::now();
        decision::decide(
            &entry.standing,
            entry.org.external_connectivity(),
            required,
            now,
        )?;
        self.queue_use(&entry, now);
        Ok(Arc::clone(&entry.grant))
    }

    /// The cache entry of a key, from the cache or the database. A throttled
    /// client's uncached keys are looked up only a few at a time.
    async fn lookup(
        &self,
        digest: &[u8; 32],
        public_id: &str,
        throttled: bool,
    ) -> Result<Arc<Entry>, Denial> {
        let generation = self.cache.generation();
        if self.cache.trusted() {
            if let Some(entry) = self.cache.known(digest, generation) {
                return Ok(entry);
            }
            if self.cache.known_unknown(digest, generation) {
                return Err(Denial::InvalidCredentials("The API key is not valid."));
            }
        }
        if self.cache.db_down() {
            return Err(Denial::Unavailable);
        }
        let _permit = if throttled {
            // A flood of unknown keys from one client must not take every
            // lookup: it gets a small share, and no wait.
            self.throttled_lookups
                .try_acquire()
                .map_err(|_| Denial::TooManyFailures)?
        } else {
            tokio::time::timeout(Duration::from_secs(2), self.lookups.acquire())
                .await
                .map_err(|_| Denial::Unavailable)?
                .map_err(|_| Denial::Unavailable)?
        };
        let found = lookup::find_key(&self.db, public_id, digest)
            .await
            .map_err(|e| {
                crate::warn_limited!("key_lookup", error = %e, "key lookup failed");
                Denial::Unavailable
            })?;
        let Some((key, app)) = found else {
            self.cache.remember_unknown(*digest, generation);
            return Err(Denial::InvalidCredentials("The API key is not valid."));
        };
        let org = self.cache.org(&key.organization_id);
        let entry = Arc::new(lookup::entry(&key, &app, org, generation));
        // A change committed while we read must not leave a stale entry behind.
        self.cache.remember(*digest, &entry);
        Ok(entry)
    }

    /// Queues the key's use for `last_used_at`, at most once a second per key.
    fn queue_use(&self, entry: &Entry, now: Timestamp) {
        let Some(key_id) = entry.grant.key_id() else {
            return;
        };
        let second = now.assume_utc().unix_timestamp();
        if entry.queued_use.swap(second, Ordering::Relaxed) != second
            && let Ok(mut usage) = self.usage.lock()
        {
            usage.insert(key_id.clone(), now);
        }
    }

    /// Writes the batched `last_used_at` times: one statement per key used since
    /// the last flush, never a write per request.
    pub async fn flush_usage(&self) -> Result<usize, DbError> {
        let batch: Vec<(KeyId, Timestamp)> = match self.usage.lock() {
            Ok(mut usage) => usage.drain().collect(),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        let retry = batch.clone();
        let result = self
            .db
            .run(move |conn| {
                crate::db::write_tx(conn, |conn| ApiKey::record_uses(conn, &batch))
                    .map_err(DbError::from)
            })
            .await;
        if result.is_err()
            && let Ok(mut usage) = self.usage.lock()
        {
            // Keep them for the next flush, unless a later use replaced them.
            for (id, at) in retry {
                usage.entry(id).or_insert(at);
            }
        }
        result.map(|()| n)
    }

    /// The background loop: poll the versions, flush usage. Runs until aborted.
    pub async fn run_background(self: Arc<Self>) {
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_flush = Instant::now();
        loop {
            poll.tick().await;
            if let Err(e) = self.poll().await {
                crate::warn_limited!("credentials_poll", error = %e, "credentials poll failed; uncached keys get 503 until it recovers");
            }
            if last_flush.elapsed() >= USAGE_FLUSH_INTERVAL {
                last_flush = Instant::now();
                if let Err(e) = self.flush_usage().await {
                    crate::warn_limited!("key_usage", error = %e, "could not record key usage");
                }
            }
        }
    }
}
