//! The Expiry of API keys alert job: each recipient gets one email per key and
//! threshold, exactly once.
//!
//! A run has two halves. Planning finds the keys whose threshold has been reached
//! (an indexed range on `expires_at`) and adds one ledger row per key, threshold,
//! recipient and expiry, unless it exists. Sending claims each ready row with a
//! conditional update (only one run, on any instance, can win it), sends it, and
//! marks it sent; a failure puts it back with the error and a growing delay.
//!
//! A crash between the mail server's acceptance and the "sent" mark leaves the row
//! claimed; when its lease runs out it is sent again, with the same Message-ID, so
//! mail systems that recognise repeats show it once. No alert is lost that way; the
//! alternative, never resending an uncertain row, could lose one.

use time::Duration;
use time_tz::OffsetDateTimeExt;

use crate::clock::Timestamp;
use crate::db::models::alert::{self, DueKey, KeyAlert};
use crate::db::models::platform::Employee;
use crate::db::models::{Admin, ApiKey, App, AppStatus, Organization};
use crate::db::{Db, DbError};
use crate::domain::OrgId;
use crate::domain::settings::Thresholds;
use crate::email::messages::{ExpiryAlert, expiry_alert};
use crate::email::{Email, MailError, Mailer};
use crate::services::{OpError, webhooks};

/// How long a run owns a claimed row before another may retry it.
const LEASE: Duration = Duration::minutes(5);
/// How long after expiry the "has expired" notice is still worth sending.
const EXPIRED_NOTICE_WINDOW: Duration = Duration::days(7);
/// Most rows sent by one run; the next run takes the rest.
const BATCH: i64 = 500;

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Ledger rows added.
    pub queued: usize,
    /// Emails accepted by the mail server (or written to the outbox).
    pub sent: usize,
    /// Emails that failed and wait for a retry.
    pub failed: usize,
    /// Rows no longer wanted (the key changed, the recipient left).
    pub cancelled: usize,
}

/// The threshold a key has reached at `now`: the smallest threshold not above
/// the time left, 0 once expired, none when no threshold is reached yet.
pub fn threshold_reached(
    expires_at: Timestamp,
    now: Timestamp,
    thresholds: &Thresholds,
) -> Option<i32> {
    if expires_at <= now {
        return Some(0);
    }
    let left = expires_at - now;
    thresholds
        .days()
        .iter()
        .copied()
        .find(|t| left <= Duration::days(i64::from(*t)))
}

/// Whole days left, rounded up; negative once expired.
fn days_left(expires_at: Timestamp, now: Timestamp) -> i64 {
    let seconds = (expires_at - now).whole_seconds();
    if seconds < 0 {
        -1
    } else {
        (seconds + 86_399) / 86_400
    }
}

