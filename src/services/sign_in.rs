//! Sign-in attempts and their throttle (NIST SP 800-63B-4 §3.2.2, rate limiting):
//! every attempt is reserved before its password is checked, counted per account
//! and per client address, with growing delays and a hard limit.
//!
//! The order matters. [`reserve`] runs in a write transaction, locks the
//! subjects' rows, refuses while a delay is owed, and otherwise counts the
//! attempt as a failure at once: concurrent guesses are counted one after
//! another, so no more of them reach the password check than the throttle
//! allows. [`succeeded`] then resets the account, [`failed`] records the
//! failure. After [`ACCOUNT_FREE_FAILURES`] failures of one account within
//! [`WINDOW`] (or [`IP_FREE_FAILURES`] from one address) each attempt waits a
//! delay that doubles up to 15 minutes; after [`ACCOUNT_HARD_LIMIT`] consecutive
//! failures, across windows, the account is locked until [`unlock`].
//!
//! Refused attempts are audited as a summary at most once a minute per account,
//! so a flood cannot flood the audit trail; every lockout is audited.

use serde_json::json;
use time::Duration;

use super::{OpError, audit};
use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::models::sign_in_throttle::ThrottleRow;
use crate::db::models::{Action, Actor, Admin, Organization, Target};
use crate::domain::{EmailAddress, OrgId};

/// Failures an account may have in a window before the delay starts.
pub const ACCOUNT_FREE_FAILURES: i32 = 5;
/// Failures one address may have in a window before the delay starts (offices
/// share one).
pub const IP_FREE_FAILURES: i32 = 20;
/// How long failures count towards the delay.
pub const WINDOW: Duration = Duration::minutes(15);
/// Consecutive failures, across windows, that lock an account.
pub const ACCOUNT_HARD_LIMIT: i32 = 100;
const FIRST_DELAY_SECS: i64 = 30;
const MAX_DELAY_SECS: i64 = 15 * 60;
/// How often refused attempts of one account are summarised in the audit trail.
const SUMMARY_EVERY: Duration = Duration::minutes(1);

/// Whether an attempt may go on to the password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Reserved: check the password, then call [`succeeded`] or [`failed`].
    Proceed,
    /// Refused: a delay is owed, this many seconds.
    Wait(i64),
    /// Refused: the account is locked.
    Locked,
}

/// The delay owed after `failures` failures, beyond `free` free ones.
fn delay(failures: i32, free: i32) -> Option<Duration> {
    if failures < free {
        return None;
    }
    let doublings = u32::try_from((failures - free).min(20)).unwrap_or(20);
    Some(Duration::seconds(
        (FIRST_DELAY_SECS << doublings).min(MAX_DELAY_SECS),
    ))
}

fn account_subject(email: &EmailAddress) -> String {
    format!("account:{}", email.as_str())
}

fn ip_subject(ip: &str) -> String {
    format!("ip:{ip}")
}

/// A new window when the current one is over.
fn roll_window(row: &mut ThrottleRow, now: Timestamp) {
    if row.window_started_at <= now - WINDOW {
        row.failures = 0;
        row.window_started_at = now;
    }
}

/// Seconds still owed by `row`, or none.
fn owed(row: &ThrottleRow, free: i32, now: Timestamp) -> Option<i64> {
    let (d, last) = (delay(row.failures, free)?, row.last_failure_at?);
    let wait = (last + d - now).whole_seconds();
    (wait > 0).then_some(wait)
}

/// The organization an attempt on `email` is recorded in: the account's, or the
/// installation's first when no account has that email.
fn organization_of(conn: &mut DbConn, email: &EmailAddress) -> Result<OrgId, OpError> {
    Ok(match Admin::find_by_email(conn, email.as_str())? {
        Some(admin) => admin.organization_id,
        None => Organization::the_one(conn)?.id,
    })
}

fn admin_target(email: &EmailAddress) -> Target {
    Target {
        kind: Some("admin"),
        label: Some(email.as_str().to_owned()),
        ..Target::default()
    }
}

/// Records the refusals of `row` as one audit summary, when a minute has passed
/// since the last one (or `force`).
fn summarise(
    conn: &mut DbConn,
    row: &mut ThrottleRow,
    email: &EmailAddress,
    actor: &Actor,
    now: Timestamp,
    force: bool,
) -> Result<(), OpError> {
    let due = row
        .refused_reported_at
        .is_none_or(|at| at <= now - SUMMARY_EVERY);
    if row.refused == 0 || !(due || force) {
        return Ok(());
    }
    let org = organization_of(conn, email)?;
    audit(
        conn,
        &org,
        actor,
        Action::SignInThrottled,
        admin_target(email),
        json!({
            "refused": row.refused,
            "locked": row.locked_at.is_some(),
        }),
    )?;
    row.refused = 0;
    row.refused_reported_at = Some(now);
    Ok(())
}

