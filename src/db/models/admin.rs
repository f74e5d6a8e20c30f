//! Admins: the people who sign in to the console.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::admins;
use crate::domain::{AdminId, OrgId};

/// What an admin may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including the API keys section.
    Full,
    /// Everything but the API keys section (applications, keys, secrets).
    Limited,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Limited => "limited",
        }
    }

    /// Parses a stored or typed name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Self::Full),
            "limited" => Some(Self::Limited),
            _ => None,
        }
    }

    /// Words for the console.
    pub fn label(self) -> &'static str {
        match self {
            Self::Full => "Full access",
            Self::Limited => "Limited access",
        }
    }
}

/// An admin as stored.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = admins)]
pub struct Admin {
    pub id: AdminId,
    pub organization_id: OrgId,
    /// Lower-cased email, the sign-in name.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// `full` or `limited`.
    pub role: String,
    /// When the password last changed: sessions from before it stop working.
    pub password_changed_at: Timestamp,
    /// Last successful sign-in.
    pub last_sign_in_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A new admin.
#[derive(Debug, Insertable)]
#[diesel(table_name = admins)]
pub struct NewAdmin<'a> {
    pub id: &'a AdminId,
    pub organization_id: &'a OrgId,
    /// Lower-cased email.
    pub email: &'a str,
    /// Argon2id PHC string.
    pub password_hash: &'a str,
    /// `full` or `limited`.
    pub role: &'a str,
    /// Now.
    pub password_changed_at: Timestamp,
    /// Now.
    pub created_at: Timestamp,
    /// Now.
    pub updated_at: Timestamp,
}

impl Admin {
    /// The admin's role; an unknown stored value counts as limited.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Limited)
    }

    /// By id.
    pub fn find_by_id(conn: &mut DbConn, id: &AdminId) -> QueryResult<Option<Admin>> {
        admins::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// By (lower-cased) email.
    pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<Admin>> {
        admins::table
            .filter(admins::email.eq(email))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Every admin's email (to refuse a look-alike of one).
    pub fn all_emails(conn: &mut DbConn) -> QueryResult<Vec<String>> {
        admins::table.select(admins::email).load(conn)
    }

    /// The emails of an organization's full-access admins, oldest first:
    /// whom to contact about its keys.
    pub fn full_access_emails(conn: &mut DbConn, org: &OrgId) -> QueryResult<Vec<String>> {
        admins::table
            .filter(admins::organization_id.eq(org))
            .filter(admins::role.eq(Role::Full.as_str()))
            .order(admins::created_at.asc())
            .select(admins::email)
            .load(conn)
    }

    /// How many admins exist.
    pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
        admins::table.count().get_result(conn)
    }

    /// Inserts `new`.
    pub fn insert(conn: &mut DbConn, new: &NewAdmin<'_>) -> QueryResult<()> {
        diesel::insert_into(admins::table)
            .values(new)
            .execute(conn)
            .map(|_| ())
    }

    /// Replaces the stored hash of the same password (its password_changed_at
    /// stays, so sessions stay valid).
    pub fn set_password_hash(conn: &mut DbConn, id: &AdminId, hash: &str) -> QueryResult<()> {
        diesel::update(admins::table.find(id))
            .set(admins::password_hash.eq(hash))
            .execute(conn)
            .map(|_| ())
    }

    /// Records a successful sign-in.
    pub fn touch_sign_in(conn: &mut DbConn, id: &AdminId, now: Timestamp) -> QueryResult<()> {
        diesel::update(admins::table.find(id))
            .set(admins::last_sign_in_at.eq(Some(now)))
            .execute(conn)
            .map(|_| ())
    }
}
