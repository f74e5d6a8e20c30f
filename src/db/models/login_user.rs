//! App users' sign-in credentials (`user_credentials`) and their one-time
//! password links (`user_links`).

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::{user_credentials, user_links};
use crate::domain::{LinkPurpose, OrgId, UserRef};

/// How long a password link works.
pub const LINK_LIFETIME: time::Duration = time::Duration::hours(24);

/// A user's credentials as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_credentials)]
pub struct UserCredential {
    /// `employee:<id>` or `guest:<id>`.
    pub subject: String,
    pub organization_id: OrgId,
    /// `employee` or `guest`.
    pub user_type: String,
    pub user_id: String,
    /// Argon2id PHC string; `None` until the user sets a password (or after a reset).
    pub password_hash: Option<String>,
    pub password_set_at: Option<Timestamp>,
    /// A blocked guest cannot sign in.
    pub blocked_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl UserCredential {
    /// The user, from the subject.
    pub fn user(&self) -> Option<UserRef> {
        UserRef::from_subject(&self.subject)
    }

    /// Whether a password is set.
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }

    /// The user's credentials in the organization.
    pub fn find(conn: &mut DbConn, org: &OrgId, user: &UserRef) -> QueryResult<Option<Self>> {
        user_credentials::table
            .find(user.subject())
            .filter(user_credentials::organization_id.eq(org))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// The user's credentials, made (without a password) if they have none yet.
    pub fn ensure(
        conn: &mut DbConn,
        org: &OrgId,
        user: &UserRef,
        now: Timestamp,
    ) -> QueryResult<Self> {
        if let Some(found) = Self::find(conn, org, user)? {
            return Ok(found);
        }
        let row = Self {
            subject: user.subject(),
            organization_id: org.clone(),
            user_type: user.user_type().as_str().to_owned(),
            user_id: user.user_id().to_owned(),
            password_hash: None,
            password_set_at: None,
            blocked_at: None,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(user_credentials::table)
            .values(&row)
            .execute(conn)?;
        Ok(row)
    }

    /// Sets (or, with `None`, clears) the password.
    pub fn set_password(
        conn: &mut DbConn,
        subject: &str,
        hash: Option<&str>,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(user_credentials::table.find(subject))
            .set((
                user_credentials::password_hash.eq(hash),
                user_credentials::password_set_at.eq(hash.map(|_| now)),
                user_credentials::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Blocks the user (`Some(now)`) or lets them sign in again (`None`).
    pub fn set_blocked(
        conn: &mut DbConn,
        subject: &str,
        blocked_at: Option<Timestamp>,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(user_credentials::table.find(subject))
            .set((
                user_credentials::blocked_at.eq(blocked_at),
                user_credentials::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Every credential of one kind of user in the organization, for a list page.
    pub fn list_of_type(conn: &mut DbConn, org: &OrgId, user_type: &str) -> QueryResult<Vec<Self>> {
        user_credentials::table
            .filter(user_credentials::organization_id.eq(org))
            .filter(user_credentials::user_type.eq(user_type))
            .select(Self::as_select())
            .load(conn)
    }
}

/// A one-time password link as stored: only its token's digest.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_links)]
pub struct UserLink {
    /// SHA-256 (hex) of the link's token.
    pub token_digest: String,
    pub organization_id: OrgId,
    pub subject: String,
    /// `invitation` or `reset`.
    pub purpose: String,
    /// The admin who sent it.
    pub created_by: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

impl UserLink {
    /// Why it was sent.
    pub fn purpose(&self) -> LinkPurpose {
        LinkPurpose::parse(&self.purpose).unwrap_or(LinkPurpose::Reset)
    }

    /// Stores a new link for its subject, replacing the subject's unused ones.
    pub fn replace(conn: &mut DbConn, link: &Self) -> QueryResult<()> {
        diesel::delete(
            user_links::table
                .filter(user_links::subject.eq(&link.subject))
                .filter(user_links::used_at.is_null()),
        )
        .execute(conn)?;
        diesel::insert_into(user_links::table)
            .values(link)
            .execute(conn)
            .map(|_| ())
    }

    /// The unused, unexpired link with this digest.
    pub fn find_usable(
        conn: &mut DbConn,
        token_digest: &str,
        now: Timestamp,
    ) -> QueryResult<Option<Self>> {
        user_links::table
            .find(token_digest)
            .filter(user_links::used_at.is_null())
            .filter(user_links::expires_at.gt(now))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Uses the link up: false when it was already used or has expired (a
    /// second submission of the same link changes nothing).
    pub fn use_up(conn: &mut DbConn, token_digest: &str, now: Timestamp) -> QueryResult<bool> {
        diesel::update(
            user_links::table
                .find(token_digest)
                .filter(user_links::used_at.is_null())
                .filter(user_links::expires_at.gt(now)),
        )
        .set(user_links::used_at.eq(now))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Whether the subject has an unused link made after `since`.
    pub fn sent_since(conn: &mut DbConn, subject: &str, since: Timestamp) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            user_links::table
                .filter(user_links::subject.eq(subject))
                .filter(user_links::used_at.is_null())
                .filter(user_links::created_at.gt(since)),
        ))
        .get_result(conn)
    }

    /// Ends the subject's unused links (the user left, or was blocked).
    pub fn cancel_for(conn: &mut DbConn, subject: &str) -> QueryResult<usize> {
        diesel::delete(
            user_links::table
                .filter(user_links::subject.eq(subject))
                .filter(user_links::used_at.is_null()),
        )
        .execute(conn)
    }
}
