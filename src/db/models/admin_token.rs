//! Admin API tokens, and the answers kept for `Idempotency-Key` retries.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::{admin_tokens, idempotency_keys};
use crate::domain::{AdminId, OrgId};

/// A stored token (never its text: a keyed digest of its secret).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_tokens)]
pub struct AdminTokenRow {
    pub id: String,
    pub organization_id: OrgId,
    pub admin_id: AdminId,
    pub name: String,
    /// Finds the row from a presented token.
    pub public_id: String,
    /// HMAC digest of the secret part.
    pub secret_digest: String,
    /// Scope names separated by spaces.
    pub scopes: String,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl AdminTokenRow {
    /// Adds a token.
    pub fn insert(conn: &mut DbConn, row: &AdminTokenRow) -> QueryResult<()> {
        diesel::insert_into(admin_tokens::table)
            .values(row)
            .execute(conn)
            .map(|_| ())
    }

    /// The token with this public id.
    pub fn find_by_public_id(conn: &mut DbConn, public_id: &str) -> QueryResult<Option<Self>> {
        admin_tokens::table
            .filter(admin_tokens::public_id.eq(public_id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// One of an admin's tokens.
    pub fn find_for_admin(
        conn: &mut DbConn,
        admin_id: &AdminId,
        id: &str,
    ) -> QueryResult<Option<Self>> {
        admin_tokens::table
            .filter(admin_tokens::admin_id.eq(admin_id))
            .filter(admin_tokens::id.eq(id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// An admin's tokens, newest first.
    pub fn list_for_admin(conn: &mut DbConn, admin_id: &AdminId) -> QueryResult<Vec<Self>> {
        admin_tokens::table
            .filter(admin_tokens::admin_id.eq(admin_id))
            .order((admin_tokens::created_at.desc(), admin_tokens::id.desc()))
            .select(Self::as_select())
            .load(conn)
    }

    /// How many unrevoked, unexpired tokens an admin holds.
    pub fn count_live(conn: &mut DbConn, admin_id: &AdminId, now: Timestamp) -> QueryResult<i64> {
        admin_tokens::table
            .filter(admin_tokens::admin_id.eq(admin_id))
            .filter(admin_tokens::revoked_at.is_null())
            .filter(admin_tokens::expires_at.gt(now))
            .count()
            .get_result(conn)
    }

    /// Revokes a token; false when it was revoked already.
    pub fn revoke(conn: &mut DbConn, id: &str, now: Timestamp) -> QueryResult<bool> {
        let n = diesel::update(
            admin_tokens::table
                .find(id)
                .filter(admin_tokens::revoked_at.is_null()),
        )
        .set(admin_tokens::revoked_at.eq(Some(now)))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Notes a use, at most once a minute per token.
    pub fn touch(conn: &mut DbConn, id: &str, ip: Option<&str>, now: Timestamp) -> QueryResult<()> {
        diesel::update(
            admin_tokens::table.find(id).filter(
                admin_tokens::last_used_at
                    .is_null()
                    .or(admin_tokens::last_used_at.lt(now - time::Duration::minutes(1))),
            ),
        )
        .set((
            admin_tokens::last_used_at.eq(Some(now)),
            admin_tokens::last_used_ip.eq(ip),
        ))
        .execute(conn)
        .map(|_| ())
    }
}

/// What an `Idempotency-Key` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotent {
    /// First time: the request runs (the key is now taken).
    Fresh,
    /// The same request ran before: its answer (status and sealed body).
    Replay(u16, String),
    /// The same key with another request: refused.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// How long a running request holds its key before a retry may take it over
/// (a process that died mid-request).
const TAKE_OVER_AFTER: time::Duration = time::Duration::minutes(1);

/// Takes `key` for `token_id`'s request `hash`, or says what an earlier
/// request with it left.
pub fn begin_idempotent(
    conn: &mut DbConn,
    token_id: &str,
    key: &str,
    hash: &str,
    now: Timestamp,
) -> QueryResult<Idempotent> {
    let existing: Option<(String, i32, Option<String>, Timestamp)> = idempotency_keys::table
        .filter(idempotency_keys::token_id.eq(token_id))
        .filter(idempotency_keys::idempotency_key.eq(key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::status,
            idempotency_keys::response_sealed,
            idempotency_keys::created_at,
        ))
        .first(conn)
        .optional()?;
    match existing {
        None => {
            let insert = diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::token_id.eq(token_id),
                    idempotency_keys::idempotency_key.eq(key),
                    idempotency_keys::request_hash.eq(hash),
                    idempotency_keys::status.eq(0),
                    idempotency_keys::created_at.eq(now),
                ))
                .on_conflict_do_nothing();
            // ON CONFLICT does not go through the two-backend connection. A
            // request with the same key that got in first is still running.
            let n = match conn {
                DbConn::Postgres(c) => insert.execute(c)?,
                DbConn::Sqlite(c) => insert.execute(c)?,
            };
            Ok(if n == 1 {
                Idempotent::Fresh
            } else {
                Idempotent::InProgress
            })
        }
        Some((stored, _, _, _)) if stored != hash => Ok(Idempotent::Mismatch),
        Some((_, status, Some(body), _)) if status > 0 => Ok(Idempotent::Replay(
            u16::try_from(status).unwrap_or(500),
            body,
        )),
        Some((_, _, _, at)) if now - at < TAKE_OVER_AFTER => Ok(Idempotent::InProgress),
        Some(_) => {
            diesel::update(
                idempotency_keys::table
                    .filter(idempotency_keys::token_id.eq(token_id))
                    .filter(idempotency_keys::idempotency_key.eq(key)),
            )
            .set(idempotency_keys::created_at.eq(now))
            .execute(conn)?;
            Ok(Idempotent::Fresh)
        }
    }
}

/// Keeps the answer to the request that took `key`.
pub fn complete_idempotent(
    conn: &mut DbConn,
    token_id: &str,
    key: &str,
    status: u16,
    sealed_body: &str,
) -> QueryResult<()> {
    diesel::update(
        idempotency_keys::table
            .filter(idempotency_keys::token_id.eq(token_id))
            .filter(idempotency_keys::idempotency_key.eq(key)),
    )
    .set((
        idempotency_keys::status.eq(i32::from(status)),
        idempotency_keys::response_sealed.eq(Some(sealed_body)),
    ))
    .execute(conn)
    .map(|_| ())
}

/// Frees `key` after a request that failed in a way a retry may fix.
pub fn release_idempotent(conn: &mut DbConn, token_id: &str, key: &str) -> QueryResult<()> {
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::token_id.eq(token_id))
            .filter(idempotency_keys::idempotency_key.eq(key))
            .filter(idempotency_keys::status.eq(0)),
    )
    .execute(conn)
    .map(|_| ())
}

/// Forgets answers older than `before`; how many.
pub fn prune_idempotent(conn: &mut DbConn, before: Timestamp) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
        .execute(conn)
}
