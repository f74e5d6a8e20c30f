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
    /// Since when the admin may not sign in, if disabled.
    pub disabled_at: Option<Timestamp>,
    /// The TOTP secret, sealed under the server key (`totp:<admin id>`).
    pub totp_secret: Option<String>,
    /// When TOTP sign-in was confirmed with a first code.
    pub totp_enabled_at: Option<Timestamp>,
    /// The last accepted TOTP time step: a code is accepted once only
    /// (RFC 6238 §5.2).
    pub totp_last_step: Option<i64>,
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

    /// Whether the admin may sign in.
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// Whether TOTP sign-in is on.
    pub fn has_totp(&self) -> bool {
        self.totp_enabled_at.is_some() && self.totp_secret.is_some()
    }

    /// An organization's admins, by email.
    pub fn list_for_org(conn: &mut DbConn, org: &OrgId) -> QueryResult<Vec<Admin>> {
        admins::table
            .filter(admins::organization_id.eq(org))
            .order(admins::email.asc())
            .select(Self::as_select())
            .load(conn)
    }

    /// An admin of `org` by id: another organization's is not found.
    pub fn find_in_org(conn: &mut DbConn, org: &OrgId, id: &AdminId) -> QueryResult<Option<Admin>> {
        admins::table
            .find(id)
            .filter(admins::organization_id.eq(org))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// The full-access admins of `org` who may sign in, locked until the
    /// transaction ends on PostgreSQL (SQLite's write transactions already run
    /// one at a time): two changes cannot each leave the other the last one.
    pub fn active_full_ids_for_update(conn: &mut DbConn, org: &OrgId) -> QueryResult<Vec<AdminId>> {
        let query = admins::table
            .filter(admins::organization_id.eq(org))
            .filter(admins::role.eq(Role::Full.as_str()))
            .filter(admins::disabled_at.is_null())
            .select(admins::id);
        match conn {
            DbConn::Postgres(c) => query.for_update().load(c),
            DbConn::Sqlite(c) => query.load(c),
        }
    }

    /// Changes the role.
    pub fn set_role(
        conn: &mut DbConn,
        id: &AdminId,
        role: Role,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(admins::table.find(id))
            .set((admins::role.eq(role.as_str()), admins::updated_at.eq(now)))
            .execute(conn)
            .map(|_| ())
    }

    /// Disables (`Some(now)`) or enables (`None`) the account.
    pub fn set_disabled(
        conn: &mut DbConn,
        id: &AdminId,
        disabled_at: Option<Timestamp>,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(admins::table.find(id))
            .set((
                admins::disabled_at.eq(disabled_at),
                admins::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Removes the account (its sessions, tokens and factors go with it).
    pub fn delete(conn: &mut DbConn, id: &AdminId) -> QueryResult<()> {
        diesel::delete(admins::table.find(id))
            .execute(conn)
            .map(|_| ())
    }

    /// A new password: sessions signed in before `now` stop matching.
    pub fn set_password(
        conn: &mut DbConn,
        id: &AdminId,
        hash: &str,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(admins::table.find(id))
            .set((
                admins::password_hash.eq(hash),
                admins::password_changed_at.eq(now),
                admins::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Turns TOTP on with a sealed secret and its first accepted step, or off.
    pub fn set_totp(
        conn: &mut DbConn,
        id: &AdminId,
        sealed: Option<&str>,
        step: Option<i64>,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(admins::table.find(id))
            .set((
                admins::totp_secret.eq(sealed),
                admins::totp_enabled_at.eq(sealed.map(|_| now)),
                admins::totp_last_step.eq(step),
                admins::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Accepts TOTP step `step` unless it or a later one was accepted already:
    /// one conditional update, so two requests with one code cannot both pass
    /// (RFC 6238 §5.2).
    pub fn accept_totp_step(conn: &mut DbConn, id: &AdminId, step: i64) -> QueryResult<bool> {
        diesel::update(
            admins::table.find(id).filter(
                admins::totp_last_step
                    .is_null()
                    .or(admins::totp_last_step.lt(step)),
            ),
        )
        .set(admins::totp_last_step.eq(Some(step)))
        .execute(conn)
        .map(|n| n == 1)
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
            .filter(admins::disabled_at.is_null())
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
