//! Sign-in throttling rows: one per account or client address (see the
//! migration for what each column counts).

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::sign_in_throttle;

/// A subject's counters.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sign_in_throttle, treat_none_as_null = true)]
pub struct ThrottleRow {
    /// `account:<email>` or `ip:<address>`.
    pub subject: String,
    /// Failures (reserved attempts included) in the current window.
    pub failures: i32,
    pub window_started_at: Timestamp,
    pub last_failure_at: Option<Timestamp>,
    /// Failures since the last success, across windows.
    pub consecutive_failures: i32,
    /// Set at the hard limit; the account stays locked until unlocked.
    pub locked_at: Option<Timestamp>,
    /// Attempts refused since the last audit summary.
    pub refused: i32,
    pub refused_reported_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl ThrottleRow {
    /// A subject with no history.
    pub fn fresh(subject: &str, now: Timestamp) -> Self {
        Self {
            subject: subject.to_owned(),
            failures: 0,
            window_started_at: now,
            last_failure_at: None,
            consecutive_failures: 0,
            locked_at: None,
            refused: 0,
            refused_reported_at: None,
            updated_at: now,
        }
    }

    /// The subject's row, created if absent, and locked until the transaction
    /// ends (PostgreSQL; SQLite's write transactions already run one at a time),
    /// so concurrent attempts on one subject are counted one after another.
    pub fn load_for_update(
        conn: &mut DbConn,
        subject: &str,
        now: Timestamp,
    ) -> QueryResult<ThrottleRow> {
        let insert = diesel::insert_into(sign_in_throttle::table)
            .values(Self::fresh(subject, now))
            .on_conflict_do_nothing();
        // ON CONFLICT does not go through the two-backend connection: run it on each.
        match conn {
            DbConn::Postgres(c) => {
                insert.execute(c)?;
                sign_in_throttle::table
                    .find(subject)
                    .select(Self::as_select())
                    .for_update()
                    .first(c)
            }
            DbConn::Sqlite(c) => {
                insert.execute(c)?;
                sign_in_throttle::table
                    .find(subject)
                    .select(Self::as_select())
                    .first(c)
            }
        }
    }

    /// Writes the counters back.
    pub fn save(&self, conn: &mut DbConn) -> QueryResult<()> {
        diesel::update(sign_in_throttle::table.find(&self.subject))
            .set(self)
            .execute(conn)
            .map(|_| ())
    }

    /// A subject's row, if it has one.
    pub fn find(conn: &mut DbConn, subject: &str) -> QueryResult<Option<ThrottleRow>> {
        sign_in_throttle::table
            .find(subject)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Forgets a subject (an unlock).
    pub fn delete(conn: &mut DbConn, subject: &str) -> QueryResult<usize> {
        diesel::delete(sign_in_throttle::table.find(subject)).execute(conn)
    }

    /// Rows with refusals not yet reported.
    pub fn with_unreported_refusals(conn: &mut DbConn) -> QueryResult<Vec<ThrottleRow>> {
        sign_in_throttle::table
            .filter(sign_in_throttle::refused.gt(0))
            .select(Self::as_select())
            .load(conn)
    }

    /// Forgets unlocked subjects idle since `before`.
    pub fn delete_idle(conn: &mut DbConn, before: Timestamp) -> QueryResult<usize> {
        diesel::delete(
            sign_in_throttle::table
                .filter(sign_in_throttle::updated_at.lt(before))
                .filter(sign_in_throttle::locked_at.is_null())
                .filter(sign_in_throttle::refused.eq(0)),
        )
        .execute(conn)
    }
}
