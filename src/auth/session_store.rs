//! actix-session's storage: signed-in sessions in the database, so they survive
//! restarts, work across instances, and sign-out really ends them; anonymous
//! visitors' sessions (a CSRF token, a message) in the cookie itself, so a
//! visitor who never signs in costs no row.
//!
//! A signed-in session's cookie holds a random 256-bit key; the table holds its
//! SHA-256, so a leaked copy of the table does not yield working cookies. Idle
//! expiry is the store's TTL; the absolute limit counts from the row's creation
//! and is checked on every load. A row that is gone stays gone: an update of a
//! deleted session (a sign-out that raced the request) never writes it again.
//!
//! An anonymous session's key is `a.` followed by its state and expiry, encoded;
//! the middleware signs the cookie, so it cannot be forged, and it lapses at its
//! expiry like a row would.

use std::collections::HashMap;
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::{self, Timestamp};
use crate::db::models::session as rows;
use crate::db::{Db, DbError};
use crate::domain::{AdminId, OperatorId};
use crate::secrets::{random_token, sha256_hex};

/// The key under which the signed-in admin's id is kept in the session.
pub const ADMIN_ID_KEY: &str = "admin_id";
/// The key under which the signed-in operator's id is kept in the session.
pub const OPERATOR_ID_KEY: &str = "operator_id";

/// The keys under which the client's address and User-Agent at sign-in are
/// kept in the session (copied to the row's columns when it is made).
pub const CLIENT_IP_KEY: &str = "client_ip";
/// See [`CLIENT_IP_KEY`].
pub const CLIENT_UA_KEY: &str = "client_ua";

/// The prefix of an anonymous session's key.
const ANONYMOUS: &str = "a.";
/// The longest anonymous key kept in the cookie; a larger state goes to the database.
const MAX_ANONYMOUS_KEY: usize = 3000;
/// An idle expiry moves in the database only when it would move by more than this.
const EXTEND_STEP: time::Duration = time::Duration::minutes(1);

/// Sessions in the database, and anonymous ones in their cookie.
#[derive(Clone)]
pub struct DbSessionStore {
    db: Db,
    absolute: Duration,
    /// The idle expiry each recently loaded row had: a request that would move
    /// it by less than [`EXTEND_STEP`] writes nothing (a read-only page then
    /// never waits for SQLite's write lock).
    loaded_expiry: std::sync::Arc<quick_cache::sync::Cache<String, Timestamp>>,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSessionStore")
            .field("absolute", &self.absolute)
            .finish_non_exhaustive()
    }
}

impl DbSessionStore {
    /// A store that ends every session `absolute` after it began.
    pub fn new(db: Db, absolute: Duration) -> Self {
        Self {
            db,
            absolute,
            loaded_expiry: std::sync::Arc::new(quick_cache::sync::Cache::new(10_000)),
        }
    }

    fn born_after(&self, now: Timestamp) -> Timestamp {
        now - self.absolute
    }
}

/// A session's values, each JSON-encoded.
pub type State = HashMap<String, String>;

fn expiry(now: Timestamp, ttl: &CookieDuration) -> Timestamp {
    now + time::Duration::seconds(ttl.whole_seconds())
}

/// Who the state is signed in as, if anyone (values are JSON-encoded).
fn signed_in(state: &State) -> rows::SignedIn {
    rows::SignedIn {
        admin: state
            .get(ADMIN_ID_KEY)
            .and_then(|v| serde_json::from_str::<AdminId>(v).ok()),
        operator: state
            .get(OPERATOR_ID_KEY)
            .and_then(|v| serde_json::from_str::<OperatorId>(v).ok()),
    }
}

/// The client a state was signed in from.
fn client(state: &State) -> rows::Client {
    let read = |key: &str| {
        state
            .get(key)
            .and_then(|v| serde_json::from_str::<String>(v).ok())
    };
    rows::Client {
        ip: read(CLIENT_IP_KEY),
        user_agent: read(CLIENT_UA_KEY),
    }
}

