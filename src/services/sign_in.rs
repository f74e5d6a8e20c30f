//! Sign-in attempts and their throttle (NIST SP 800-63B-4 §3.2.2, rate limiting):
//! every attempt is reserved before its password is checked, counted per account
//! and per client address, with growing delays and a hard limit. An account is
//! an admin of the console or an app's user (an employee or a guest signing in
//! through the token endpoint); a client address counts the attempts of both.
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
use crate::db::models::{Action, Actor, Admin, Target};
use crate::domain::{AppId, EmailAddress, LoginUserType, OrgId};

/// Whose password an attempt tries.
#[derive(Debug, Clone)]
pub enum Account {
    /// An admin of the console, by email.
    Admin(EmailAddress),
    /// The second factor of an admin (a code, a recovery code or a passkey),
    /// counted apart from the password: a right password does not reset the
    /// count of wrong codes.
    SecondFactor(EmailAddress),
    /// An app's user of an organization, by the email typed as username.
    User {
        /// The organization.
        org: OrgId,
        /// Employee or guest: the app's Login User Type.
        user_type: LoginUserType,
        /// The username.
        email: EmailAddress,
        /// The app the attempt came through, for the audit trail only.
        app_id: Option<AppId>,
    },
}

impl From<&EmailAddress> for Account {
    fn from(email: &EmailAddress) -> Self {
        Self::Admin(email.clone())
    }
}

impl Account {
    /// The throttle row's subject: `account:<email>` for an admin,
    /// `user:<org>:<type>:<email>` for an app's user.
    fn subject(&self) -> String {
        match self {
            Self::Admin(email) => format!("account:{}", email.as_str()),
            Self::SecondFactor(email) => format!("factor:{}", email.as_str()),
            Self::User {
                org,
                user_type,
                email,
                ..
            } => format!("user:{org}:{}:{}", user_type.as_str(), email.as_str()),
        }
    }

    /// The account a subject names.
    fn from_subject(subject: &str) -> Option<Self> {
        if let Some(email) = subject.strip_prefix("account:") {
            return EmailAddress::parse(email).ok().map(Self::Admin);
        }
        if let Some(email) = subject.strip_prefix("factor:") {
            return EmailAddress::parse(email).ok().map(Self::SecondFactor);
        }
        let mut parts = subject.strip_prefix("user:")?.splitn(3, ':');
        let (org, user_type, email) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Self::User {
            org: OrgId::from(org),
            user_type: LoginUserType::parse(user_type).ok()?,
            email: EmailAddress::parse(email).ok()?,
            app_id: None,
        })
    }

    /// The organization its attempts are recorded in: an admin's own, or
    /// none when no admin has that email (an operator's, or nobody's): those
    /// go to the operators' trail, never to an organization that has no
    /// business seeing them.
    fn organization(&self, conn: &mut DbConn) -> Result<Option<OrgId>, OpError> {
        Ok(match self {
            Self::Admin(email) | Self::SecondFactor(email) => {
                Admin::find_by_email(conn, email.as_str())?.map(|admin| admin.organization_id)
            }
            Self::User { org, .. } => Some(org.clone()),
        })
    }

    /// Records `action` about this account where it belongs.
    fn record(
        &self,
        conn: &mut DbConn,
        actor: &Actor,
        action: Action,
        changes: serde_json::Value,
    ) -> Result<(), OpError> {
        match self.organization(conn)? {
            Some(org) => audit(conn, &org, actor, action, self.target(), changes),
            None => {
                let mut changes = changes;
                if let Some(map) = changes.as_object_mut() {
                    map.insert("email".to_owned(), json!(self.target().label));
                }
                crate::db::models::OperatorEvent::record(
                    conn,
                    None,
                    actor,
                    action,
                    None,
                    &changes,
                    crate::clock::now(),
                )?;
                Ok(())
            }
        }
    }

    /// What the audit records name.
    fn target(&self) -> Target {
        match self {
            Self::Admin(email) | Self::SecondFactor(email) => Target {
                kind: Some("admin"),
                label: Some(email.as_str().to_owned()),
                ..Target::default()
            },
            Self::User {
                user_type,
                email,
                app_id,
                ..
            } => Target {
                kind: Some("user"),
                label: Some(format!("{} ({})", email.as_str(), user_type.as_str())),
                app_id: app_id.clone(),
                ..Target::default()
            },
        }
    }

    /// The action of a refused password.
    fn failure(&self) -> Action {
        match self {
            Self::Admin(_) => Action::SignInFailed,
            Self::SecondFactor(_) => Action::SecondFactorFailed,
            Self::User { .. } => Action::UserSignInFailed,
        }
    }

    /// Why the reserved attempt failed, for the audit record.
    fn reason(&self) -> &'static str {
        match self {
            Self::SecondFactor(_) => "wrong code or passkey",
            _ => "incorrect email or password",
        }
    }
}

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

