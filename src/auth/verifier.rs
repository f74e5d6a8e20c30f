//! The one decision for every external request: does this credential allow this
//! permission now?
//!
//! A key passes when it exists, is active, is not expired, its app is active, the
//! organization's `external_connectivity` feature is on, and it holds the route's
//! permission. The checks run in that order, so the answer names the first failing
//! reason.
//!
//! Speed without staleness: verified keys are kept in memory, keyed by the keyed
//! digest of their secret (never the plaintext). Every change that can affect the
//! answer bumps the organization's `credentials_version` in the same transaction;
//! the instance that made it drops its cache at once, and every instance polls the
//! version four times a second and drops its cache when it moves. If the poll has
//! not succeeded for a second, the cache is not trusted; if the database cannot be
//! reached, an uncached key gets 503, never a pass and never a 401.
//!
//! Failed lookups are bounded: checksum failures never reach the database, unknown
//! digests are remembered, concurrent lookups are capped, and a client with many
//! failures is told to wait (429).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderMap, HeaderValue};
use diesel::prelude::*;
use tokio::sync::Semaphore;

use super::credentials::{self, Credential, CredentialError};
use crate::clock::{self, Timestamp};
use crate::db::models::{ApiKey, App, AppStatus, Organization};
use crate::db::schema::api_keys;
use crate::db::{Db, DbError};
use crate::domain::SourceApp;
use crate::domain::scopes::{Permission, PermissionSet};
use crate::secrets::DigestKey;

/// How often each instance polls the credentials version.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How old the last successful poll may be for the cache to be trusted.
const FRESHNESS: Duration = Duration::from_secs(1);
/// How often `last_used_at` is written.
pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// Failed attempts one client may make per minute before being told to wait.
const FAILURES_PER_MINUTE: u32 = 60;
/// Cache lookups of the database running at once.
const CONCURRENT_LOOKUPS: usize = 16;

/// Why a request is refused. Each has a stable code for the JSON:API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No credential (401).
    MissingCredentials,
    /// A credential that is malformed, unknown or wrong (401).
    InvalidCredentials(&'static str),
    /// The key is switched off (401).
    KeyInactive,
    /// The key is past its expiry (401).
    KeyExpired,
    /// The key's app is inactive (401).
    AppInactive,
    /// The organization's external connectivity is off (402).
    PaymentRequired,
    /// The key lacks the route's permission (403).
    InsufficientPermission(Permission),
    /// Too many failed attempts from this client (429).
    TooManyFailures,
    /// The database cannot be reached to check an uncached key (503).
    Unavailable,
}

/// What a passing credential is allowed, for the route to act on. Shared with
/// the cache: a request clones a pointer, not the grant.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The organization.
    pub organization_id: String,
    /// The app.
    pub app_id: String,
    /// The key.
    pub key_id: Arc<str>,
    /// The key's permissions.
    pub permissions: PermissionSet,
    /// The auth check's answer headers, made once per cached key: app id, key id,
    /// permissions (space-separated) and Source App.
    pub headers: [HeaderValue; 4],
    /// The app's Source App, which marks what it books.
    pub source_app: SourceApp,
}

/// Failed attempts of one client in the current minute.
#[derive(Debug, Default)]
struct FailureWindow {
    minute: AtomicI64,
    count: AtomicU32,
}

/// Ids and permission names are visible ASCII, so this never falls back.
fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Debug)]
struct Entry {
    generation: u64,
    grant: Arc<Grant>,
    active: bool,
    expires_at: Option<Timestamp>,
    app_active: bool,
    /// The second of the last use queued for `last_used_at`: a key used many times
    /// a second is queued once a second, not on every request.
    queued_use: AtomicI64,
}

