//! Server-side session rows. The id is the SHA-256 of the cookie's key.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::sessions;
use crate::domain::AdminId;

/// A stored session.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    /// SHA-256 of the cookie's key.
    pub id: String,
    /// The signed-in admin, if any.
    pub admin_id: Option<AdminId>,
    /// JSON map of the session's values.
    pub state: String,
    /// When the session began: the absolute timeout counts from here.
    pub created_at: Timestamp,
    /// When it lapses unless used again.
    pub expires_at: Timestamp,
    /// The client's address at sign-in.
    pub client_ip: Option<String>,
    /// The client's User-Agent at sign-in.
    pub user_agent: Option<String>,
    /// The last request that moved its idle expiry (to the minute).
    pub last_seen_at: Option<Timestamp>,
}

/// Where a session was signed in from.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The client's address.
    pub ip: Option<String>,
    /// The client's User-Agent, clipped.
    pub user_agent: Option<String>,
}

/// A live session by id: not past its idle expiry, not older than `born_after`.
pub fn find_live(
    conn: &mut DbConn,
    id: &str,
    now: Timestamp,
    born_after: Timestamp,
) -> QueryResult<Option<SessionRow>> {
    sessions::table
        .find(id)
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::created_at.gt(born_after))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()
}

/// Stores a new session.
/// Who a session is signed in as: an admin or an operator (at most one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedIn {
    pub admin: Option<AdminId>,
    pub operator: Option<crate::domain::OperatorId>,
}

impl SignedIn {
    /// Nobody: an anonymous visitor.
    pub fn nobody(&self) -> bool {
        self.admin.is_none() && self.operator.is_none()
    }
}

pub fn insert(
    conn: &mut DbConn,
    id: &str,
    who: &SignedIn,
    client: &Client,
    state: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(id),
            sessions::admin_id.eq(who.admin.as_ref()),
            sessions::operator_id.eq(who.operator.as_ref()),
            sessions::state.eq(state),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(expires_at),
            sessions::client_ip.eq(client.ip.as_deref()),
            sessions::user_agent.eq(client.user_agent.as_deref()),
            sessions::last_seen_at.eq(Some(now)),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Replaces a session's state; false when it no longer exists.
pub fn update_state(
    conn: &mut DbConn,
    id: &str,
    who: &SignedIn,
    state: &str,
    expires_at: Timestamp,
) -> QueryResult<bool> {
    diesel::update(sessions::table.find(id))
        .set((
            sessions::admin_id.eq(who.admin.as_ref()),
            sessions::operator_id.eq(who.operator.as_ref()),
            sessions::state.eq(state),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|n| n > 0)
}

/// Pushes the idle expiry out, writing only when it moves by more than a minute.
pub fn extend(
    conn: &mut DbConn,
    id: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> QueryResult<()> {
    diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::expires_at.lt(expires_at - time::Duration::minutes(1))),
    )
    .set((
        sessions::expires_at.eq(expires_at),
        sessions::last_seen_at.eq(Some(now)),
    ))
    .execute(conn)
    .map(|_| ())
}

/// Ends one session.
pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    diesel::delete(sessions::table.find(id))
        .execute(conn)
        .map(|_| ())
}
/// An admin's live sessions, the most recently active first.
pub fn list_for_admin(
    conn: &mut DbConn,
    admin: &AdminId,
    now: Timestamp,
    born_after: Timestamp,
) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::admin_id.eq(admin))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::created_at.gt(born_after))
        .order((sessions::last_seen_at.desc(), sessions::created_at.desc()))
        .select(SessionRow::as_select())
        .load(conn)
}

/// Ends one of an admin's sessions; false when it was not theirs or is gone.
pub fn delete_for_admin(conn: &mut DbConn, admin: &AdminId, id: &str) -> QueryResult<bool> {
    diesel::delete(
        sessions::table
            .find(id)
            .filter(sessions::admin_id.eq(admin)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// Ends every session of an admin but `keep` (the one making the change).
pub fn delete_all_for_admin(
    conn: &mut DbConn,
    admin: &AdminId,
    keep: Option<&str>,
) -> QueryResult<usize> {
    let mine = sessions::table.filter(sessions::admin_id.eq(admin));
    match keep {
        Some(keep) => diesel::delete(mine.filter(sessions::id.ne(keep))).execute(conn),
        None => diesel::delete(mine).execute(conn),
    }
}

/// Removes lapsed sessions.
pub fn delete_expired(
    conn: &mut DbConn,
    now: Timestamp,
    born_before: Timestamp,
) -> QueryResult<usize> {
    diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(now)
                .or(sessions::created_at.le(born_before)),
        ),
    )
    .execute(conn)
}
