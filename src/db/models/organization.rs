//! The organization: the business whose apps and keys Keyward manages.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::organizations;
use crate::domain::OrgId;

/// An organization, with its feature flags and key policies.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// IANA time zone name, for showing dates in emails.
    pub time_zone: String,
    /// Whether external systems may call the API at all (else 402).
    pub external_connectivity: bool,
    /// Default lifetime of a new key, in days.
    pub key_default_lifetime_days: Option<i32>,
    /// Maximum lifetime of a key, in days.
    pub key_max_lifetime_days: Option<i32>,
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Whether the Expiry of API keys alert is on.
    pub alerts_enabled: bool,
    /// Days before expiry to alert, comma-separated.
    pub alert_thresholds: String,
    /// Lifetime of an access token, in minutes.
    pub access_token_minutes: i32,
    /// Absolute lifetime of a sign-in's refresh tokens, in days.
    pub refresh_token_days: i32,
    /// A refresh token unused this many days expires.
    pub refresh_idle_days: i32,
    /// A retired refresh token presented again within this many seconds of
    /// its rotation gets the same new pair instead of revoking its family.
    pub refresh_grace_seconds: i32,
    /// The key policy's default requests per second for a new key.
    pub key_default_rate_per_second: Option<i32>,
    /// The key policy's default requests per minute for a new key.
    pub key_default_rate_per_minute: Option<i32>,
    /// How many days retired keys stay listed on their app's page.
    pub retired_keys_days: i32,
    /// Minute usage buckets are kept this many hours.
    pub usage_minutes_hours: i32,
    /// Hour usage buckets are kept this many days.
    pub usage_hours_days: i32,
    /// Day usage buckets are kept this many days.
    pub usage_days_days: i32,
    /// The request log's sample of allowed requests, in basis points.
    pub log_sample_basis_points: i32,
    /// Request log rows are kept this many days.
    pub log_retention_days: i32,
    /// The most request log rows kept.
    pub log_max_rows: i64,
    /// Whether every admin must sign in with a second factor.
    pub require_two_factor: bool,
}

/// What the credential check keeps of an organization: its id, external
/// connectivity switch, and the request log's sample (basis points).
pub type CredentialsState = (OrgId, bool, i32);

impl Organization {
    /// Every organization, oldest first.
    pub fn all(conn: &mut DbConn) -> QueryResult<Vec<Organization>> {
        organizations::table
            .order(organizations::created_at.asc())
            .select(Self::as_select())
            .load(conn)
    }

    /// Its usage and request log settings.
    pub fn usage_settings(&self) -> crate::domain::usage::UsageSettings {
        crate::domain::usage::UsageSettings {
            minutes_hours: self.usage_minutes_hours,
            hours_days: self.usage_hours_days,
            days_days: self.usage_days_days,
            log_sample_basis_points: self.log_sample_basis_points,
            log_retention_days: self.log_retention_days,
            log_max_rows: self.log_max_rows,
        }
    }

    /// Changes its usage and request log settings.
    pub fn update_usage_settings(
        conn: &mut DbConn,
        id: &OrgId,
        settings: &crate::domain::usage::UsageSettings,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(organizations::table.find(id))
            .set((
                organizations::usage_minutes_hours.eq(settings.minutes_hours),
                organizations::usage_hours_days.eq(settings.hours_days),
                organizations::usage_days_days.eq(settings.days_days),
                organizations::log_sample_basis_points.eq(settings.log_sample_basis_points),
                organizations::log_retention_days.eq(settings.log_retention_days),
                organizations::log_max_rows.eq(settings.log_max_rows),
                organizations::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// The organization this installation serves (the migrations create it).
    pub fn the_one(conn: &mut DbConn) -> QueryResult<Organization> {
        organizations::table
            .order(organizations::created_at.asc())
            .select(Self::as_select())
            .first(conn)
    }

    /// Every organization's id, oldest first (the jobs run for each).
    pub fn list_ids(conn: &mut DbConn) -> QueryResult<Vec<OrgId>> {
        organizations::table
            .order((organizations::created_at.asc(), organizations::id.asc()))
            .select(organizations::id)
            .load(conn)
    }

    /// What the credential check keeps of these organizations (read when it
    /// first meets one, and again when the change feed names it).
    pub fn credentials_states(
        conn: &mut DbConn,
        ids: &[OrgId],
    ) -> QueryResult<Vec<CredentialsState>> {
        organizations::table
            .filter(organizations::id.eq_any(ids))
            .select((
                organizations::id,
                organizations::external_connectivity,
                organizations::log_sample_basis_points,
            ))
            .load(conn)
    }

    /// Switches external connectivity.
    pub fn set_external_connectivity(
        conn: &mut DbConn,
        id: &OrgId,
        on: bool,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(organizations::table.find(id))
            .set((
                organizations::external_connectivity.eq(on),
                organizations::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Turns the two-factor requirement for admins on or off.
    pub fn set_require_two_factor(
        conn: &mut DbConn,
        id: &OrgId,
        on: bool,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(organizations::table.find(id))
            .set((
                organizations::require_two_factor.eq(on),
                organizations::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Changes the name and time zone.
    pub fn update_profile(
        conn: &mut DbConn,
        id: &OrgId,
        name: &str,
        time_zone: &str,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(organizations::table.find(id))
            .set((
                organizations::name.eq(name),
                organizations::time_zone.eq(time_zone),
                organizations::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Each organization with how many days it keeps retired keys.
    pub fn retired_keys_days(conn: &mut DbConn) -> QueryResult<Vec<(OrgId, i32)>> {
        organizations::table
            .select((organizations::id, organizations::retired_keys_days))
            .load(conn)
    }

    /// Changes the key policy.
    pub fn update_policy(
        conn: &mut DbConn,
        id: &OrgId,
        policy: &crate::domain::settings::KeyPolicy,
        now: Timestamp,
    ) -> QueryResult<()> {
        let (per_second, per_minute) = policy.rate_limits.to_stored();
        if let Some(days) = policy.retired_days {
            diesel::update(organizations::table.find(id))
                .set(organizations::retired_keys_days.eq(days))
                .execute(conn)?;
        }
        diesel::update(organizations::table.find(id))
            .set((
                organizations::key_default_lifetime_days.eq(policy.default_days),
                organizations::key_max_lifetime_days.eq(policy.max_days),
                organizations::key_default_rate_per_second.eq(per_second),
                organizations::key_default_rate_per_minute.eq(per_minute),
                organizations::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Changes how long tokens live.
    pub fn update_token_lifetimes(
        conn: &mut DbConn,
        id: &OrgId,
        l: &crate::domain::settings::TokenLifetimes,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(organizations::table.find(id))
            .set((
                organizations::access_token_minutes.eq(l.access_minutes),
                organizations::refresh_token_days.eq(l.refresh_days),
                organizations::refresh_idle_days.eq(l.idle_days),
                organizations::refresh_grace_seconds.eq(l.grace_seconds),
                organizations::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Changes the alert settings.
    pub fn update_alerts(
        conn: &mut DbConn,
        id: &OrgId,
        enabled: bool,
        thresholds: &str,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(organizations::table.find(id))
            .set((
                organizations::alerts_enabled.eq(enabled),
                organizations::alert_thresholds.eq(thresholds),
                organizations::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// One organization by id.
    pub fn find_by_id(conn: &mut DbConn, id: &OrgId) -> QueryResult<Organization> {
        organizations::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
    }
}
