//! One-time links for admins: invitations and password resets, stored as the
//! SHA-256 of the link's token, each used once.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::admin_links;
use crate::domain::{AdminId, OrgId};

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminLinkPurpose {
    /// Makes a new admin, who chooses a password.
    Invitation,
    /// Sets a new password for an admin who forgot theirs.
    Reset,
}

impl AdminLinkPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::Reset => "reset",
        }
    }
}

/// A link as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admin_links)]
pub struct AdminLink {
    pub id: String,
    pub token_digest: String,
    /// `invitation` or `reset`.
    pub purpose: String,
    pub organization_id: OrgId,
    /// Lower-cased email of the invited or resetting admin.
    pub email: String,
    /// The role an invitation gives.
    pub role: String,
    /// The admin a reset is for.
    pub admin_id: Option<AdminId>,
    /// The admin who sent an invitation.
    pub created_by: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// A new link.
#[derive(Debug, Insertable)]
#[diesel(table_name = admin_links)]
pub struct NewAdminLink<'a> {
    pub id: &'a str,
    pub token_digest: &'a str,
    pub purpose: &'a str,
    pub organization_id: &'a OrgId,
    pub email: &'a str,
    pub role: &'a str,
    pub admin_id: Option<&'a AdminId>,
    pub created_by: Option<&'a str>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl AdminLink {
    /// Inserts `new`.
    pub fn insert(conn: &mut DbConn, new: &NewAdminLink<'_>) -> QueryResult<()> {
        diesel::insert_into(admin_links::table)
            .values(new)
            .execute(conn)
            .map(|_| ())
    }

    /// An unused, unexpired link of `purpose` by its token's digest.
    pub fn find_live(
        conn: &mut DbConn,
        digest: &str,
        purpose: AdminLinkPurpose,
        now: Timestamp,
    ) -> QueryResult<Option<AdminLink>> {
        admin_links::table
            .filter(admin_links::token_digest.eq(digest))
            .filter(admin_links::purpose.eq(purpose.as_str()))
            .filter(admin_links::used_at.is_null())
            .filter(admin_links::expires_at.gt(now))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Uses the link up; false when it was used already (one conditional
    /// update, so two submissions cannot both use it).
    pub fn use_up(conn: &mut DbConn, id: &str, now: Timestamp) -> QueryResult<bool> {
        diesel::update(
            admin_links::table
                .find(id)
                .filter(admin_links::used_at.is_null()),
        )
        .set(admin_links::used_at.eq(Some(now)))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Withdraws every unused link of `purpose` for `email` in `org` (a new
    /// one replaces them, or the account they were for changed).
    pub fn withdraw(
        conn: &mut DbConn,
        org: &OrgId,
        email: &str,
        purpose: AdminLinkPurpose,
        now: Timestamp,
    ) -> QueryResult<usize> {
        diesel::update(
            admin_links::table
                .filter(admin_links::organization_id.eq(org))
                .filter(admin_links::email.eq(email))
                .filter(admin_links::purpose.eq(purpose.as_str()))
                .filter(admin_links::used_at.is_null()),
        )
        .set(admin_links::used_at.eq(Some(now)))
        .execute(conn)
    }

    /// The pending invitations of `org` (unused, unexpired), newest first.
    pub fn pending_invitations(
        conn: &mut DbConn,
        org: &OrgId,
        now: Timestamp,
    ) -> QueryResult<Vec<AdminLink>> {
        admin_links::table
            .filter(admin_links::organization_id.eq(org))
            .filter(admin_links::purpose.eq(AdminLinkPurpose::Invitation.as_str()))
            .filter(admin_links::used_at.is_null())
            .filter(admin_links::expires_at.gt(now))
            .order(admin_links::created_at.desc())
            .select(Self::as_select())
            .load(conn)
    }

    /// A pending invitation of `org` by id.
    pub fn find_invitation(
        conn: &mut DbConn,
        org: &OrgId,
        id: &str,
        now: Timestamp,
    ) -> QueryResult<Option<AdminLink>> {
        admin_links::table
            .find(id)
            .filter(admin_links::organization_id.eq(org))
            .filter(admin_links::purpose.eq(AdminLinkPurpose::Invitation.as_str()))
            .filter(admin_links::used_at.is_null())
            .filter(admin_links::expires_at.gt(now))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// When the last reset link for `admin` was made, if any.
    pub fn last_reset_at(conn: &mut DbConn, admin: &AdminId) -> QueryResult<Option<Timestamp>> {
        admin_links::table
            .filter(admin_links::admin_id.eq(admin))
            .filter(admin_links::purpose.eq(AdminLinkPurpose::Reset.as_str()))
            .select(diesel::dsl::max(admin_links::created_at))
            .first(conn)
    }

    /// Housekeeping: forgets links that expired or were used before `before`.
    pub fn delete_old(conn: &mut DbConn, before: Timestamp) -> QueryResult<usize> {
        diesel::delete(
            admin_links::table.filter(
                admin_links::expires_at
                    .le(before)
                    .or(admin_links::used_at.le(before)),
            ),
        )
        .execute(conn)
    }
}