/// Adds the ledger rows now due.
fn plan(db: &Db, organization_id: &OrgId, now: Timestamp) -> Result<usize, DbError> {
    let mut conn = db.get()?;
    let org = Organization::find_by_id(&mut conn, organization_id)?;
    let thresholds = Thresholds::from_stored(&org.alert_thresholds);
    let due: Vec<DueKey> = alert::due_keys(
        &mut conn,
        organization_id,
        now - EXPIRED_NOTICE_WINDOW,
        now + Duration::days(i64::from(thresholds.max())),
    )?;
    announce(&mut conn, organization_id, &due, &thresholds, now)?;
    if !org.alerts_enabled {
        return Ok(0);
    }
    let recipient_ids = alert::recipient_ids(&mut conn, organization_id)?;
    let recipients: Vec<Employee> = Employee::list_all(&mut conn, organization_id)?
        .into_iter()
        .filter(|e| e.active && recipient_ids.contains(&e.id))
        .collect();
    if recipients.is_empty() {
        return Ok(0);
    }
    let mut queued = 0;
    for key in &due {
        let Some(threshold) = threshold_reached(key.expires_at, now, &thresholds) else {
            continue;
        };
        for r in &recipients {
            if alert::insert_if_absent(
                &mut conn,
                &alert::new_alert(organization_id, key, threshold, &r.id, &r.email, now),
            )? {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// Tells the webhook endpoints (`key.expiring`, `key.expired`) about the
/// thresholds the due keys reached, whether or not the alert emails are on:
/// once per key, threshold and expiry, each in its own transaction.
fn announce(
    conn: &mut crate::db::DbConn,
    organization_id: &OrgId,
    due: &[DueKey],
    thresholds: &Thresholds,
    now: Timestamp,
) -> Result<(), DbError> {
    let op = |e: OpError| match e {
        OpError::Db(db) => db,
        other => DbError::Unavailable(other.to_string()),
    };
    if due.is_empty() || !webhooks::has_endpoints(conn, organization_id).map_err(op)? {
        return Ok(());
    }
    for key in due {
        let Some(threshold) = threshold_reached(key.expires_at, now, thresholds) else {
            continue;
        };
        let (Some(app), Some(row)) = (
            App::find(conn, organization_id, &key.app_id)?,
            ApiKey::find(conn, &key.app_id, &key.key_id)?,
        ) else {
            continue;
        };
        crate::db::write_tx(conn, |conn| {
            webhooks::announce_expiry(conn, &app, &row, threshold, now)
        })
        .map_err(op)?;
    }
    Ok(())
}

/// Why a claimed row is not sent, or the email to send.
enum Prepared {
    Cancel,
    Send(Box<Email>),
    Fail(String),
}

/// Checks that the row is still wanted and builds its email.
fn prepare(db: &Db, row: &KeyAlert, public_url: &str, now: Timestamp) -> Result<Prepared, DbError> {
    let mut conn = db.get()?;
    let org = Organization::find_by_id(&mut conn, &row.organization_id)?;
    let Some(key) = ApiKey::find(&mut conn, &row.app_id, &row.key_id)? else {
        return Ok(Prepared::Cancel);
    };
    let Some(app) = App::find(&mut conn, &row.organization_id, &row.app_id)? else {
        return Ok(Prepared::Cancel);
    };
    let recipient = Employee::find(&mut conn, &row.organization_id, &row.employee_id)?;
    let still_recipient =
        alert::recipient_ids(&mut conn, &row.organization_id)?.contains(&row.employee_id);
    let thresholds = Thresholds::from_stored(&org.alert_thresholds);
    let wanted = org.alerts_enabled
        && key.active
        && app.status() == AppStatus::Active
        && key.expires_at == Some(row.expires_at)
        && still_recipient
        && recipient.as_ref().is_some_and(|e| e.active && e.email == row.recipient)
        // A more urgent threshold (or the expiry) has been reached since: that alert replaces this one.
        && threshold_reached(row.expires_at, now, &thresholds).is_none_or(|t| t >= row.threshold_days);
    if !wanted {
        return Ok(Prepared::Cancel);
    }
    let tz = time_tz::timezones::get_by_name(&org.time_zone);
    let expires = match tz {
        Some(tz) => row
            .expires_at
            .assume_utc()
            .to_timezone(tz)
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .map(|t| format!("{t} ({})", org.time_zone)),
        None => row
            .expires_at
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .map(|t| format!("{t} (UTC)")),
    }
    .unwrap_or_default();
    let base = public_url.trim_end_matches('/');
    let admins = Admin::full_access_emails(&mut conn, &org.id)?;
    let recipient_is_admin = Admin::find_by_email(&mut conn, &row.recipient)?
        .is_some_and(|a| a.organization_id == org.id);
    let details = ExpiryAlert {
        organization: org.name.clone(),
        app_name: app.name.clone(),
        app_uri: app.uri.clone(),
        key_name: key.name.clone(),
        key_description: key.description.clone(),
        admins: admins.into_iter().take(3).collect(),
        recipient_is_admin,
        masked: key.masked(),
        expires,
        days_left: if row.threshold_days == 0 {
            -1
        } else {
            days_left(row.expires_at, now).max(0)
        },
        link: format!("{base}/apps/{}#key-{}", app.id, key.id),
    };
    let host = url::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "keyward".to_owned());
    Ok(
        match expiry_alert(
            &details,
            &row.recipient,
            format!("<alert-{}@{host}>", row.id),
        ) {
            Ok(email) => Prepared::Send(Box::new(email)),
            Err(e) => Prepared::Fail(format!("the email could not be rendered: {e}")),
        },
    )
}

/// The delay before retry `attempt` (1-based): 1, 2, 4 … minutes, at most an hour.
pub fn retry_delay(attempt: i32) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 6)).unwrap_or(6);
    Duration::minutes((1i64 << doublings).min(60))
}

