//! The organization: the business whose apps and keys Keyward manages.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::models::platform::{like_literal, lower};
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
    /// Its short name in URLs: its issuer is `<public URL>/o/<slug>`.
    pub slug: String,
    /// Whether its issuer is the public URL itself (the organizations that
    /// existed before there were many keep it).
    pub root_issuer: bool,
    /// When the operator suspended it: every key and token then gets 402.
    pub suspended_at: Option<Timestamp>,
    /// The most apps it may have; `None`: no limit.
    pub max_apps: Option<i32>,
    /// The most keys in service one app may hold.
    pub max_keys_per_app: i32,
    /// The most requests per second any of its keys may be allowed; `None`:
    /// no ceiling.
    pub max_rate_per_second: Option<i32>,
}

/// What the credential check keeps of an organization.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct CredentialsState {
    pub id: OrgId,
    /// The `external_connectivity` feature.
    pub external_connectivity: bool,
    /// When the operator suspended it.
    #[diesel(column_name = suspended_at)]
    suspended_at: Option<Timestamp>,
    /// The request log's sample, in basis points.
    pub log_sample_basis_points: i32,
    /// The ceiling of every key's requests per second.
    #[diesel(column_name = max_rate_per_second)]
    pub rate_ceiling: Option<i32>,
}

impl CredentialsState {
    /// Whether the operator suspended it.
    pub fn suspended(&self) -> bool {
        self.suspended_at.is_some()
    }
}

impl Organization {
    /// Its issuer under the server's `public` URL (no trailing slash):
    /// [`crate::domain::tenant::issuer`].
    pub fn issuer(&self, public: &str) -> String {
        crate::domain::tenant::issuer(public, &self.slug, self.root_issuer)
    }

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
            .select(CredentialsState::as_select())
            .load(conn)
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
    /// Holds its row until the transaction ends (PostgreSQL; SQLite's write
    /// transaction holds the whole database): changes that count what it
    /// has against its limits take their turn.
    pub fn lock(conn: &mut DbConn, id: &OrgId) -> QueryResult<()> {
        if let DbConn::Postgres(pg) = conn {
            organizations::table
                .find(id)
                .select(organizations::id)
                .for_update()
                .first::<OrgId>(pg)
                .optional()?;
        }
        Ok(())
    }

    /// By slug.
    pub fn find_by_slug(conn: &mut DbConn, slug: &str) -> QueryResult<Option<Organization>> {
        organizations::table
            .filter(organizations::slug.eq(slug))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// By id, if it exists.
    pub fn find(conn: &mut DbConn, id: &OrgId) -> QueryResult<Option<Organization>> {
        organizations::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// A new organization with the defaults of every policy.
    pub fn insert(conn: &mut DbConn, new: &NewOrganization<'_>) -> QueryResult<()> {
        diesel::insert_into(organizations::table)
            .values(new)
            .execute(conn)
            .map(|_| ())
    }

    /// A page of organizations by name (then id), after the cursor, whose
    /// name or slug contains `search` (lower-cased).
    pub fn page(
        conn: &mut DbConn,
        search: Option<&str>,
        after: Option<(&str, &OrgId)>,
        limit: i64,
    ) -> QueryResult<Vec<Organization>> {
        let mut query = organizations::table
            .select(Self::as_select())
            .order((organizations::name.asc(), organizations::id.asc()))
            .limit(limit)
            .into_boxed();
        if let Some(text) = search.filter(|t| !t.is_empty()) {
            let pattern = format!("%{}%", like_literal(text));
            query = query.filter(
                organizations::slug
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(organizations::name).like(pattern).escape('\\')),
            );
        }
        if let Some((name, id)) = after {
            query = query.filter(
                organizations::name
                    .gt(name.to_owned())
                    .or(organizations::name
                        .eq(name.to_owned())
                        .and(organizations::id.gt(id.clone()))),
            );
        }
        query.load(conn)
    }

    /// How many organizations exist.
    pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
        organizations::table.count().get_result(conn)
    }

    /// Sets the subscription's features and limits.
    pub fn set_features(
        conn: &mut DbConn,
        id: &OrgId,
        features: &Features,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(organizations::table.find(id))
            .set((
                organizations::external_connectivity.eq(features.external_connectivity),
                organizations::max_apps.eq(features.max_apps),
                organizations::max_keys_per_app.eq(features.max_keys_per_app),
                organizations::max_rate_per_second.eq(features.max_rate_per_second),
                organizations::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Suspends it (`Some(now)`) or resumes it (`None`).
    pub fn set_suspended(
        conn: &mut DbConn,
        id: &OrgId,
        at: Option<Timestamp>,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(organizations::table.find(id))
            .set((
                organizations::suspended_at.eq(at),
                organizations::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// What its subscription includes.
    pub fn features(&self) -> Features {
        Features {
            external_connectivity: self.external_connectivity,
            max_apps: self.max_apps,
            max_keys_per_app: self.max_keys_per_app,
            max_rate_per_second: self.max_rate_per_second,
        }
    }
}

/// What an organization's subscription includes, as the operator sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Whether its keys and tokens may call the API at all (else 402).
    pub external_connectivity: bool,
    /// The most apps; `None`: no limit.
    pub max_apps: Option<i32>,
    /// The most keys in service per app.
    pub max_keys_per_app: i32,
    /// The ceiling of every key's requests per second; `None`: none.
    pub max_rate_per_second: Option<i32>,
}

/// A new organization: what the operator gives; every policy starts at
/// its default.
#[derive(Debug, Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization<'a> {
    pub id: &'a OrgId,
    pub name: &'a str,
    pub slug: &'a str,
    pub time_zone: &'a str,
    pub external_connectivity: bool,
    pub max_apps: Option<i32>,
    pub max_keys_per_app: i32,
    pub max_rate_per_second: Option<i32>,
    pub root_issuer: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
