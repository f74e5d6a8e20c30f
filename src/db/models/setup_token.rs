//! One-time setup links that create the first admin.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::setup_tokens;

/// How long a setup link works.
pub const LIFETIME: time::Duration = time::Duration::hours(1);

/// Stores the hash of a new setup token.
pub fn insert(conn: &mut DbConn, token_hash: &str, now: Timestamp) -> QueryResult<()> {
    diesel::insert_into(setup_tokens::table)
        .values((
            setup_tokens::token_hash.eq(token_hash),
            setup_tokens::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Whether a token with this hash is unused and was made after `made_after`.
pub fn exists(conn: &mut DbConn, token_hash: &str, made_after: Timestamp) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        setup_tokens::table
            .find(token_hash)
            .filter(setup_tokens::created_at.gt(made_after)),
    ))
    .get_result(conn)
}

/// Uses up every setup link: the first admin exists now.
pub fn delete_all(conn: &mut DbConn) -> QueryResult<usize> {
    diesel::delete(setup_tokens::table).execute(conn)
}
