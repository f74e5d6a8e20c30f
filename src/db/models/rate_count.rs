//! What each instance admitted of each rate-limited key in the current
//! windows: written and read by every instance at each poll, so the
//! instances see each other's counts without a write per request.

use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::db::DbConn;
use crate::db::schema::rate_counts;
use crate::domain::KeyId;

/// The `window_seconds` of a row that says an instance is counting (its
/// `window_start` the second it said so; no key, no count).
pub const PRESENCE: i32 = 0;
/// How long an instance's presence lasts after it last said so.
pub const PRESENCE_SECONDS: i64 = 3;

/// One instance's count of one key in one window.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = rate_counts)]
pub struct RateCount {
    pub key_id: KeyId,
    /// The window's length: 1 or 60.
    pub window_seconds: i32,
    /// The window's first second, since the Unix epoch.
    pub window_start: i64,
    /// The instance that counted.
    pub instance: String,
    /// Requests it admitted in the window.
    pub count: i64,
}

impl RateCount {
    /// Writes this instance's counts (each replaces the one written before).
    pub fn publish(conn: &mut DbConn, rows: &[RateCount]) -> QueryResult<()> {
        for row in rows {
            let upsert = diesel::insert_into(rate_counts::table)
                .values(row)
                .on_conflict((
                    rate_counts::key_id,
                    rate_counts::window_seconds,
                    rate_counts::window_start,
                    rate_counts::instance,
                ))
                .do_update()
                .set(rate_counts::count.eq(excluded(rate_counts::count)));
            // ON CONFLICT does not go through the two-backend connection.
            match conn {
                DbConn::Postgres(c) => upsert.execute(c)?,
                DbConn::Sqlite(c) => upsert.execute(c)?,
            };
        }
        Ok(())
    }

    /// What the other instances said at `unix`: their counts in the current
    /// second and minute windows (of `keys` only, when given) and their
    /// presence in the last [`PRESENCE_SECONDS`].
    pub fn of_others(
        conn: &mut DbConn,
        instance: &str,
        unix: i64,
        keys: Option<&[KeyId]>,
    ) -> QueryResult<Vec<RateCount>> {
        let minute = unix.div_euclid(60) * 60;
        let windows = rate_counts::window_seconds
            .eq(1)
            .and(rate_counts::window_start.eq(unix))
            .or(rate_counts::window_seconds
                .eq(60)
                .and(rate_counts::window_start.eq(minute)));
        let presence = rate_counts::window_seconds
            .eq(PRESENCE)
            .and(rate_counts::window_start.ge(unix - PRESENCE_SECONDS));
        let query = rate_counts::table
            .filter(rate_counts::instance.ne(instance))
            .select(Self::as_select());
        match keys {
            Some(keys) => query
                .filter(windows.and(rate_counts::key_id.eq_any(keys)).or(presence))
                .load(conn),
            None => query.filter(windows.or(presence)).load(conn),
        }
    }

    /// Forgets windows that started before `before`.
    pub fn prune(conn: &mut DbConn, before: i64) -> QueryResult<usize> {
        diesel::delete(rate_counts::table.filter(rate_counts::window_start.lt(before)))
            .execute(conn)
    }
}
