//! The last distinct client addresses each key was used from (GitLab keeps
//! five), written in the batches that record `last_used_at`.

use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::key_addresses;
use crate::domain::KeyId;

/// How many addresses a key keeps.
pub const KEPT: usize = 5;

/// One address a key was used from, and when last.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = key_addresses)]
pub struct KeyAddress {
    pub key_id: KeyId,
    /// The client address, as text.
    pub address: String,
    pub last_used_at: Timestamp,
}

impl KeyAddress {
    /// Records uses of `key_id` from these addresses , then forgets all but the [`KEPT`] most recent.
    pub fn record(
        conn: &mut DbConn,
        key_id: &KeyId,
        uses: &[(String, Timestamp)],
    ) -> QueryResult<()> {
        for (address, at) in uses {
            let row = KeyAddress {
                key_id: key_id.clone(),
                address: address.clone(),
                last_used_at: *at,
            };
            let upsert = diesel::insert_into(key_addresses::table)
                .values(&row)
                .on_conflict((key_addresses::key_id, key_addresses::address))
                .do_update()
                .set(key_addresses::last_used_at.eq(excluded(key_addresses::last_used_at)));
            // ON CONFLICT does not go through the two-backend connection.
            match conn {
                DbConn::Postgres(c) => upsert.execute(c)?,
                DbConn::Sqlite(c) => upsert.execute(c)?,
            };
        }
        let kept: Vec<String> = Self::latest(conn, key_id)?
            .into_iter()
            .map(|a| a.address)
            .collect();
        diesel::delete(
            key_addresses::table
                .filter(key_addresses::key_id.eq(key_id))
                .filter(key_addresses::address.ne_all(kept)),
        )
        .execute(conn)?;
        Ok(())
    }

    /// The key's latest addresses, most recent first.
    pub fn latest(conn: &mut DbConn, key_id: &KeyId) -> QueryResult<Vec<KeyAddress>> {
        key_addresses::table
            .filter(key_addresses::key_id.eq(key_id))
            .order((
                key_addresses::last_used_at.desc(),
                key_addresses::address.asc(),
            ))
            .limit(KEPT as i64)
            .select(Self::as_select())
            .load(conn)
    }

    /// The latest addresses of each of `key_ids`, most recent first.
    pub fn latest_of(conn: &mut DbConn, key_ids: &[KeyId]) -> QueryResult<Vec<KeyAddress>> {
        key_addresses::table
            .filter(key_addresses::key_id.eq_any(key_ids))
            .order((
                key_addresses::key_id.asc(),
                key_addresses::last_used_at.desc(),
            ))
            .select(Self::as_select())
            .load(conn)
    }
}
