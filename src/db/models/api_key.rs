//! API keys: each app's credentials for the platform API.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::api_keys;
use crate::domain::key_token;
use crate::domain::scopes::PermissionSet;
use crate::domain::{AdminId, AppId, KeyId, OrgId};

/// The most keys one app may hold.
pub const MAX_KEYS_PER_APP: i64 = 20;

/// A key's state as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Works.
    Active,
    /// Switched off.
    Inactive,
    /// Past its expiry.
    Expired,
}

/// A key as stored: never its secret, only a keyed digest.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: KeyId,
    pub app_id: AppId,
    pub organization_id: OrgId,
    /// The public part of the key's text.
    pub public_id: String,
    /// HMAC-SHA-256 of the secret part, hex.
    pub secret_digest: String,
    /// The last four characters of the key's text.
    pub last_four: String,
    pub name: String,
    pub description: String,
    /// Space-separated permissions.
    pub permissions: String,
    /// Whether it works.
    pub active: bool,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
    /// The nonce of the form that created it, against double submits.
    pub creation_nonce: Option<String>,
    /// The admin who created it.
    pub created_by: Option<AdminId>,
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A key to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    pub id: &'a KeyId,
    pub app_id: &'a AppId,
    pub organization_id: &'a OrgId,
    pub public_id: &'a str,
    /// Keyed digest of the secret.
    pub secret_digest: &'a str,
    /// Last four characters.
    pub last_four: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    /// Space-separated permissions.
    pub permissions: &'a str,
    pub active: bool,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
    /// Form nonce.
    pub creation_nonce: Option<&'a str>,
    /// Creator.
    pub created_by: Option<&'a AdminId>,
    /// Now.
    pub created_at: Timestamp,
    /// Now.
    pub updated_at: Timestamp,
}

/// The editable fields.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = api_keys, treat_none_as_null = true)]
pub struct ApiKeyChanges<'a> {
    pub name: &'a str,
    pub description: &'a str,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
    pub active: bool,
    pub permissions: &'a str,
    /// Now.
    pub updated_at: Timestamp,
}

impl ApiKey {
    /// Its permissions.
    pub fn permission_set(&self) -> PermissionSet {
        PermissionSet::from_stored(&self.permissions)
    }

    /// Active, inactive or expired at `now`.
    pub fn status(&self, now: Timestamp) -> KeyStatus {
        if self.expires_at.is_some_and(|t| t <= now) {
            KeyStatus::Expired
        } else if self.active {
            KeyStatus::Active
        } else {
            KeyStatus::Inactive
        }
    }

    /// The masked key.
    pub fn masked(&self) -> String {
        key_token::mask(&self.public_id, &self.last_four)
    }

    /// The keys of an app, oldest first.
    pub fn list_for_app(conn: &mut DbConn, app_id: &AppId) -> QueryResult<Vec<ApiKey>> {
        api_keys::table
            .filter(api_keys::app_id.eq(app_id))
            .order((api_keys::created_at.asc(), api_keys::id.asc()))
            .select(Self::as_select())
            .load(conn)
    }

    /// How many keys an app has.
    pub fn count_for_app(conn: &mut DbConn, app_id: &AppId) -> QueryResult<i64> {
        api_keys::table
            .filter(api_keys::app_id.eq(app_id))
            .count()
            .get_result(conn)
    }

    /// One key of an app.
    pub fn find(conn: &mut DbConn, app_id: &AppId, id: &KeyId) -> QueryResult<Option<ApiKey>> {
        api_keys::table
            .find(id)
            .filter(api_keys::app_id.eq(app_id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// How many keys each of `app_ids` has; apps without keys are left out.
    pub fn count_by_app(conn: &mut DbConn, app_ids: &[&AppId]) -> QueryResult<Vec<(AppId, i64)>> {
        api_keys::table
            .filter(api_keys::app_id.eq_any(app_ids))
            .group_by(api_keys::app_id)
            .select((api_keys::app_id, diesel::dsl::count_star()))
            .load(conn)
    }

    /// Records when keys were last used (a batch from the credential check): a
    /// time never moves back.
    pub fn record_uses(conn: &mut DbConn, uses: &[(KeyId, Timestamp)]) -> QueryResult<()> {
        for (id, at) in uses {
            diesel::update(
                api_keys::table.find(id).filter(
                    api_keys::last_used_at
                        .is_null()
                        .or(api_keys::last_used_at.lt(*at)),
                ),
            )
            .set(api_keys::last_used_at.eq(Some(*at)))
            .execute(conn)?;
        }
        Ok(())
    }

    /// The key a creation form made, if it was submitted before.
    pub fn find_by_nonce(conn: &mut DbConn, nonce: &str) -> QueryResult<Option<ApiKey>> {
        api_keys::table
            .filter(api_keys::creation_nonce.eq(nonce))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// By the public part of its text.
    pub fn find_by_public_id(conn: &mut DbConn, public_id: &str) -> QueryResult<Option<ApiKey>> {
        api_keys::table
            .filter(api_keys::public_id.eq(public_id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Inserts a key.
    pub fn insert(conn: &mut DbConn, new: &NewApiKey<'_>) -> QueryResult<()> {
        diesel::insert_into(api_keys::table)
            .values(new)
            .execute(conn)
            .map(|_| ())
    }

    /// Applies an edit.
    pub fn update(conn: &mut DbConn, id: &KeyId, changes: &ApiKeyChanges<'_>) -> QueryResult<()> {
        diesel::update(api_keys::table.find(id))
            .set(changes)
            .execute(conn)
            .map(|_| ())
    }

    /// Switches it on or off.
    pub fn set_active(
        conn: &mut DbConn,
        id: &KeyId,
        active: bool,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(api_keys::table.find(id))
            .set((api_keys::active.eq(active), api_keys::updated_at.eq(now)))
            .execute(conn)
            .map(|_| ())
    }

    /// Replaces its permissions.
    pub fn set_permissions(
        conn: &mut DbConn,
        id: &KeyId,
        permissions: &PermissionSet,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(api_keys::table.find(id))
            .set((
                api_keys::permissions.eq(permissions.to_stored()),
                api_keys::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Deletes it for good.
    pub fn delete(conn: &mut DbConn, id: &KeyId) -> QueryResult<()> {
        diesel::delete(api_keys::table.find(id))
            .execute(conn)
            .map(|_| ())
    }
}
