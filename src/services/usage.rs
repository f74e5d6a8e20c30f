//! How keys are used: the counts and log rows the credential check flushes,
//! their retention, and the settings admins change.

use std::collections::BTreeMap;

use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::request_log::RequestLog;
use crate::db::models::usage::{ALL, MinuteCount, UsageCount};
use crate::db::models::{Action, Actor, Organization, Target};
use crate::domain::OrgId;
use crate::domain::usage::{Period, UsageSettings};

use super::{OpError, audit};

/// Adds a flush's minute counts to the minute, hour and day buckets (each
/// row of `minutes` is one key's, one minute's and one outcome's), and writes
/// its log rows.
///
/// A flush may carry a row for every key of a large installation, so the
/// sums are made over borrowed rows, one key at a time, and each bucket row
/// is built only as it is written: the memory it takes does not grow with
/// the number of keys used. Rows are written in one fixed order (the
/// organizations' totals by organization, period, bucket and outcome, then
/// each key's by app, key, period, bucket and outcome), so two instances'
/// flushes take their row locks in the same order and never deadlock on
/// PostgreSQL.
pub fn record(
    conn: &mut DbConn,
    minutes: &[MinuteCount<'_>],
    logs: &[RequestLog],
) -> Result<(), OpError> {
    // Each count goes to its organization's rows…
    let mut totals: BTreeMap<(&OrgId, i32, i64, &str), i64> = BTreeMap::new();
    for count in minutes {
        for period in Period::ALL {
            *totals
                .entry((
                    count.organization_id,
                    period.seconds() as i32,
                    period.bucket(count.minute),
                    count.outcome,
                ))
                .or_default() += count.count;
        }
    }
    for ((organization_id, period_seconds, bucket, outcome), count) in totals {
        UsageCount::add(
            conn,
            &UsageCount {
                organization_id: organization_id.clone(),
                app_id: crate::domain::AppId::from(ALL),
                key_id: ALL.to_owned(),
                period_seconds,
                bucket,
                outcome: outcome.to_owned(),
                count,
            },
        )?;
    }
    // …and to its key's, summed one key at a time.
    let mut by_key: Vec<&MinuteCount<'_>> = minutes.iter().collect();
    by_key.sort_unstable_by(|a, b| {
        (&a.app_id, &a.key_id, &a.organization_id).cmp(&(&b.app_id, &b.key_id, &b.organization_id))
    });
    let same_key = |a: &&MinuteCount<'_>, b: &&MinuteCount<'_>| {
        a.app_id == b.app_id && a.key_id == b.key_id && a.organization_id == b.organization_id
    };
    let mut sums: BTreeMap<(i32, i64, &str), i64> = BTreeMap::new();
    for rows in by_key.chunk_by(same_key) {
        sums.clear();
        for count in rows {
            for period in Period::ALL {
                *sums
                    .entry((
                        period.seconds() as i32,
                        period.bucket(count.minute),
                        count.outcome,
                    ))
                    .or_default() += count.count;
            }
        }
        let first = rows[0];
        for (&(period_seconds, bucket, outcome), &count) in &sums {
            UsageCount::add(
                conn,
                &UsageCount {
                    organization_id: first.organization_id.clone(),
                    app_id: first.app_id.clone(),
                    key_id: first.key_id.to_owned(),
                    period_seconds,
                    bucket,
                    outcome: outcome.to_owned(),
                    count,
                },
            )?;
        }
    }
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
