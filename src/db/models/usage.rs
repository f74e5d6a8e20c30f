//! Request counts by key (or an app's access tokens), bucket and outcome:
//! every instance's flushes add to the same rows, at the minute, the hour and
//! the day at once, so each length is ready to read and kept as long as its
//! retention says.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::upsert::excluded;

use crate::db::DbConn;
use crate::db::schema::usage_counts;
use crate::domain::usage::Period;
use crate::domain::{AppId, KeyId, OrgId};

/// The `key_id` of an app's access tokens' counts.
pub const TOKENS: &str = "";
/// The `app_id` and `key_id` of the whole organization's counts, kept beside
/// each key's so the organization's chart reads a row per bucket.
pub const ALL: &str = "*";

/// Requests of one key in one bucket with one outcome.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = usage_counts)]
pub struct UsageCount {
    pub organization_id: OrgId,
    pub app_id: AppId,
    /// The key, or [`TOKENS`].
    pub key_id: String,
    /// 60, 3600 or 86400.
    pub period_seconds: i32,
    /// The bucket's first second since the Unix epoch.
    pub bucket: i64,
    /// `allowed`, `401`, `402`, `403`, `429` or `5xx`.
    pub outcome: String,
    pub count: i64,
}

/// One key's requests in one minute with one outcome, borrowed from what
/// a flush took out: the input of `services::usage::record`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteCount<'a> {
    pub organization_id: &'a OrgId,
    pub app_id: &'a AppId,
    /// The key, or [`TOKENS`].
    pub key_id: &'a str,
    /// The minute's first second since the Unix epoch.
    pub minute: i64,
    /// `allowed`, `401`, `402`, `403`, `429` or `5xx`.
    pub outcome: &'a str,
    pub count: i64,
}

impl UsageCount {
    /// This one-minute row as a flush's count.
    pub fn as_minute(&self) -> MinuteCount<'_> {
        MinuteCount {
            organization_id: &self.organization_id,
            app_id: &self.app_id,
            key_id: &self.key_id,
            minute: self.bucket,
            outcome: &self.outcome,
            count: self.count,
        }
    }
}

/// Whose requests a report reads.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// One key's.
    Key(&'a KeyId),
    /// Every key's of an app, and its access tokens'.
    App(&'a AppId),
}

/// The sum of a group's counts (a BIGINT on both backends: PostgreSQL's
/// `SUM(bigint)` is a numeric).
fn total() -> diesel::expression::SqlLiteral<BigInt> {
    sql::<BigInt>("CAST(SUM(count) AS BIGINT)")
}

impl UsageCount {
    /// Adds `row` to the stored counts (a row not there yet is made).
    pub fn add(conn: &mut DbConn, row: &UsageCount) -> QueryResult<()> {
        let upsert = diesel::insert_into(usage_counts::table)
            .values(row)
            .on_conflict((
                usage_counts::organization_id,
                usage_counts::period_seconds,
                usage_counts::bucket,
                usage_counts::app_id,
                usage_counts::key_id,
                usage_counts::outcome,
            ))
            .do_update()
            .set(usage_counts::count.eq(usage_counts::count + excluded(usage_counts::count)));
        // ON CONFLICT does not go through the two-backend connection.
        match conn {
            DbConn::Postgres(c) => upsert.execute(c)?,
            DbConn::Sqlite(c) => upsert.execute(c)?,
        };
        Ok(())
    }

    /// The counts of `scope` in `period` buckets from `from` (inclusive) to
    /// `to` (exclusive), summed by bucket and outcome, oldest first.
    pub fn series(
        conn: &mut DbConn,
        organization_id: &OrgId,
        scope: Scope<'_>,
        period: Period,
        from: i64,
        to: i64,
    ) -> QueryResult<Vec<(i64, String, i64)>> {
        let query = usage_counts::table
            .filter(usage_counts::organization_id.eq(organization_id))
            .filter(usage_counts::period_seconds.eq(period.seconds() as i32))
            .filter(usage_counts::bucket.ge(from))
            .filter(usage_counts::bucket.lt(to))
            .group_by((usage_counts::bucket, usage_counts::outcome))
            .select((usage_counts::bucket, usage_counts::outcome, total()))
            .order(usage_counts::bucket.asc());
        match scope {
            Scope::Key(key) => query
                .filter(usage_counts::key_id.eq(key.as_str()))
                .load(conn),
            Scope::App(app) => query.filter(usage_counts::app_id.eq(app)).load(conn),
        }
    }

    /// The whole organization's counts in `period` buckets from `from` to
    /// `to`, summed by bucket and outcome, oldest first.
    /// Each of these organizations' requests by outcome in the hour buckets
    /// from `from` (seconds since the epoch) on: `(organization, outcome,
    /// count)`.
    pub fn organizations_totals(
        conn: &mut DbConn,
        organizations: &[OrgId],
        from: i64,
    ) -> QueryResult<Vec<(OrgId, String, i64)>> {
        usage_counts::table
            .filter(usage_counts::organization_id.eq_any(organizations))
            .filter(usage_counts::period_seconds.eq(Period::Hour.seconds() as i32))
            .filter(usage_counts::bucket.ge(from))
            .filter(usage_counts::app_id.eq(ALL))
            .filter(usage_counts::key_id.eq(ALL))
            .group_by((usage_counts::organization_id, usage_counts::outcome))
            .select((
                usage_counts::organization_id,
                usage_counts::outcome,
                total(),
            ))
            .load(conn)
    }

    pub fn org_series(
        conn: &mut DbConn,
        organization_id: &OrgId,
        period: Period,
        from: i64,
        to: i64,
    ) -> QueryResult<Vec<(i64, String, i64)>> {
        usage_counts::table
            .filter(usage_counts::organization_id.eq(organization_id))
            .filter(usage_counts::period_seconds.eq(period.seconds() as i32))
            .filter(usage_counts::bucket.ge(from))
            .filter(usage_counts::bucket.lt(to))
            .filter(usage_counts::app_id.eq(ALL))
            .filter(usage_counts::key_id.eq(ALL))
            .select((
                usage_counts::bucket,
                usage_counts::outcome,
                usage_counts::count,
            ))
            .order(usage_counts::bucket.asc())
            .load(conn)
    }

    /// Each key's (and each app's tokens') requests in `period` buckets from
    /// `from`, by outcome: the organization's usage at a glance.
    pub fn totals(
        conn: &mut DbConn,
        organization_id: &OrgId,
        period: Period,
        from: i64,
    ) -> QueryResult<Vec<(AppId, String, String, i64)>> {
        usage_counts::table
            .filter(usage_counts::organization_id.eq(organization_id))
            .filter(usage_counts::period_seconds.eq(period.seconds() as i32))
            .filter(usage_counts::bucket.ge(from))
            .filter(usage_counts::app_id.ne(ALL))
            .group_by((
                usage_counts::app_id,
                usage_counts::key_id,
                usage_counts::outcome,
            ))
            .select((
                usage_counts::app_id,
                usage_counts::key_id,
                usage_counts::outcome,
                total(),
            ))
            .load(conn)
    }

    /// Forgets the organization's `period` buckets that began before `before`.
    pub fn prune(
        conn: &mut DbConn,
        organization_id: &OrgId,
        period: Period,
        before: i64,
    ) -> QueryResult<usize> {
        diesel::delete(
            usage_counts::table
                .filter(usage_counts::organization_id.eq(organization_id))
                .filter(usage_counts::period_seconds.eq(period.seconds() as i32))
                .filter(usage_counts::bucket.lt(before)),
        )
        .execute(conn)
    }
}
