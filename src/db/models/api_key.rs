//! API keys: each app's credentials for the platform API.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::api_keys;
use crate::domain::key_token;
use crate::domain::scopes::PermissionSet;
use crate::domain::{AdminId, AppId, IpAllowlist, KeyId, OrgId, RateLimits};

/// A key's state as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Works.
    Active,
    /// Switched off.
    Inactive,
    /// Past its expiry.
    Expired,
    /// Rolled, and its grace period is over.
    RolledOut,
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
    /// The addresses and ranges it is accepted from, space-separated; empty
    /// is anywhere.
    pub allowed_ips: String,
    /// Requests per second, if limited.
    pub rate_per_second: Option<i32>,
    /// Requests per minute, if limited.
    pub rate_per_minute: Option<i32>,
    /// The key this one replaced by a roll.
    pub rolled_from_id: Option<KeyId>,
    /// The key that replaced this one by a roll.
    pub rolled_to_id: Option<KeyId>,
    /// When it was rolled.
    pub rolled_at: Option<Timestamp>,
    /// Who rolled it (the actor's label).
    pub rolled_by: Option<String>,
    /// Its expiry before the roll moved it to the grace's end.
    pub expiry_before_roll: Option<Timestamp>,
    /// The grace chosen at the roll, in seconds.
    pub grace_seconds: Option<i64>,
    /// The grace waits for the successor's first use.
    pub grace_on_first_use: bool,
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
    /// Allowlist, stored form.
    pub allowed_ips: &'a str,
    /// Per second.
    pub rate_per_second: Option<i32>,
    /// Per minute.
    pub rate_per_minute: Option<i32>,
    /// The key a roll replaces.
    pub rolled_from_id: Option<&'a KeyId>,
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
    /// Allowlist, stored form.
    pub allowed_ips: &'a str,
    /// Per second.
    pub rate_per_second: Option<i32>,
    /// Per minute.
    pub rate_per_minute: Option<i32>,
    /// Now.
    pub updated_at: Timestamp,
}

impl ApiKey {
    /// Its permissions.
    pub fn permission_set(&self) -> PermissionSet {
        PermissionSet::from_stored(&self.permissions)
    }

    /// Active, inactive, expired or rolled out at `now`.
    pub fn status(&self, now: Timestamp) -> KeyStatus {
        if self.expires_at.is_some_and(|t| t <= now) {
            if self.rolled_to_id.is_some() {
                KeyStatus::RolledOut
            } else {
                KeyStatus::Expired
            }
        } else if self.active {
            KeyStatus::Active
        } else {
            KeyStatus::Inactive
        }
    }

    /// Whether it is out of service for good at `now`: expired, or rolled
    /// out. Such keys are listed among the app's retired keys.
    pub fn is_retired(&self, now: Timestamp) -> bool {
        matches!(self.status(now), KeyStatus::Expired | KeyStatus::RolledOut)
    }

    /// Whether it was rolled and still works during its grace period.
    pub fn is_rolling(&self, now: Timestamp) -> bool {
        self.rolled_to_id.is_some() && !self.is_retired(now)
    }

    /// Its expiry of its own, before any roll moved it to a grace's end.
    pub fn own_expiry(&self) -> Option<Timestamp> {
        if self.rolled_at.is_some() {
            self.expiry_before_roll
        } else {
            self.expires_at
        }
    }

    /// When a rolled key's grace ends, once it has started (a grace that
    /// waits for the successor's first use has no end yet).
    pub fn grace_ends_at(&self) -> Option<Timestamp> {
        if self.rolled_to_id.is_some() && !self.grace_on_first_use {
            self.expires_at
        } else {
            None
        }
    }

    /// The addresses it is accepted from.
    pub fn allowlist(&self) -> IpAllowlist {
        IpAllowlist::from_stored(&self.allowed_ips)
    }

    /// Its rate limits.
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits::from_stored(self.rate_per_second, self.rate_per_minute)
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

    /// The organization's keys never used yet, oldest first, at most
    /// `limit` (the caller leaves out those no longer in service).
    pub fn never_used(
        conn: &mut DbConn,
        organization_id: &OrgId,
        limit: i64,
    ) -> QueryResult<Vec<ApiKey>> {
        api_keys::table
            .filter(api_keys::organization_id.eq(organization_id))
            .filter(api_keys::last_used_at.is_null())
            .order((api_keys::created_at.asc(), api_keys::id.asc()))
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
    }

    /// The organization's keys used since `used_since` that stop working
    /// after `now` and by `until` (their own expiry, or a roll's grace end),
    /// soonest first.
    pub fn expiring_in_use(
        conn: &mut DbConn,
        organization_id: &OrgId,
        used_since: Timestamp,
        now: Timestamp,
        until: Timestamp,
    ) -> QueryResult<Vec<ApiKey>> {
        api_keys::table
            .filter(api_keys::organization_id.eq(organization_id))
            .filter(api_keys::last_used_at.ge(used_since))
            .filter(api_keys::expires_at.gt(now))
            .filter(api_keys::expires_at.le(until))
            .order(api_keys::expires_at.asc())
            .limit(200)
            .select(Self::as_select())
            .load(conn)
    }