/// Records the refusals of `row` as one audit summary, when a minute has passed
/// since the last one (or `force`).
fn summarise(
    conn: &mut DbConn,
    row: &mut ThrottleRow,
    account: &Account,
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
    account.record(
        conn,
        actor,
        Action::SignInThrottled,
        json!({
            "refused": row.refused,
            "locked": row.locked_at.is_some(),
        }),
    )?;
    row.refused = 0;
    row.refused_reported_at = Some(now);
    Ok(())
}

/// Reserves an attempt at `account` from `ip`: refused while a delay is owed
/// or the account is locked, else counted as a failure until [`succeeded`]
/// says otherwise. Call inside a write transaction.
pub fn reserve(
    conn: &mut DbConn,
    account: impl Into<Account>,
    ip: Option<&str>,
    actor: &Actor,
    now: Timestamp,
) -> Result<Verdict, OpError> {
    let who = account.into();
    let mut account = ThrottleRow::load_for_update(conn, &who.subject(), now)?;
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
        summarise(conn, &mut account, &who, actor, now, false)?;
    }
    for row in std::iter::once(&mut account).chain(address.as_mut()) {
        row.updated_at = now;
        row.save(conn)?;
    }
    Ok(verdict)
}

/// The reserved attempt was right: the account's counts start over (the
/// address keeps its other failures). The caller records the sign-in.
pub fn succeeded(
    conn: &mut DbConn,
    account: impl Into<Account>,
    ip: Option<&str>,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), OpError> {
    let who = account.into();
    let mut account = ThrottleRow::load_for_update(conn, &who.subject(), now)?;
    summarise(conn, &mut account, &who, actor, now, true)?;
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
    Ok(())
}

/// The reserved attempt was wrong: recorded, and at the hard limit the account
/// is locked (and that audited too).
pub fn failed(
    conn: &mut DbConn,
    account: impl Into<Account>,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), OpError> {
    let who = account.into();
    who.record(
        conn,
        actor,
        who.failure(),
        json!({ "reason": who.reason() }),
    )?;
    let mut account = ThrottleRow::load_for_update(conn, &who.subject(), now)?;
    if account.consecutive_failures >= ACCOUNT_HARD_LIMIT && account.locked_at.is_none() {
        account.locked_at = Some(now);
        account.updated_at = now;
        account.save(conn)?;
        who.record(
            conn,
            actor,
            Action::AccountLocked,
            json!({ "consecutive_failures": account.consecutive_failures }),
        )?;
    }
    Ok(())
}

/// An app user's sign-in with a username that cannot name any account (not
/// an email address): recorded as a failure, with what was typed (clipped).
pub fn refused_username(
    conn: &mut DbConn,
    org: &OrgId,
    typed: &str,
    actor: &Actor,
) -> Result<(), OpError> {
    audit(
        conn,
        org,
        actor,
        Action::UserSignInFailed,
        Target {
            kind: Some("user"),
            label: Some(typed.chars().take(100).collect()),
            ..Target::default()
        },
        json!({ "reason": "the username is not an email address" }),
    )
}

/// Whether `account` is locked.
pub fn is_locked(conn: &mut DbConn, account: impl Into<Account>) -> Result<bool, OpError> {
    Ok(ThrottleRow::find(conn, &account.into().subject())?
        .is_some_and(|r| r.locked_at.is_some() || r.consecutive_failures >= ACCOUNT_HARD_LIMIT))
}

/// Unlocks `account` and forgets its failures; false when it was not locked.
/// Audited.
pub fn unlock(
    conn: &mut DbConn,
    account: impl Into<Account>,
    actor: &Actor,
) -> Result<bool, OpError> {
    let who = account.into();
    let was_locked = is_locked(conn, who.clone())?;
    ThrottleRow::delete(conn, &who.subject())?;
    if was_locked {
        who.record(conn, actor, Action::AccountUnlocked, json!({}))?;
    }
    Ok(was_locked)
}

/// Forgets an app user's failures once they have a new password (set
/// through a one-time link): the hard lock of a user ends there, with no
/// command to run.
pub fn forget(conn: &mut DbConn, account: impl Into<Account>) -> Result<(), OpError> {
    ThrottleRow::delete(conn, &account.into().subject())?;
    Ok(())
}

/// Housekeeping: reports the refusals no later attempt summarised, and forgets
/// subjects idle for a week that are not locked.
pub fn tidy(conn: &mut DbConn, now: Timestamp) -> Result<usize, OpError> {
    for mut row in ThrottleRow::with_unreported_refusals(conn)? {
        if let Some(account) = Account::from_subject(&row.subject) {
            summarise(
                conn,
                &mut row,
                &account,
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