/// The row id of a session's key: what the admin's list of sessions names.
pub fn session_row_id(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

fn key_id(key: &SessionKey) -> String {
    sha256_hex(key.as_ref().as_bytes())
}

/// An anonymous session as its key: `a.` + base64url of `{"exp": …, "s": state}`.
pub fn encode_anonymous(state: &State, expires_at: Timestamp) -> Option<String> {
    let body = serde_json::json!({
        "exp": expires_at.assume_utc().unix_timestamp(),
        "s": state,
    });
    let key = format!("{ANONYMOUS}{}", URL_SAFE_NO_PAD.encode(body.to_string()));
    (key.len() <= MAX_ANONYMOUS_KEY).then_some(key)
}

/// The state of an anonymous session's key, unless it is malformed or lapsed at
/// `now`. The cookie's signature was checked before: this only reads it.
pub fn decode_anonymous(key: &str, now: Timestamp) -> Option<State> {
    let encoded = key.strip_prefix(ANONYMOUS)?;
    if encoded.len() > MAX_ANONYMOUS_KEY {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    #[derive(serde::Deserialize)]
    struct Body {
        exp: i64,
        s: State,
    }
    let body: Body = serde_json::from_slice(&bytes).ok()?;
    (body.exp > now.assume_utc().unix_timestamp()).then_some(body.s)
}

impl DbSessionStore {
    /// Keeps `state` as a new session: a row when someone is signed in, the
    /// cookie otherwise.
    async fn keep_new(
        &self,
        state: State,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, anyhow::Error> {
        let now = clock::now();
        let expires = expiry(now, ttl);
        let who = signed_in(&state);
        if who.nobody()
            && let Some(key) = encode_anonymous(&state, expires)
        {
            return Ok(key.try_into()?);
        }
        let json = serde_json::to_string(&state)?;
        let client = client(&state);
        let key: SessionKey = random_token::<32>().try_into()?;
        let id = key_id(&key);
        self.db
            .run(move |conn| {
                rows::insert(conn, &id, &who, &client, &json, now, expires).map_err(DbError::from)
            })
            .await?;
        Ok(key)
    }
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let now = clock::now();
        if key.as_ref().starts_with(ANONYMOUS) {
            return Ok(decode_anonymous(key.as_ref(), now));
        }
        let id = key_id(key);
        let born_after = self.born_after(now);
        let lookup = id.clone();
        let row = self
            .db
            .run(move |conn| rows::find_live(conn, &lookup, now, born_after).map_err(DbError::from))
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        match row {
            None => Ok(None),
            Some(row) => {
                self.loaded_expiry.insert(id, row.expires_at);
                serde_json::from_str(&row.state)
                    .map(Some)
                    .map_err(|e| LoadError::Deserialization(e.into()))
            }
        }
    }

    async fn save(&self, state: State, ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        self.keep_new(state, ttl).await.map_err(SaveError::Other)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        if key.as_ref().starts_with(ANONYMOUS) {
            // A new cookie with the new state (a sign-in renews, so it saves).
            return self.keep_new(state, ttl).await.map_err(UpdateError::Other);
        }
        let json =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let id = key_id(&key);
        let who = signed_in(&state);
        let expires = expiry(clock::now(), ttl);
        let updated = self
            .db
            .run(move |conn| {
                rows::update_state(conn, &id, &who, &json, expires).map_err(DbError::from)
            })
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        if !updated {
            // Ended (signed out, lapsed) while this request ran: it stays ended.
            // The answer keeps the dead key, which loads as no session at all.
            tracing::debug!("a session ended while a request changed it; not kept");
        }
        Ok(key)
    }

    async fn update_ttl(
        &self,
        key: &SessionKey,
        ttl: &CookieDuration,
    ) -> Result<(), anyhow::Error> {
        if key.as_ref().starts_with(ANONYMOUS) {
            // Anonymous sessions lapse at the expiry in their key.
            return Ok(());
        }
        let id = key_id(key);
        let now = clock::now();
        let expires = expiry(now, ttl);
        if self
            .loaded_expiry
            .get(&id)
            .is_some_and(|loaded| expires - loaded < EXTEND_STEP)
        {
            return Ok(());
        }
        self.loaded_expiry.insert(id.clone(), expires);
        self.db
            .run(move |conn| rows::extend(conn, &id, expires, now).map_err(DbError::from))
            .await
            .map_err(Into::into)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        if key.as_ref().starts_with(ANONYMOUS) {
            return Ok(());
        }
        let id = key_id(key);
        self.loaded_expiry.remove(&id);
        self.db
            .run(move |conn| rows::delete(conn, &id).map_err(DbError::from))
            .await
            .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn an_anonymous_session_reads_back_until_it_lapses() {
        let now = datetime!(2026-12-01 12:00);
        let state: State = [("csrf".to_owned(), "\"t0k3n\"".to_owned())].into();
        let key = encode_anonymous(&state, now + time::Duration::minutes(30)).unwrap();
        assert!(key.starts_with("a."));
        assert_eq!(decode_anonymous(&key, now), Some(state));
        assert_eq!(
            decode_anonymous(&key, now + time::Duration::minutes(30)),
            None
        );
        assert_eq!(decode_anonymous("a.%%%", now), None);
        assert_eq!(decode_anonymous(&random_token::<32>(), now), None);
    }

    proptest! {
        #[test]
        fn decoding_any_key_never_panics(key in ".{0,300}") {
            let _ = decode_anonymous(&key, datetime!(2026-12-01 12:00));
        }
    }
}
