//! WebAuthn ceremonies waiting for the browser's answer: the `webauthn-rs`
//! state, sealed, kept on the server and taken once (the library's rule: a
//! state kept by the client could be replayed).

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::admin_challenges;
use crate::domain::AdminId;

/// Stores a ceremony's sealed state under `id` (the SHA-256 of its handle).
pub fn insert(
    conn: &mut DbConn,
    id: &str,
    admin: &AdminId,
    purpose: &str,
    sealed: &str,
    expires_at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(admin_challenges::table)
        .values((
            admin_challenges::id.eq(id),
            admin_challenges::admin_id.eq(admin),
            admin_challenges::purpose.eq(purpose),
            admin_challenges::state.eq(sealed),
            admin_challenges::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Takes a ceremony's sealed state: deleted as it is read, so it serves once;
/// none when it is not this admin's, not for `purpose`, or lapsed.
pub fn take(
    conn: &mut DbConn,
    id: &str,
    admin: &AdminId,
    purpose: &str,
    now: Timestamp,
) -> QueryResult<Option<String>> {
    let found: Option<(String, Timestamp)> = admin_challenges::table
        .find(id)
        .filter(admin_challenges::admin_id.eq(admin))
        .filter(admin_challenges::purpose.eq(purpose))
        .select((admin_challenges::state, admin_challenges::expires_at))
        .first(conn)
        .optional()?;
    let deleted = diesel::delete(admin_challenges::table.find(id)).execute(conn)?;
    Ok(found
        .filter(|(_, expires)| *expires > now && deleted == 1)
        .map(|(s, _)| s))
}

/// Housekeeping: forgets lapsed ceremonies.
pub fn delete_expired(conn: &mut DbConn, now: Timestamp) -> QueryResult<usize> {
    diesel::delete(admin_challenges::table.filter(admin_challenges::expires_at.le(now)))
        .execute(conn)
}
