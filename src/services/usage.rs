//! How keys are used: the counts and log rows the credential check flushes,
//! their retention, and the settings admins change.

use std::collections::HashMap;

use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::request_log::RequestLog;
use crate::db::models::usage::{ALL, UsageCount};
use crate::db::models::{Action, Actor, Organization, Target};
use crate::domain::OrgId;
use crate::domain::usage::{Period, UsageSettings};

use super::{OpError, audit};

/// Adds a flush's minute counts to the minute, hour and day buckets (each
/// row of `minutes` is one key's, one minute's and one outcome's), and writes
/// its log rows.
pub fn record(
    conn: &mut DbConn,
    minutes: &[UsageCount],
    logs: &[RequestLog],
) -> Result<(), OpError> {
    // One row per bucket of each length, summed here so the database takes
    // one upsert per row it keeps.
    // Each count goes to its key's rows and to its organization's.
    type Bucket = (String, String, String, String, i32, i64);
    let mut rows: HashMap<Bucket, UsageCount> = HashMap::new();
    for count in minutes {
        let minute = count.bucket;
        let whole = UsageCount {
            app_id: crate::domain::AppId::from(ALL),
            key_id: ALL.to_owned(),
            ..count.clone()
        };
        for row in [count, &whole] {
            for period in Period::ALL {
                let bucket = period.bucket(minute);
                let seconds = period.seconds() as i32;
                rows.entry((
                    row.organization_id.to_string(),
                    row.app_id.to_string(),
                    row.key_id.clone(),
                    row.outcome.clone(),
                    seconds,
                    bucket,
                ))
                .and_modify(|r| r.count += row.count)
                .or_insert_with(|| UsageCount {
                    period_seconds: seconds,
                    bucket,
                    ..row.clone()
                });
            }
        }
    }
    let mut rows: Vec<UsageCount> = rows.into_values().collect();
    // A stable order: two instances' flushes take their row locks in the
    // same order and so never deadlock on PostgreSQL.
    rows.sort_by(|a, b| {
        (&a.app_id, &a.key_id, a.period_seconds, a.bucket, &a.outcome).cmp(&(
            &b.app_id,
            &b.key_id,
            b.period_seconds,
            b.bucket,
            &b.outcome,
        ))
    });
    UsageCount::add(conn, &rows)?;
    RequestLog::insert_all(conn, logs)?;
    Ok(())
}

/// Forgets, in every organization, the usage buckets and log rows past its
/// retention, and the oldest log rows beyond its cap.
pub fn prune(conn: &mut DbConn, now: Timestamp) -> Result<usize, OpError> {
    let unix = now.assume_utc().unix_timestamp();
    let mut forgotten = 0;
    for org in Organization::all(conn)? {
        let settings = org.usage_settings();
        let kept = [
            (Period::Minute, i64::from(settings.minutes_hours) * 3600),
            (Period::Hour, i64::from(settings.hours_days) * 86_400),
            (Period::Day, i64::from(settings.days_days) * 86_400),
        ];
        for (period, seconds) in kept {
            forgotten += UsageCount::prune(conn, &org.id, period, unix - seconds)?;
        }
        let before = now - time::Duration::days(i64::from(settings.log_retention_days));
        forgotten += RequestLog::prune(conn, &org.id, before, settings.log_max_rows)?;
    }
    Ok(forgotten)
}

/// Changes how long usage and the request log are kept and how much of the
/// allowed traffic is logged.
pub fn update_settings(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    settings: &UsageSettings,
) -> Result<(), OpError> {
    let org = Organization::find_by_id(conn, organization_id)?;
    let before = org.usage_settings();
    if before == *settings {
        return Ok(());
    }
    let diff = super::Diff::default()
        .field(
            "usage_minutes_hours",
            before.minutes_hours,
            settings.minutes_hours,
        )
        .field("usage_hours_days", before.hours_days, settings.hours_days)
        .field("usage_days_days", before.days_days, settings.days_days)
        .field(
            "log_sample_percent",
            before.log_sample_percent(),
            settings.log_sample_percent(),
        )
        .field(
            "log_retention_days",
            before.log_retention_days,
            settings.log_retention_days,
        )
        .field("log_max_rows", before.log_max_rows, settings.log_max_rows);
    Organization::update_usage_settings(conn, organization_id, settings, clock::now())?;
    audit(
        conn,
        organization_id,
        actor,
        Action::UsageSettingsChanged,
        Target::new("organization", org.id, org.name),
        diff.into_value(),
    )
}
