//! Sign-in throttling, per account and per client IP, from the audit trail itself.
//!
//! Failed sign-ins are audit records, so every instance sharing the database sees the
//! same count. After [`ACCOUNT_FREE_FAILURES`] failures for one email (since its last
//! success, within the window), each further attempt must wait a delay that doubles
//! with every failure; an IP gets more room, since offices share one.

use time::Duration;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::models::{Action, AuditEvent};

/// Failures an account may have before the delay starts.
pub const ACCOUNT_FREE_FAILURES: i64 = 5;
/// Failures one IP may have before the delay starts.
pub const IP_FREE_FAILURES: i64 = 20;
/// How far back failures count.
pub const WINDOW: Duration = Duration::minutes(15);
const FIRST_DELAY_SECS: i64 = 30;
const MAX_DELAY_SECS: i64 = 15 * 60;

/// The delay owed after `failures` failures, beyond `free` free ones.
fn delay(failures: i64, free: i64) -> Option<Duration> {
    if failures < free {
        return None;
    }
    let doublings = u32::try_from((failures - free).min(20)).unwrap_or(20);
    Some(Duration::seconds(
        (FIRST_DELAY_SECS << doublings).min(MAX_DELAY_SECS),
    ))
}

/// Seconds until `email` from `ip` may try again, or `None` when it may now.
pub fn retry_after(
    conn: &mut DbConn,
    email: &str,
    ip: Option<&str>,
    now: Timestamp,
) -> diesel::QueryResult<Option<i64>> {
    let window_start = now - WINDOW;
    let since_success = AuditEvent::latest_for_target(conn, Action::SignedIn, email)?;
    let since = since_success.map_or(window_start, |t| t.max(window_start));
    let mut wait = 0i64;
    let (n, last) = AuditEvent::count_for_target_since(conn, Action::SignInFailed, email, since)?;
    if let (Some(d), Some(last)) = (delay(n, ACCOUNT_FREE_FAILURES), last) {
        wait = wait.max((last + d - now).whole_seconds());
    }
    if let Some(ip) = ip {
        let (n, last) =
            AuditEvent::count_for_ip_since(conn, Action::SignInFailed, ip, window_start)?;
        if let (Some(d), Some(last)) = (delay(n, IP_FREE_FAILURES), last) {
            wait = wait.max((last + d - now).whole_seconds());
        }
    }
    Ok((wait > 0).then_some(wait))
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
