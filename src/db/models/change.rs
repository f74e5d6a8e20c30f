//! The change feed: what changed of what passes `/api`, in commit order.
//!
//! A change takes the next sequence number from `change_head`'s single row by
//! updating it: that row stays locked until the change commits (PostgreSQL's
//! row lock; SQLite has one writer at a time anyway), so the rows commit in
//! the order of their numbers. A reader that sees row `n` has therefore seen
//! every row before it, and a missing number can only mean rows were pruned.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::{change_head, changes};
use crate::domain::OrgId;

/// How long a change stays in the feed: an instance that could not read the
/// feed for longer finds a gap and drops its whole cache.
pub const RETENTION: time::Duration = time::Duration::hours(1);

/// What a change names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The organization itself: its features, its standing, its settings.
    Organization,
    /// An app, and with it its keys and its users' tokens.
    App,
    /// One key.
    Key,
    /// One app user (`employee:<id>`, `guest:<id>`), and with it their tokens.
    User,
    /// The organization's token signing keys.
    SigningKeys,
}

impl ChangeKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::App => "app",
            Self::Key => "key",
            Self::User => "user",
            Self::SigningKeys => "signing_keys",
        }
    }

    /// The kind of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "organization" => Self::Organization,
            "app" => Self::App,
            "key" => Self::Key,
            "user" => Self::User,
            "signing_keys" => Self::SigningKeys,
            _ => return None,
        })
    }
}

/// One row of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = changes)]
pub struct Change {
    /// Its place in the feed.
    pub seq: i64,
    pub organization_id: OrgId,
    /// A [`ChangeKind`]'s stored name.
    pub kind: String,
    /// The id of what changed.
    pub subject: String,
    pub changed_at: Timestamp,
}

impl Change {
    /// Appends a change in the current transaction, numbered after every
    /// change committed before it; returns its number.
    pub fn append(
        conn: &mut DbConn,
        organization_id: &OrgId,
        kind: ChangeKind,
        subject: &str,
        now: Timestamp,
    ) -> QueryResult<i64> {
        // The update locks the head row until this transaction ends: the
        // next change waits for this one to commit before taking a number.
        diesel::update(change_head::table.find(1))
            .set(change_head::seq.eq(change_head::seq + 1))
            .execute(conn)?;
        let seq = Self::head(conn)?;
        diesel::insert_into(changes::table)
            .values((
                changes::seq.eq(seq),
                changes::organization_id.eq(organization_id),
                changes::kind.eq(kind.as_str()),
                changes::subject.eq(subject),
                changes::changed_at.eq(now),
            ))
            .execute(conn)?;
        Ok(seq)
    }

    /// The number of the last change committed (0 before the first).
    pub fn head(conn: &mut DbConn) -> QueryResult<i64> {
        change_head::table
            .find(1)
            .select(change_head::seq)
            .first(conn)
    }

    /// Up to `limit` changes after `seq`, in order.
    pub fn after(conn: &mut DbConn, seq: i64, limit: i64) -> QueryResult<Vec<Change>> {
        changes::table
            .filter(changes::seq.gt(seq))
            .order(changes::seq.asc())
            .limit(limit)
            .select(Change::as_select())
            .load(conn)
    }

    /// Forgets the changes made before `before`, but never the last one.
    pub fn prune(conn: &mut DbConn, before: Timestamp) -> QueryResult<usize> {
        let head = Self::head(conn)?;
        diesel::delete(
            changes::table
                .filter(changes::changed_at.lt(before))
                .filter(changes::seq.lt(head)),
        )
        .execute(conn)
    }

    /// The kind this row names, if this version knows it.
    pub fn kind(&self) -> Option<ChangeKind> {
        ChangeKind::parse(&self.kind)
    }
}
