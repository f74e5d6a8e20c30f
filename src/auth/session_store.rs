//! actix-session's storage on our database, so sessions survive restarts, work
//! across instances, and sign-out really ends them.
//!
//! The cookie holds a random 256-bit key; the table holds its SHA-256, so a leaked
//! copy of the table does not yield working cookies. Idle expiry is the store's TTL;
//! the absolute limit counts from the row's creation and is checked on every load.

use std::collections::HashMap;
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;

use crate::clock::{self, Timestamp};
use crate::db::models::session as rows;
use crate::db::{Db, DbError};
use crate::domain::AdminId;
use crate::secrets::{random_token, sha256_hex};

/// The key under which the signed-in admin's id is kept in the session.
pub const ADMIN_ID_KEY: &str = "admin_id";

/// Sessions in the database.
#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
    absolute: Duration,
}

impl DbSessionStore {
    /// A store that ends every session `absolute` after it began.
    pub fn new(db: Db, absolute: Duration) -> Self {
        Self { db, absolute }
    }

    fn born_after(&self, now: Timestamp) -> Timestamp {
        now - self.absolute
    }
}

type State = HashMap<String, String>;

fn expiry(now: Timestamp, ttl: &CookieDuration) -> Timestamp {
    now + time::Duration::seconds(ttl.whole_seconds())
}

/// The admin id stored in the state, if any (values are JSON-encoded).
fn admin_id(state: &State) -> Option<AdminId> {
    state
        .get(ADMIN_ID_KEY)
        .and_then(|v| serde_json::from_str::<AdminId>(v).ok())
}

fn key_id(key: &SessionKey) -> String {
    sha256_hex(key.as_ref().as_bytes())
}

async fn insert_new(
    store: &DbSessionStore,
    state: State,
    ttl: &CookieDuration,
) -> Result<SessionKey, anyhow::Error> {
    let json = serde_json::to_string(&state)?;
    let key: SessionKey = random_token::<32>().try_into()?;
    let id = key_id(&key);
    let admin = admin_id(&state);
    let now = clock::now();
    let expires = expiry(now, ttl);
    store
        .db
        .run(move |conn| {
            rows::insert(conn, &id, admin.as_ref(), &json, now, expires).map_err(DbError::from)
        })
        .await?;
    Ok(key)
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let id = key_id(key);
        let now = clock::now();
        let born_after = self.born_after(now);
        let row = self
            .db
            .run(move |conn| rows::find_live(conn, &id, now, born_after).map_err(DbError::from))
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        match row {
            None => Ok(None),
            Some(row) => serde_json::from_str(&row.state)
                .map(Some)
                .map_err(|e| LoadError::Deserialization(e.into())),
        }
    }

    async fn save(&self, state: State, ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        insert_new(self, state, ttl).await.map_err(SaveError::Other)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let json =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let id = key_id(&key);
        let admin = admin_id(&state);
        let expires = expiry(clock::now(), ttl);
        let updated = self
            .db
            .run(move |conn| {
                rows::update_state(conn, &id, admin.as_ref(), &json, expires).map_err(DbError::from)
            })
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        if updated {
            Ok(key)
        } else {
            // The row lapsed or was ended meanwhile: start a new session.
            insert_new(self, state, ttl)
                .await
                .map_err(UpdateError::Other)
        }
    }

    async fn update_ttl(
        &self,
        key: &SessionKey,
        ttl: &CookieDuration,
    ) -> Result<(), anyhow::Error> {
        let id = key_id(key);
        let expires = expiry(clock::now(), ttl);
        self.db
            .run(move |conn| rows::extend(conn, &id, expires).map_err(DbError::from))
            .await
            .map_err(Into::into)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let id = key_id(key);
        self.db
            .run(move |conn| rows::delete(conn, &id).map_err(DbError::from))
            .await
            .map_err(Into::into)
    }
}
