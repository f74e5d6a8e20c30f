//! The addresses each admin has signed in from.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::admin_addresses;
use crate::domain::AdminId;

/// Records a sign-in from `ip`; whether the address is new for this admin
/// and the admin had signed in from another one before (the case worth an
/// email: a first sign-in ever is no news).
pub fn record(conn: &mut DbConn, admin: &AdminId, ip: &str, now: Timestamp) -> QueryResult<bool> {
    let known: Vec<String> = admin_addresses::table
        .filter(admin_addresses::admin_id.eq(admin))
        .select(admin_addresses::ip)
        .load(conn)?;
    if known.iter().any(|k| k == ip) {
        diesel::update(
            admin_addresses::table
                .filter(admin_addresses::admin_id.eq(admin))
                .filter(admin_addresses::ip.eq(ip)),
        )
        .set(admin_addresses::last_seen_at.eq(now))
        .execute(conn)?;
        return Ok(false);
    }
    diesel::insert_into(admin_addresses::table)
        .values((
            admin_addresses::admin_id.eq(admin),
            admin_addresses::ip.eq(ip),
            admin_addresses::first_seen_at.eq(now),
            admin_addresses::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    Ok(!known.is_empty())
}
