//! The hosted sign-in of app users: their sessions on Keyward's own pages and
//! the authorization codes those pages hand to apps.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::{authorization_codes, hosted_sessions};
use crate::domain::{AppId, OrgId};

/// A user's session on the hosted pages (OpenID Connect's OP session).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = hosted_sessions)]
pub struct HostedSession {
    /// Public id: the ID token's `sid`.
    pub id: String,
    pub organization_id: OrgId,
    /// `employee:<id>` or `guest:<id>`.
    pub subject: String,
    /// SHA-256 (hex) of the cookie's secret.
    pub secret_digest: String,
    /// When the user typed their password (OIDC Core §2 `auth_time`).
    pub auth_time: Timestamp,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl HostedSession {
    /// Stores a new session.
    pub fn insert(conn: &mut DbConn, session: &Self) -> QueryResult<()> {
        diesel::insert_into(hosted_sessions::table)
            .values(session)
            .execute(conn)
            .map(|_| ())
    }

    /// One session by id, ended or not.
    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Self>> {
        hosted_sessions::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Ends one session (if it is live): true if it was.
    pub fn end(conn: &mut DbConn, id: &str, now: Timestamp) -> QueryResult<bool> {
        diesel::update(
            hosted_sessions::table
                .find(id)
                .filter(hosted_sessions::ended_at.is_null()),
        )
        .set(hosted_sessions::ended_at.eq(now))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Ends every live session of a user: how many.
    pub fn end_subject(conn: &mut DbConn, subject: &str, now: Timestamp) -> QueryResult<usize> {
        diesel::update(
            hosted_sessions::table
                .filter(hosted_sessions::subject.eq(subject))
                .filter(hosted_sessions::ended_at.is_null()),
        )
        .set(hosted_sessions::ended_at.eq(now))
        .execute(conn)
    }

    /// Forgets sessions that ended or expired before `before`, once no code
    /// names them: how many.
    pub fn delete_old(conn: &mut DbConn, before: Timestamp) -> QueryResult<usize> {
        let named = authorization_codes::table.select(authorization_codes::session_id);
        diesel::delete(
            hosted_sessions::table
                .filter(
                    hosted_sessions::expires_at
                        .lt(before)
                        .or(hosted_sessions::ended_at.lt(before)),
                )
                .filter(hosted_sessions::id.ne_all(named)),
        )
        .execute(conn)
    }
}

/// An authorization code (RFC 6749 §4.1.2), by the SHA-256 of its text.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct AuthorizationCode {
    pub digest: String,
    pub organization_id: OrgId,
    pub app_id: AppId,
    /// The user.
    pub subject: String,
    /// The hosted session it came from.
    pub session_id: String,
    /// The redirect URI of the request, which the exchange must repeat.
    pub redirect_uri: String,
    /// The S256 PKCE challenge.
    pub code_challenge: String,
    /// The granted scope (OpenID Connect scopes and permissions).
    pub scope: String,
    /// The request's `nonce`, for the ID token.
    pub nonce: Option<String>,
    pub auth_time: Timestamp,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// When it was exchanged.
    pub used_at: Option<Timestamp>,
    /// The sign-in the exchange made.
    pub family_id: Option<String>,
}

impl AuthorizationCode {
    /// Stores a new code.
    pub fn insert(conn: &mut DbConn, code: &Self) -> QueryResult<()> {
        diesel::insert_into(authorization_codes::table)
            .values(code)
            .execute(conn)
            .map(|_| ())
    }

    /// One code by digest.
    pub fn find(conn: &mut DbConn, digest: &str) -> QueryResult<Option<Self>> {
        authorization_codes::table
            .find(digest)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Marks the code used, in the statement that checks it was not: true for
    /// the one exchange that wins.
    pub fn use_up(conn: &mut DbConn, digest: &str, now: Timestamp) -> QueryResult<bool> {
        diesel::update(
            authorization_codes::table
                .find(digest)
                .filter(authorization_codes::used_at.is_null()),
        )
        .set(authorization_codes::used_at.eq(now))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Records the sign-in the code made.
    pub fn set_family(conn: &mut DbConn, digest: &str, family_id: &str) -> QueryResult<()> {
        diesel::update(authorization_codes::table.find(digest))
            .set(authorization_codes::family_id.eq(family_id))
            .execute(conn)
            .map(|_| ())
    }

    /// Forgets codes that expired before `before`: how many.
    pub fn delete_expired(conn: &mut DbConn, before: Timestamp) -> QueryResult<usize> {
        diesel::delete(
            authorization_codes::table.filter(authorization_codes::expires_at.lt(before)),
        )
        .execute(conn)
    }
}
