//! Deleted keys, kept without their secret's digest for the inventory of
//! retired keys on their app's page; and what that inventory lists.

use diesel::prelude::*;

use super::api_key::ApiKey;
use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::{api_keys, retired_keys};
use crate::domain::{AppId, IpAllowlist, KeyId, OrgId, RateLimits};

/// Why a key left service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetiredBecause {
    /// It reached its expiry.
    Expired,
    /// It was rolled and its grace period ended.
    Rolled,
    /// It was deleted while still in service (inactive).
    Deleted,
    /// A second roll of its predecessor replaced it before it was used.
    Replaced,
}

impl RetiredBecause {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Rolled => "rolled",
            Self::Deleted => "deleted",
            Self::Replaced => "replaced",
        }
    }

    /// From the stored name (`deleted` for anything else).
    pub fn parse(s: &str) -> Self {
        match s {
            "expired" => Self::Expired,
            "rolled" => Self::Rolled,
            "replaced" => Self::Replaced,
            _ => Self::Deleted,
        }
    }

    /// In words, as the inventory says it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Expired => "Expired",
            Self::Rolled => "Rolled out",
            Self::Deleted => "Deleted",
            Self::Replaced => "Replaced by a second roll",
        }
    }
}

/// A deleted key, as the inventory keeps it: never its secret or digest.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = retired_keys)]
pub struct RetiredKey {
    pub id: KeyId,
    pub organization_id: OrgId,
    pub app_id: AppId,
    pub name: String,
    pub description: String,
    /// The masked key text.
    pub masked: String,
    /// Space-separated permissions.
    pub permissions: String,
    /// The allowlist, stored form.
    pub allowed_ips: String,
    pub rate_per_second: Option<i32>,
    pub rate_per_minute: Option<i32>,
    pub created_at: Timestamp,
    /// When it left service.
    pub ended_at: Timestamp,
    /// Why (`RetiredBecause`).
    pub reason: String,
    /// Who ended it (an actor's label), when someone did.
    pub ended_by: Option<String>,
    /// The key a roll replaced it with.
    pub rolled_to_id: Option<KeyId>,
    /// When it was deleted.
    pub deleted_at: Timestamp,
}

impl RetiredKey {
    /// What the inventory keeps of `key`, deleted by `by` at `now`: why it
    /// left service is what had ended it by then (its grace, its expiry), or
    /// the deletion itself.
    pub fn of_deleted(key: &ApiKey, by: &str, now: Timestamp, replaced: bool) -> Self {
        let (reason, ended_at, ended_by) = if replaced {
            (RetiredBecause::Replaced, now, Some(by.to_owned()))
        } else {
            match key.expires_at.filter(|t| *t <= now) {
                Some(t) if key.rolled_to_id.is_some() => {
                    (RetiredBecause::Rolled, t, key.rolled_by.clone())
                }
                Some(t) => (RetiredBecause::Expired, t, None),
                None => (RetiredBecause::Deleted, now, Some(by.to_owned())),
            }
        };
        Self {
            id: key.id.clone(),
            organization_id: key.organization_id.clone(),
            app_id: key.app_id.clone(),
            name: key.name.clone(),
            description: key.description.clone(),
            masked: key.masked(),
            permissions: key.permissions.clone(),
            allowed_ips: key.allowed_ips.clone(),
            rate_per_second: key.rate_per_second,
            rate_per_minute: key.rate_per_minute,
            created_at: key.created_at,
            ended_at,
            reason: reason.as_str().to_owned(),
            ended_by,
            rolled_to_id: key.rolled_to_id.clone(),
            deleted_at: now,
        }
    }

    /// Why it left service.
    pub fn because(&self) -> RetiredBecause {
        RetiredBecause::parse(&self.reason)
    }

    /// Its allowlist.
    pub fn allowlist(&self) -> IpAllowlist {
        IpAllowlist::from_stored(&self.allowed_ips)
    }

    /// Its rate limits.
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits::from_stored(self.rate_per_second, self.rate_per_minute)
    }

    /// Keeps a deleted key in the inventory.
    pub fn insert(conn: &mut DbConn, row: &RetiredKey) -> QueryResult<()> {
        diesel::insert_into(retired_keys::table)
            .values(row)
            .execute(conn)
            .map(|_| ())
    }

    /// The deleted keys of an app, latest ended first.
    pub fn list_for_app(conn: &mut DbConn, app_id: &AppId) -> QueryResult<Vec<RetiredKey>> {
        retired_keys::table
            .filter(retired_keys::app_id.eq(app_id))
            .order((retired_keys::ended_at.desc(), retired_keys::id.desc()))
            .select(Self::as_select())
            .load(conn)
    }

    /// The organization's deleted keys of these ids.
    pub fn find_many(
        conn: &mut DbConn,
        organization_id: &OrgId,
        ids: &[KeyId],
    ) -> QueryResult<Vec<RetiredKey>> {
        retired_keys::table
            .filter(retired_keys::organization_id.eq(organization_id))
            .filter(retired_keys::id.eq_any(ids))
            .select(Self::as_select())
            .load(conn)
    }

    /// One deleted key of an app.
    pub fn find(conn: &mut DbConn, app_id: &AppId, id: &KeyId) -> QueryResult<Option<RetiredKey>> {
        retired_keys::table
            .find(id)
            .filter(retired_keys::app_id.eq(app_id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Forgets what the organization retired before `before`: deleted keys
    /// deleted then, and keys that expired or were rolled out then (they
    /// are deleted, with their addresses and alerts). Returns how many.
    pub fn prune(
        conn: &mut DbConn,
        organization_id: &OrgId,
        before: Timestamp,
    ) -> QueryResult<usize> {
        let gone = diesel::delete(
            retired_keys::table
                .filter(retired_keys::organization_id.eq(organization_id))
                .filter(retired_keys::deleted_at.lt(before)),
        )
        .execute(conn)?;
        let expired: Vec<KeyId> = api_keys::table
            .filter(api_keys::organization_id.eq(organization_id))
            .filter(api_keys::expires_at.lt(before))
            .select(api_keys::id)
            .load(conn)?;
        for id in &expired {
            ApiKey::delete(conn, id)?;
        }
        Ok(gone + expired.len())
    }
}
