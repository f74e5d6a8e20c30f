//! An admin's single-use recovery codes, as keyed digests.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::admin_recovery_codes;
use crate::domain::AdminId;

/// Replaces an admin's recovery codes with new ones (their digests).
pub fn replace(
    conn: &mut DbConn,
    admin: &AdminId,
    digests: &[String],
    now: Timestamp,
) -> QueryResult<()> {
    diesel::delete(admin_recovery_codes::table.filter(admin_recovery_codes::admin_id.eq(admin)))
        .execute(conn)?;
    for digest in digests {
        diesel::insert_into(admin_recovery_codes::table)
            .values((
                admin_recovery_codes::admin_id.eq(admin),
                admin_recovery_codes::code_digest.eq(digest),
                admin_recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Uses up the code with this digest; false when there is none unused (one
/// conditional update, so a code works once even when sent twice at once).
pub fn use_up(
    conn: &mut DbConn,
    admin: &AdminId,
    digest: &str,
    now: Timestamp,
) -> QueryResult<bool> {
    diesel::update(
        admin_recovery_codes::table
            .filter(admin_recovery_codes::admin_id.eq(admin))
            .filter(admin_recovery_codes::code_digest.eq(digest))
            .filter(admin_recovery_codes::used_at.is_null()),
    )
    .set(admin_recovery_codes::used_at.eq(Some(now)))
    .execute(conn)
    .map(|n| n == 1)
}

/// How many unused codes an admin has left.
pub fn remaining(conn: &mut DbConn, admin: &AdminId) -> QueryResult<i64> {
    admin_recovery_codes::table
        .filter(admin_recovery_codes::admin_id.eq(admin))
        .filter(admin_recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

/// Forgets every code of an admin (no second factor is left).
pub fn delete_all(conn: &mut DbConn, admin: &AdminId) -> QueryResult<()> {
    diesel::delete(admin_recovery_codes::table.filter(admin_recovery_codes::admin_id.eq(admin)))
        .execute(conn)
        .map(|_| ())
}