/// Verifies external credentials; one per server, shared by its workers.
pub struct Verifier {
    db: Db,
    organization_id: String,
    digest_key: DigestKey,
    positive: quick_cache::sync::Cache<[u8; 32], Arc<Entry>>,
    negative: quick_cache::sync::Cache<[u8; 32], u64>,
    failures: quick_cache::sync::Cache<IpAddr, Arc<FailureWindow>>,
    any_failures: AtomicBool,
    generation: AtomicU64,
    seen_version: AtomicI64,
    external_connectivity: AtomicBool,
    started: Instant,
    last_poll_ok_ms: AtomicI64,
    db_down: AtomicBool,
    lookups: Semaphore,
    usage: Mutex<HashMap<Arc<str>, Timestamp>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("cached", &self.positive.len())
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for the organization, with the state read once now.
    pub async fn new(
        db: Db,
        organization_id: String,
        digest_key: DigestKey,
    ) -> Result<Self, DbError> {
        let verifier = Self {
            db,
            organization_id,
            digest_key,
            positive: quick_cache::sync::Cache::new(100_000),
            negative: quick_cache::sync::Cache::new(100_000),
            failures: quick_cache::sync::Cache::new(100_000),
            any_failures: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            seen_version: AtomicI64::new(-1),
            external_connectivity: AtomicBool::new(false),
            started: Instant::now(),
            last_poll_ok_ms: AtomicI64::new(i64::MIN / 2),
            db_down: AtomicBool::new(false),
            lookups: Semaphore::new(CONCURRENT_LOOKUPS),
            usage: Mutex::new(HashMap::new()),
        };
        verifier.poll().await?;
        Ok(verifier)
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// Drops every cached answer (after a change made by this instance).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// After a change made by this instance: drops the cache and reads the new
    /// state (the feature switch among it) at once, not at the next poll.
    pub async fn refresh(&self) {
        self.invalidate();
        if let Err(e) = self.poll().await {
            tracing::warn!(error = %e, "credentials refresh failed");
        }
    }

    /// Reads the credentials version; drops the cache if it moved.
    pub async fn poll(&self) -> Result<(), DbError> {
        let org = self.organization_id.clone();
        match self
            .db
            .run(move |conn| Organization::credentials_state(conn, &org).map_err(DbError::from))
            .await
        {
            Ok((version, connectivity)) => {
                self.external_connectivity
                    .store(connectivity, Ordering::SeqCst);
                if self.seen_version.swap(version, Ordering::SeqCst) != version {
                    self.invalidate();
                }
                self.last_poll_ok_ms
                    .store(self.elapsed_ms(), Ordering::SeqCst);
                self.db_down.store(false, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                self.db_down.store(true, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    fn cache_trusted(&self) -> bool {
        let age = self.elapsed_ms() - self.last_poll_ok_ms.load(Ordering::SeqCst);
        age <= i64::try_from(FRESHNESS.as_millis()).unwrap_or(1000)
    }

    fn minute(&self) -> i64 {
        self.elapsed_ms() / 60_000
    }

    fn note_failure(&self, client: Option<IpAddr>) {
        let Some(ip) = client else { return };
        let window = match self.failures.get(&ip) {
            Some(window) => window,
            None => {
                let window = Arc::new(FailureWindow::default());
                self.failures.insert(ip, Arc::clone(&window));
                window
            }
        };
        let minute = self.minute();
        if window.minute.swap(minute, Ordering::Relaxed) != minute {
            window.count.store(0, Ordering::Relaxed);
        }
        window.count.fetch_add(1, Ordering::Relaxed);
        self.any_failures.store(true, Ordering::Relaxed);
    }

    fn too_many_failures(&self, client: Option<IpAddr>) -> bool {
        // The common case, no failure ever: no lookup at all.
        if !self.any_failures.load(Ordering::Relaxed) {
            return false;
        }
        client
            .and_then(|ip| self.failures.get(&ip))
            .is_some_and(|w| {
                w.minute.load(Ordering::Relaxed) == self.minute()
                    && w.count.load(Ordering::Relaxed) >= FAILURES_PER_MINUTE
            })
    }

    /// The decision: the request's credential must hold `required` (or merely be
    /// valid when `None`).
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        required: Option<Permission>,
        client: Option<IpAddr>,
    ) -> Result<Arc<Grant>, Denial> {
        let credential = credentials::from_headers(headers).map_err(|e| match e {
            CredentialError::Missing => Denial::MissingCredentials,
            CredentialError::Duplicate => {
                Denial::InvalidCredentials("Send exactly one Authorization header.")
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
        });
        if self.too_many_failures(client) {
            return Err(Denial::TooManyFailures);
        }
        let key = match credential {
            Ok(Credential::ApiKey(key)) => key,
            // No access token has been issued by this version: none can be valid.
            Ok(Credential::AccessToken(_)) => {
                self.note_failure(client);
                return Err(Denial::InvalidCredentials("The access token is not valid."));
            }
            Err(denial) => {
                if denial != Denial::MissingCredentials {
                    self.note_failure(client);
                }
                return Err(denial);
            }
        };
        let digest = self.digest_key.digest_bytes(key.secret());
        let entry = self.lookup(&digest, key.public_id(), client).await?;
        self.decide(&entry, required, clock::now())
    }

    async fn lookup(
        &self,
        digest: &[u8; 32],
        public_id: &str,
        client: Option<IpAddr>,
    ) -> Result<Arc<Entry>, Denial> {
        let generation = self.generation.load(Ordering::SeqCst);
        if self.cache_trusted() {
            if let Some(entry) = self
                .positive
                .get(digest)
                .filter(|e| e.generation == generation)
            {
                return Ok(entry);
            }
            if self.negative.get(digest) == Some(generation) {
                self.note_failure(client);
                return Err(Denial::InvalidCredentials("The API key is not valid."));
            }
        }
        if self.db_down.load(Ordering::SeqCst) {
            return Err(Denial::Unavailable);
        }
        let _permit = tokio::time::timeout(Duration::from_secs(2), self.lookups.acquire())
            .await
            .map_err(|_| Denial::Unavailable)?
            .map_err(|_| Denial::Unavailable)?;
        let (public_id, org) = (public_id.to_owned(), self.organization_id.clone());
        let found = self
            .db
            .run(move |conn| -> Result<Option<(ApiKey, App)>, DbError> {
                let Some(key) = ApiKey::find_by_public_id(conn, &public_id)? else {
                    return Ok(None);
                };
                Ok(App::find(conn, &org, &key.app_id)?.map(|app| (key, app)))
            })
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "key lookup failed");
                Denial::Unavailable
            })?;
        let verified = found.filter(|(key, _)| {
            crate::secrets::constant_time_eq(
                crate::secrets::hex(digest).as_bytes(),
                key.secret_digest.as_bytes(),
            )
        });
        let Some((key, app)) = verified else {
            if self.generation.load(Ordering::SeqCst) == generation {
                self.negative.insert(*digest, generation);
            }
            self.note_failure(client);
            return Err(Denial::InvalidCredentials("The API key is not valid."));
        };
        let entry = Arc::new(Entry {
            generation,
            grant: Arc::new(Grant {
                organization_id: key.organization_id.clone(),
                app_id: app.id.clone(),
                key_id: Arc::from(key.id.as_str()),
                headers: [
                    header_value(&app.id),
                    header_value(&key.id),
                    header_value(&key.permission_set().to_stored()),
                    HeaderValue::from_static(app.source().as_str()),
                ],
                permissions: key.permission_set(),
                source_app: app.source(),
            }),
            active: key.active,
            expires_at: key.expires_at,
            app_active: app.status() == AppStatus::Active,
            queued_use: AtomicI64::new(i64::MIN),
        });
        // A change committed while we read must not leave a stale entry behind.
        if self.generation.load(Ordering::SeqCst) == generation {
            self.positive.insert(*digest, Arc::clone(&entry));
        }
        Ok(entry)
    }

    fn decide(
        &self,
        entry: &Entry,
        required: Option<Permission>,
        now: Timestamp,
    ) -> Result<Arc<Grant>, Denial> {
        if !entry.active {
            return Err(Denial::KeyInactive);
        }
        if entry.expires_at.is_some_and(|t| t <= now) {
            return Err(Denial::KeyExpired);
        }
        if !entry.app_active {
            return Err(Denial::AppInactive);
        }
        if !self.external_connectivity.load(Ordering::SeqCst) {
            return Err(Denial::PaymentRequired);
        }
        if let Some(p) = required
            && !entry.grant.permissions.contains(p)
        {
            return Err(Denial::InsufficientPermission(p));
        }
        let second = now.assume_utc().unix_timestamp();
        if entry.queued_use.swap(second, Ordering::Relaxed) != second
            && let Ok(mut usage) = self.usage.lock()
        {
            usage.insert(Arc::clone(&entry.grant.key_id), now);
        }
        Ok(Arc::clone(&entry.grant))
    }

    /// Writes the batched `last_used_at` times: one statement per key used since
    /// the last flush, never a write per request.
    pub async fn flush_usage(&self) -> Result<usize, DbError> {
        let batch: Vec<(Arc<str>, Timestamp)> = match self.usage.lock() {
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
                crate::db::write_tx(conn, |conn| {
                    for (id, at) in &batch {
                        diesel::update(
                            api_keys::table.find(id.as_ref()).filter(
                                api_keys::last_used_at
                                    .is_null()
                                    .or(api_keys::last_used_at.lt(*at)),
                            ),
                        )
                        .set(api_keys::last_used_at.eq(Some(*at)))
                        .execute(conn)?;
                    }
                    Ok::<_, DbError>(())
                })
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

    /// The background loop: poll the version, flush usage. Runs until aborted.
    pub async fn run_background(self: Arc<Self>) {
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_flush = Instant::now();
        loop {
            poll.tick().await;
            if let Err(e) = self.poll().await {
                tracing::warn!(error = %e, "credentials poll failed; uncached keys get 503 until it recovers");
            }
            if last_flush.elapsed() >= USAGE_FLUSH_INTERVAL {
                last_flush = Instant::now();
                if let Err(e) = self.flush_usage().await {
                    tracing::warn!(error = %e, "could not record key usage");
                }
            }
        }
    }
}