/// Reserves an attempt at `email` from `ip`: refused while a delay is owed or
/// the account is locked, else counted as a failure until [`succeeded`] says
/// otherwise. Call inside a write transaction.
pub fn reserve(
    conn: &mut DbConn,
    email: &EmailAddress,
    ip: Option<&str>,
    actor: &Actor,
    now: Timestamp,
) -> Result<Verdict, OpError> {
    let mut account = ThrottleRow::load_for_update(conn, &account_subject(email), now)?;
    let mut address = match ip {
        Some(ip) => Some(ThrottleRow::load_for_update(conn, &ip_subject(ip), now)?),
        None => None,
    };
    roll_window(&mut account, now);
    if let Some(row) = address.as_mut() {
        roll_window(row, now);
    }
    let verdict =
        if account.locked_at.is_some() || account.consecutive_failures >= ACCOUNT_HARD_LIMIT {
            Verdict::Locked
        } else {
            let wait = owed(&account, ACCOUNT_FREE_FAILURES, now)
                .into_iter()
                .chain(
                    address
                        .as_ref()
                        .and_then(|r| owed(r, IP_FREE_FAILURES, now)),
                )
                .max();
            wait.map_or(Verdict::Proceed, Verdict::Wait)
        };
    if verdict == Verdict::Proceed {
        for row in std::iter::once(&mut account).chain(address.as_mut()) {
            row.failures += 1;
            row.consecutive_failures += 1;
            row.last_failure_at = Some(now);
        }
    } else {
        account.refused += 1;
        summarise(conn, &mut account, email, actor, now, false)?;
    }
    for row in std::iter::once(&mut account).chain(address.as_mut()) {
        row.updated_at = now;
        row.save(conn)?;
    }
    Ok(verdict)
}

/// The reserved attempt was right: the account's counts start over (the
/// address keeps its other failures), and the sign-in is recorded.
pub fn succeeded(
    conn: &mut DbConn,
    admin: &Admin,
    email: &EmailAddress,
    ip: Option<&str>,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), OpError> {
    let mut account = ThrottleRow::load_for_update(conn, &account_subject(email), now)?;
    summarise(conn, &mut account, email, actor, now, true)?;
    let reset = ThrottleRow {
        refused_reported_at: account.refused_reported_at,
        ..ThrottleRow::fresh(&account.subject, now)
    };
    reset.save(conn)?;
    if let Some(ip) = ip {
        let mut address = ThrottleRow::load_for_update(conn, &ip_subject(ip), now)?;
        address.failures = (address.failures - 1).max(0);
        address.consecutive_failures = (address.consecutive_failures - 1).max(0);
        address.updated_at = now;
        address.save(conn)?;
    }
    super::admins::signed_in(conn, admin, actor)
}

/// The reserved attempt was wrong: recorded, and at the hard limit the account
/// is locked (and that audited too).
pub fn failed(
    conn: &mut DbConn,
    email: &EmailAddress,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), OpError> {
    let org = organization_of(conn, email)?;
    audit(
        conn,
        &org,
        actor,
        Action::SignInFailed,
        admin_target(email),
        json!({ "reason": "incorrect email or password" }),
    )?;
    let mut account = ThrottleRow::load_for_update(conn, &account_subject(email), now)?;
    if account.consecutive_failures >= ACCOUNT_HARD_LIMIT && account.locked_at.is_none() {
        account.locked_at = Some(now);
        account.updated_at = now;
        account.save(conn)?;
        audit(
            conn,
            &org,
            actor,
            Action::AccountLocked,
            admin_target(email),
            json!({ "consecutive_failures": account.consecutive_failures }),
        )?;
    }
    Ok(())
}

/// Whether the account of `email` is locked.
pub fn is_locked(conn: &mut DbConn, email: &EmailAddress) -> Result<bool, OpError> {
    Ok(ThrottleRow::find(conn, &account_subject(email))?
        .is_some_and(|r| r.locked_at.is_some() || r.consecutive_failures >= ACCOUNT_HARD_LIMIT))
}

/// Unlocks the account of `email` and forgets its failures; false when it was
/// not locked. Audited.
pub fn unlock(conn: &mut DbConn, email: &EmailAddress, actor: &Actor) -> Result<bool, OpError> {
    let was_locked = is_locked(conn, email)?;
    ThrottleRow::delete(conn, &account_subject(email))?;
    if was_locked {
        let org = organization_of(conn, email)?;
        audit(
            conn,
            &org,
            actor,
            Action::AccountUnlocked,
            admin_target(email),
            json!({}),
        )?;
    }
    Ok(was_locked)
}

/// Housekeeping: reports the refusals no later attempt summarised, and forgets
/// subjects idle for a week that are not locked.
pub fn tidy(conn: &mut DbConn, now: Timestamp) -> Result<usize, OpError> {
    for mut row in ThrottleRow::with_unreported_refusals(conn)? {
        if let Some(email) = row
            .subject
            .strip_prefix("account:")
            .and_then(|e| EmailAddress::parse(e).ok())
        {
            summarise(
                conn,
                &mut row,
                &email,
                &Actor::system("throttle"),
                now,
                true,
            )?;
        } else {
            row.refused = 0;
        }
        row.save(conn)?;
    }
    Ok(ThrottleRow::delete_idle(conn, now - Duration::days(7))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_starts_after_the_free_failures_and_doubles() {
        assert_eq!(delay(4, 5), None);
        assert_eq!(delay(5, 5), Some(Duration::seconds(30)));
        assert_eq!(delay(6, 5), Some(Duration::seconds(60)));
        assert_eq!(delay(7, 5), Some(Duration::seconds(120)));
        assert_eq!(delay(500, 5), Some(Duration::seconds(MAX_DELAY_SECS)));
    }
}
