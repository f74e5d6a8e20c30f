//! The Expiry of API keys alert: its recipients and its ledger of emails.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::schema::{alert_recipients, api_keys, apps, key_alerts};
use crate::db::{DbConn, new_id};
use crate::domain::{AppId, EmployeeId, KeyId, OrgId};

/// The staff who receive the alert.
pub fn recipient_ids(conn: &mut DbConn, organization_id: &OrgId) -> QueryResult<Vec<EmployeeId>> {
    alert_recipients::table
        .filter(alert_recipients::organization_id.eq(organization_id))
        .select(alert_recipients::employee_id)
        .load(conn)
}

/// Replaces the recipients.
pub fn set_recipients(
    conn: &mut DbConn,
    organization_id: &OrgId,
    employee_ids: &[EmployeeId],
) -> QueryResult<()> {
    diesel::delete(
        alert_recipients::table.filter(alert_recipients::organization_id.eq(organization_id)),
    )
    .execute(conn)?;
    for id in employee_ids {
        diesel::insert_into(alert_recipients::table)
            .values((
                alert_recipients::organization_id.eq(organization_id),
                alert_recipients::employee_id.eq(id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Where a ledger row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    /// Not sent yet (maybe after a failure).
    Pending,
    /// Claimed by a run that is sending it.
    Sending,
    /// Delivered to the mail server.
    Sent,
    /// No longer wanted (the key changed).
    Cancelled,
    /// Refused for good by the mail server (a 5xx answer): not retried.
    Failed,
}

impl AlertStatus {
    /// Stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

/// A ledger row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = key_alerts)]
pub struct KeyAlert {
    pub id: String,
    pub organization_id: OrgId,
    pub key_id: KeyId,
    pub app_id: AppId,
    /// Days before expiry; 0 is the "has expired" notice.
    pub threshold_days: i32,
    /// The key's expiry this alert is about.
    pub expires_at: Timestamp,
    pub employee_id: EmployeeId,
    pub recipient: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: Timestamp,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<Timestamp>,
    pub sent_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A key whose expiry is near or just past, with what the alert needs.
#[derive(Debug, Clone, Queryable)]
pub struct DueKey {
    pub key_id: KeyId,
    pub app_id: AppId,
    pub expires_at: Timestamp,
}

/// Active keys of active apps expiring between `from` and `until`: an indexed
/// range on `expires_at`, so the cost follows the keys due, not all keys.
pub fn due_keys(
    conn: &mut DbConn,
    organization_id: &OrgId,
    from: Timestamp,
    until: Timestamp,
) -> QueryResult<Vec<DueKey>> {
    api_keys::table
        .inner_join(apps::table)
        .filter(api_keys::organization_id.eq(organization_id))
        .filter(api_keys::expires_at.ge(from))
        .filter(api_keys::expires_at.le(until))
        .filter(api_keys::active.eq(true))
        .filter(apps::status.eq("active"))
        .select((
            api_keys::id,
            api_keys::app_id,
            api_keys::expires_at.assume_not_null(),
        ))
        .load(conn)
}

/// Adds the row unless the same alert exists; true when added.
pub fn insert_if_absent(conn: &mut DbConn, alert: &KeyAlert) -> QueryResult<bool> {
    let insert = diesel::insert_into(key_alerts::table)
        .values(alert)
        .on_conflict_do_nothing();
    // ON CONFLICT does not go through the two-backend connection: run it on each.
    let n = match conn {
        DbConn::Postgres(c) => insert.execute(c)?,
        DbConn::Sqlite(c) => insert.execute(c)?,
    };
    Ok(n > 0)
}

/// A new pending row.
pub fn new_alert(
    organization_id: &OrgId,
    key: &DueKey,
    threshold_days: i32,
    employee_id: &EmployeeId,
    recipient: &str,
    now: Timestamp,
) -> KeyAlert {
    KeyAlert {
        id: new_id(),
        organization_id: organization_id.clone(),
        key_id: key.key_id.clone(),
        app_id: key.app_id.clone(),
        threshold_days,
        expires_at: key.expires_at,
        employee_id: employee_id.clone(),
        recipient: recipient.to_owned(),
        status: AlertStatus::Pending.as_str().to_owned(),
        attempts: 0,
        last_error: None,
        next_attempt_at: now,
        claimed_by: None,
        claimed_until: None,
        sent_at: None,
        created_at: now,
    }
}

/// Rows ready to send: pending and due, or claimed by a run whose lease ran out.
pub fn ready(
    conn: &mut DbConn,
    organization_id: &OrgId,
    now: Timestamp,
    limit: i64,
) -> QueryResult<Vec<KeyAlert>> {
    key_alerts::table
        .filter(key_alerts::organization_id.eq(organization_id))
        .filter(
            key_alerts::status
                .eq(AlertStatus::Pending.as_str())
                .and(key_alerts::next_attempt_at.le(now))
                .or(key_alerts::status
                    .eq(AlertStatus::Sending.as_str())
                    .and(key_alerts::claimed_until.lt(now))),
        )
        .order(key_alerts::next_attempt_at.asc())
        .limit(limit)
        .select(KeyAlert::as_select())
        .load(conn)
}

/// Claims a row for `worker` until `until`; false when another run has it.
pub fn claim(
    conn: &mut DbConn,
    id: &str,
    worker: &str,
    now: Timestamp,
    until: Timestamp,
) -> QueryResult<bool> {
    let n = diesel::update(
        key_alerts::table.find(id).filter(
            key_alerts::status
                .eq(AlertStatus::Pending.as_str())
                .and(key_alerts::next_attempt_at.le(now))
                .or(key_alerts::status
                    .eq(AlertStatus::Sending.as_str())
                    .and(key_alerts::claimed_until.lt(now))),
        ),
    )
    .set((
        key_alerts::status.eq(AlertStatus::Sending.as_str()),
        key_alerts::claimed_by.eq(Some(worker)),
        key_alerts::claimed_until.eq(Some(until)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Renews `worker`'s claim on a row until `until`, if it still holds it at
/// `now`; false when its lease ran out or another run took the row (then it
/// must not send it).
pub fn renew_claim(
    conn: &mut DbConn,
    id: &str,
    worker: &str,
    now: Timestamp,
    until: Timestamp,
) -> QueryResult<bool> {
    let n = diesel::update(
        key_alerts::table
            .find(id)
            .filter(key_alerts::status.eq(AlertStatus::Sending.as_str()))
            .filter(key_alerts::claimed_by.eq(worker))
            .filter(key_alerts::claimed_until.gt(now)),
    )
    .set(key_alerts::claimed_until.eq(Some(until)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Marks a claimed row refused for good, with the mail server's answer.
pub fn mark_refused(conn: &mut DbConn, id: &str, worker: &str, error: &str) -> QueryResult<bool> {
    let n = diesel::update(
        key_alerts::table
            .find(id)
            .filter(key_alerts::claimed_by.eq(worker)),
    )
    .set((
        key_alerts::status.eq(AlertStatus::Failed.as_str()),
        key_alerts::attempts.eq(key_alerts::attempts + 1),
        key_alerts::last_error.eq(Some(error)),
        key_alerts::claimed_until.eq(None::<Timestamp>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// One row by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<KeyAlert>> {
    key_alerts::table
        .find(id)
        .select(KeyAlert::as_select())
        .first(conn)
        .optional()
}

/// Marks a claimed row sent.
pub fn mark_sent(conn: &mut DbConn, id: &str, worker: &str, now: Timestamp) -> QueryResult<()> {
    diesel::update(
        key_alerts::table
            .find(id)
            .filter(key_alerts::claimed_by.eq(worker)),
    )
    .set((
        key_alerts::status.eq(AlertStatus::Sent.as_str()),
        key_alerts::sent_at.eq(Some(now)),
        key_alerts::claimed_until.eq(None::<Timestamp>),
        key_alerts::last_error.eq(None::<String>),
    ))
    .execute(conn)
    .map(|_| ())
}

/// Puts a claimed row back, with the error and when to try again.
pub fn mark_failed(
    conn: &mut DbConn,
    id: &str,
    worker: &str,
    error: &str,
    retry_at: Timestamp,
) -> QueryResult<()> {
    diesel::update(
        key_alerts::table
            .find(id)
            .filter(key_alerts::claimed_by.eq(worker)),
    )
    .set((
        key_alerts::status.eq(AlertStatus::Pending.as_str()),
        key_alerts::attempts.eq(key_alerts::attempts + 1),
        key_alerts::last_error.eq(Some(error)),
        key_alerts::next_attempt_at.eq(retry_at),
        key_alerts::claimed_by.eq(None::<String>),
        key_alerts::claimed_until.eq(None::<Timestamp>),
    ))
    .execute(conn)
    .map(|_| ())
}

/// Cancels a row that is no longer wanted.
pub fn cancel(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    diesel::update(key_alerts::table.find(id))
        .set((
            key_alerts::status.eq(AlertStatus::Cancelled.as_str()),
            key_alerts::claimed_until.eq(None::<Timestamp>),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The alerts of some keys, newest first (for the console).
pub fn for_keys(conn: &mut DbConn, key_ids: &[KeyId]) -> QueryResult<Vec<KeyAlert>> {
    key_alerts::table
        .filter(key_alerts::key_id.eq_any(key_ids))
        .order(key_alerts::created_at.desc())
        .select(KeyAlert::as_select())
        .load(conn)
}

/// How many alerts wait to be sent (pending, or being sent), and how many
/// were refused for good: the alert queue, as the metrics show it.
pub fn queue_counts(conn: &mut DbConn) -> QueryResult<(i64, i64)> {
    let waiting = key_alerts::table
        .filter(
            key_alerts::status
                .eq_any([AlertStatus::Pending.as_str(), AlertStatus::Sending.as_str()]),
        )
        .count()
        .get_result(conn)?;
    let failed = key_alerts::table
        .filter(key_alerts::status.eq(AlertStatus::Failed.as_str()))
        .count()
        .get_result(conn)?;
    Ok((waiting, failed))
}
