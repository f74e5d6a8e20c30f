//! An admin's passkeys and security keys (WebAuthn credentials): the public
//! key and signature counter, as the `webauthn-rs` `Passkey` JSON.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::admin_passkeys;
use crate::domain::AdminId;

/// A passkey as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admin_passkeys)]
pub struct AdminPasskey {
    pub id: String,
    pub admin_id: AdminId,
    /// The admin's name for it.
    pub name: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// The `webauthn_rs::prelude::Passkey`, as JSON.
    pub passkey: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl AdminPasskey {
    /// An admin's passkeys, oldest first.
    pub fn list_for_admin(conn: &mut DbConn, admin: &AdminId) -> QueryResult<Vec<AdminPasskey>> {
        admin_passkeys::table
            .filter(admin_passkeys::admin_id.eq(admin))
            .order(admin_passkeys::created_at.asc())
            .select(Self::as_select())
            .load(conn)
    }

    /// How many passkeys an admin has.
    pub fn count_for_admin(conn: &mut DbConn, admin: &AdminId) -> QueryResult<i64> {
        admin_passkeys::table
            .filter(admin_passkeys::admin_id.eq(admin))
            .count()
            .get_result(conn)
    }

    /// Whether a credential id is registered to anyone.
    pub fn credential_exists(conn: &mut DbConn, credential_id: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            admin_passkeys::table.filter(admin_passkeys::credential_id.eq(credential_id)),
        ))
        .get_result(conn)
    }

    /// Stores a new passkey.
    pub fn insert(
        conn: &mut DbConn,
        id: &str,
        admin: &AdminId,
        name: &str,
        credential_id: &str,
        passkey: &str,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::insert_into(admin_passkeys::table)
            .values((
                admin_passkeys::id.eq(id),
                admin_passkeys::admin_id.eq(admin),
                admin_passkeys::name.eq(name),
                admin_passkeys::credential_id.eq(credential_id),
                admin_passkeys::passkey.eq(passkey),
                admin_passkeys::created_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Records a use: its new counter state and when.
    pub fn record_use(
        conn: &mut DbConn,
        admin: &AdminId,
        credential_id: &str,
        passkey: &str,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(
            admin_passkeys::table
                .filter(admin_passkeys::admin_id.eq(admin))
                .filter(admin_passkeys::credential_id.eq(credential_id)),
        )
        .set((
            admin_passkeys::passkey.eq(passkey),
            admin_passkeys::last_used_at.eq(Some(now)),
        ))
        .execute(conn)
        .map(|_| ())
    }

    /// Removes one of an admin's passkeys; the removed row, if it was theirs.
    pub fn delete(
        conn: &mut DbConn,
        admin: &AdminId,
        id: &str,
    ) -> QueryResult<Option<AdminPasskey>> {
        let found = admin_passkeys::table
            .find(id)
            .filter(admin_passkeys::admin_id.eq(admin))
            .select(Self::as_select())
            .first(conn)
            .optional()?;
        if found.is_some() {
            diesel::delete(admin_passkeys::table.find(id)).execute(conn)?;
        }
        Ok(found)
    }
}