/// One run: plan, then send what is ready. `worker` names this instance in claims.
pub async fn run_once(
    db: &Db,
    mailer: &Mailer,
    organization_id: &OrgId,
    public_url: &str,
    worker: &str,
    now: Timestamp,
) -> Result<RunReport, DbError> {
    let mut report = RunReport::default();
    let (d, org) = (db.clone(), organization_id.clone());
    report.queued = tokio::task::spawn_blocking(move || plan(&d, &org, now))
        .await
        .map_err(|_| DbError::TaskFailed)??;

    let org = organization_id.clone();
    let rows = db
        .run(move |conn| alert::ready(conn, &org, now, BATCH).map_err(DbError::from))
        .await?;
    // Each claim's lease starts when the row is claimed, not when the run
    // began: a long run (a slow mail server) must not leave its later rows
    // open to a second run while it still works on them.
    let started = std::time::Instant::now();
    let at = move || now + Duration::try_from(started.elapsed()).unwrap_or(Duration::ZERO);
    for row in rows {
        let (id, w, claimed_at) = (row.id.clone(), worker.to_owned(), at());
        let claimed = db
            .run(move |conn| {
                alert::claim(conn, &id, &w, claimed_at, claimed_at + LEASE).map_err(DbError::from)
            })
            .await?;
        if !claimed {
            continue;
        }
        let (d, r, url) = (db.clone(), row.clone(), public_url.to_owned());
        let prepared = tokio::task::spawn_blocking(move || prepare(&d, &r, &url, now))
            .await
            .map_err(|_| DbError::TaskFailed)??;
        let id = row.id.clone();
        let outcome = match prepared {
            Prepared::Cancel => None,
            Prepared::Fail(why) => Some(Err(MailError::Build(why))),
            Prepared::Send(email) => {
                // A run sends only a row it still holds: had its lease run out
                // while it prepared, another run may have taken (and sent) it.
                let (i, w, renewed_at) = (id.clone(), worker.to_owned(), at());
                let held = db
                    .run(move |conn| {
                        alert::renew_claim(conn, &i, &w, renewed_at, renewed_at + LEASE)
                            .map_err(DbError::from)
                    })
                    .await?;
                if !held {
                    tracing::warn!(alert = %row.id, "expiry alert's claim was lost; another run has it");
                    continue;
                }
                Some(mailer.send(&email).await)
            }
        };
        match outcome {
            None => {
                db.run(move |conn| alert::cancel(conn, &id).map_err(DbError::from))
                    .await?;
                report.cancelled += 1;
            }
            Some(Ok(())) => {
                let w = worker.to_owned();
                db.run(move |conn| alert::mark_sent(conn, &id, &w, now).map_err(DbError::from))
                    .await?;
                report.sent += 1;
            }
            Some(Err(e)) if e.is_permanent() => {
                let message = e.to_string();
                tracing::warn!(alert = %row.id, error = %message, "expiry alert refused for good; not retried");
                let (w, r) = (worker.to_owned(), row.clone());
                db.run(move |conn| {
                    crate::db::write_tx(conn, |conn| {
                        crate::services::alerts::refused(conn, &r, &w, &message)
                    })
                    .map_err(|e| match e {
                        crate::services::OpError::Db(db) => db,
                        other => DbError::Unavailable(other.to_string()),
                    })
                })
                .await?;
                report.failed += 1;
            }
            Some(Err(e)) => {
                let message = e.to_string();
                tracing::warn!(alert = %row.id, error = %message, "expiry alert not sent; will retry");
                let (w, retry_at) = (worker.to_owned(), now + retry_delay(row.attempts + 1));
                db.run(move |conn| {
                    alert::mark_failed(conn, &id, &w, &message, retry_at).map_err(DbError::from)
                })
                .await?;
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// One run for every organization, the reports added up.
pub async fn run_all(
    db: &Db,
    mailer: &Mailer,
    public_url: &str,
    worker: &str,
    now: Timestamp,
) -> Result<RunReport, DbError> {
    let orgs = db
        .run(|conn| Organization::list_ids(conn).map_err(DbError::from))
        .await?;
    let mut total = RunReport::default();
    for org in orgs {
        let r = run_once(db, mailer, &org, public_url, worker, now).await?;
        total.queued += r.queued;
        total.sent += r.sent;
        total.failed += r.failed;
        total.cancelled += r.cancelled;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_most_urgent_reached_threshold_applies() {
        let t = Thresholds::parse("30, 7, 1").unwrap();
        let now = datetime!(2026-11-23 12:00);
        assert_eq!(threshold_reached(now + Duration::days(40), now, &t), None);
        assert_eq!(
            threshold_reached(now + Duration::days(20), now, &t),
            Some(30)
        );
        assert_eq!(threshold_reached(now + Duration::days(6), now, &t), Some(7));
        assert_eq!(threshold_reached(now + Duration::days(7), now, &t), Some(7));
        assert_eq!(
            threshold_reached(now + Duration::hours(5), now, &t),
            Some(1)
        );
        assert_eq!(
            threshold_reached(now - Duration::hours(5), now, &t),
            Some(0)
        );
    }

    #[test]
    fn days_round_up_and_retries_slow_down() {
        let now = datetime!(2026-11-23 12:00);
        assert_eq!(
            days_left(now + Duration::days(5) + Duration::hours(23), now),
            6
        );
        assert_eq!(days_left(now + Duration::hours(2), now), 1);
        assert_eq!(retry_delay(1), Duration::minutes(1));
        assert_eq!(retry_delay(3), Duration::minutes(4));
        assert_eq!(retry_delay(50), Duration::minutes(60));
    }
}