    /// The organization's keys of these ids.
    pub fn find_many(
        conn: &mut DbConn,
        organization_id: &OrgId,
        ids: &[KeyId],
    ) -> QueryResult<Vec<ApiKey>> {
        api_keys::table
            .filter(api_keys::organization_id.eq(organization_id))
            .filter(api_keys::id.eq_any(ids))
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

    /// How many of an app's keys are in service at `now` (not expired or
    /// rolled out): what the limit of keys per app counts.
    pub fn count_in_service(conn: &mut DbConn, app_id: &AppId, now: Timestamp) -> QueryResult<i64> {
        api_keys::table
            .filter(api_keys::app_id.eq(app_id))
            .filter(
                api_keys::expires_at
                    .is_null()
                    .or(api_keys::expires_at.gt(now)),
            )
            .count()
            .get_result(conn)
    }

    /// How many keys each of these organizations has in service at `now`.
    pub fn counts_in_service_by_org(
        conn: &mut DbConn,
        orgs: &[OrgId],
        now: Timestamp,
    ) -> QueryResult<Vec<(OrgId, i64)>> {
        api_keys::table
            .filter(api_keys::organization_id.eq_any(orgs))
            .filter(
                api_keys::expires_at
                    .is_null()
                    .or(api_keys::expires_at.gt(now)),
            )
            .group_by(api_keys::organization_id)
            .select((api_keys::organization_id, diesel::dsl::count_star()))
            .load(conn)
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

    /// Marks `id` rolled to `successor` at `now` by `by`: it works until
    /// `expires_at` (its grace's end, or its own expiry while the grace waits
    /// for the successor's first use). `expiry_before_roll` is its expiry
    /// before the first roll, kept so a second roll counts from it.
    #[allow(clippy::too_many_arguments)]
    pub fn set_rolled(
        conn: &mut DbConn,
        id: &KeyId,
        successor: &KeyId,
        by: &str,
        expiry_before_roll: Option<Timestamp>,
        expires_at: Option<Timestamp>,
        grace: (i64, bool),
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(api_keys::table.find(id))
            .set((
                api_keys::rolled_to_id.eq(Some(successor)),
                api_keys::rolled_at.eq(Some(now)),
                api_keys::rolled_by.eq(Some(by)),
                api_keys::expiry_before_roll.eq(expiry_before_roll),
                api_keys::expires_at.eq(expires_at),
                api_keys::grace_seconds.eq(Some(grace.0)),
                api_keys::grace_on_first_use.eq(grace.1),
                api_keys::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Undoes a roll: the key works until its own expiry again, rolled to
    /// nothing.
    pub fn cancel_roll(conn: &mut DbConn, id: &KeyId, now: Timestamp) -> QueryResult<()> {
        let own: Option<Option<Timestamp>> = api_keys::table
            .find(id)
            .select(api_keys::expiry_before_roll)
            .first(conn)
            .optional()?;
        diesel::update(api_keys::table.find(id))
            .set((
                api_keys::rolled_to_id.eq(None::<KeyId>),
                api_keys::rolled_at.eq(None::<Timestamp>),
                api_keys::rolled_by.eq(None::<String>),
                api_keys::expires_at.eq(own.flatten()),
                api_keys::expiry_before_roll.eq(None::<Timestamp>),
                api_keys::grace_seconds.eq(None::<i64>),
                api_keys::grace_on_first_use.eq(false),
                api_keys::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// The key rolled to `successor` whose grace waits for the successor's
    /// first use, if any.
    pub fn awaiting_first_use_of(
        conn: &mut DbConn,
        successor: &KeyId,
    ) -> QueryResult<Option<ApiKey>> {
        api_keys::table
            .filter(api_keys::rolled_to_id.eq(successor))
            .filter(api_keys::grace_on_first_use.eq(true))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Starts a waiting grace: the key now works until `expires_at`. False
    /// when another instance started it first.
    pub fn start_grace(
        conn: &mut DbConn,
        id: &KeyId,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> QueryResult<bool> {
        diesel::update(
            api_keys::table
                .find(id)
                .filter(api_keys::grace_on_first_use.eq(true)),
        )
        .set((
            api_keys::grace_on_first_use.eq(false),
            api_keys::expires_at.eq(expires_at),
            api_keys::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Deletes it for good.
    pub fn delete(conn: &mut DbConn, id: &KeyId) -> QueryResult<()> {
        diesel::delete(api_keys::table.find(id))
            .execute(conn)
            .map(|_| ())
    }
}
