//! The decision itself, a pure function of the cached entry, the organization's
//! feature switch, the route's permission and the time: unit tests drive it with
//! a fixed clock.
//!
//! The checks run in the order PRODUCT.md lists them, so the answer names the
//! first failing reason. First a key's address allowlist: from elsewhere the
//! answer is 403 `ip_not_allowed`, whatever else holds, so a caller from the
//! wrong place learns nothing of the key. Then: the key is active, not expired
//! (a rolled key past its grace is `key_rolled`), its app is active, the
//! organization's `external_connectivity` feature is on (else 402), and the key
//! holds the route's permission (else 403). An access token is judged by the
//! same rules in the same order, with its own words: revoked instead of
//! inactive, `token_expired`, and `insufficient_scope` (RFC 6750 §3.1).

use std::net::IpAddr;
use std::sync::Arc;

use super::grant::Denial;
use crate::clock::Timestamp;
use crate::domain::IpAllowlist;
use crate::domain::scopes::{Permission, PermissionSet};

/// Which kind of credential a standing is of: it names the refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An API key.
    Key,
    /// An access token.
    Token,
}

/// Where the credential's app stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStanding {
    /// Active: its credentials work.
    Active,
    /// Its wizard is not finished: its first key works from Finish on.
    Draft,
    /// Inactivated by an admin.
    Inactive,
}

impl AppStanding {
    /// The standing of an app of this status.
    pub fn of(status: crate::db::models::AppStatus) -> Self {
        use crate::db::models::AppStatus;
        match status {
            AppStatus::Active => Self::Active,
            AppStatus::Draft => Self::Draft,
            AppStatus::Inactive => Self::Inactive,
        }
    }
}

/// What the decision needs to know of a credential, as cached.
#[derive(Debug, Clone)]
pub struct Standing {
    /// A key or a token.
    pub kind: Kind,
    /// The key's Active switch; for a token, that neither it, its sign-in nor
    /// its user's sign-in was revoked.
    pub active: bool,
    /// When the key stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// Where the key's app stands.
    pub app: AppStanding,
    /// What the key may do.
    pub permissions: PermissionSet,
    /// The addresses a key is accepted from; `None` is anywhere.
    pub allowed_ips: Option<Arc<IpAllowlist>>,
    /// The key was rolled: past its expiry (its grace's end) it is
    /// `key_rolled`, not `key_expired`.
    pub rolled: bool,
}

/// What the organization's subscription allows its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgAccess {
    /// External connectivity is on.
    Open,
    /// The `external_connectivity` feature is off (402).
    NoConnectivity,
    /// The operator suspended the organization (402, whatever the key).
    Suspended,
}

/// Whether a credential in `standing` may do `required` (or merely pass, when
/// `None`) at `now`, with the organization's access as given.
pub fn decide(
    standing: &Standing,
    access: OrgAccess,
    required: Option<Permission>,
    client: Option<IpAddr>,
    now: Timestamp,
) -> Result<(), Denial> {
    let token = standing.kind == Kind::Token;
    if let Some(list) = &standing.allowed_ips
        && !client.is_some_and(|ip| list.allows(ip))
    {
        return Err(Denial::IpNotAllowed);
    }
    // A suspended organization's every credential is refused alike, active
    // or not: its holder learns the subscription's state, nothing more.
    if access == OrgAccess::Suspended {
        return Err(Denial::Suspended);
    }
    if !standing.active {
        return Err(if token {
            Denial::TokenRevoked
        } else {
            Denial::KeyInactive
        });
    }
    // RFC 7519 §4.1.4: not accepted on or after its expiry, with no leeway.
    if standing.expires_at.is_some_and(|t| t <= now) {
        return Err(if token {
            Denial::TokenExpired
        } else if standing.rolled {
            Denial::KeyRolled
        } else {
            Denial::KeyExpired
        });
    }
    match standing.app {
        AppStanding::Active => {}
        AppStanding::Draft => return Err(Denial::AppDraft),
        AppStanding::Inactive => return Err(Denial::AppInactive),
    }
    if access == OrgAccess::NoConnectivity {
        return Err(Denial::PaymentRequired);
    }
    if let Some(p) = required
        && !standing.permissions.contains(p)
    {
        return Err(if token {
            Denial::InsufficientScope(p)
        } else {
            Denial::InsufficientPermission(p)
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn read() -> Permission {
        Permission::parse("appointments:read").unwrap()
    }

    fn standing() -> Standing {
        Standing {
            kind: Kind::Key,
            active: true,
            expires_at: Some(datetime!(2026-12-01 12:00)),
            app: AppStanding::Active,
            permissions: PermissionSet::from_stored("appointments:read"),
            allowed_ips: None,
            rolled: false,
        }
    }

    #[test]
    fn a_key_passes_until_the_instant_it_expires() {
        let s = standing();
        assert_eq!(
            decide(
                &s,
                OrgAccess::Open,
                Some(read()),
                None,
                datetime!(2026-12-01 11:59:59)
            ),
            Ok(())
        );
        assert_eq!(
            decide(
                &s,
                OrgAccess::Open,
                Some(read()),
                None,
                datetime!(2026-12-01 12:00)
            ),
            Err(Denial::KeyExpired)
        );
    }

    #[test]
    fn the_first_failing_check_names_the_refusal() {
        let now = datetime!(2026-11-01 00:00);
        let all_wrong = Standing {
            kind: Kind::Key,
            active: false,
            expires_at: Some(now),
            app: AppStanding::Inactive,
            permissions: PermissionSet::default(),
            allowed_ips: None,
            rolled: false,
        };
        assert_eq!(
            decide(
                &all_wrong,
                OrgAccess::NoConnectivity,
                Some(read()),
                None,
                now
            ),
            Err(Denial::KeyInactive)
        );
        let s = Standing {
            active: true,
            ..all_wrong
        };
        assert_eq!(
            decide(&s, OrgAccess::NoConnectivity, Some(read()), None, now),
            Err(Denial::KeyExpired)
        );
        let s = Standing {
            expires_at: None,
            ..s
        };
        assert_eq!(
            decide(&s, OrgAccess::NoConnectivity, Some(read()), None, now),
            Err(Denial::AppInactive)
        );
        let s = Standing {
            app: AppStanding::Active,
            ..s
        };
        assert_eq!(
            decide(&s, OrgAccess::NoConnectivity, Some(read()), None, now),
            Err(Denial::PaymentRequired)
        );
        assert_eq!(
            decide(&s, OrgAccess::Open, Some(read()), None, now),
            Err(Denial::InsufficientPermission(read()))
        );
        assert_eq!(decide(&s, OrgAccess::Open, None, None, now), Ok(()));
        // A suspended organization's every credential is refused alike, an
        // inactive key too; only the address allowlist comes first.
        let inactive = Standing {
            active: false,
            ..standing()
        };
        assert_eq!(
            decide(&inactive, OrgAccess::Suspended, None, None, now),
            Err(Denial::Suspended)
        );
        assert_eq!(
            decide(&standing(), OrgAccess::Open, Some(read()), None, now),
            Ok(())
        );
    }

    #[test]
    fn an_allowlist_refuses_other_addresses_before_anything_else() {
        let now = datetime!(2026-11-01 00:00);
        let s = Standing {
            allowed_ips: Some(Arc::new(IpAllowlist::parse("10.1.2.0/24").unwrap())),
            active: false,
            ..standing()
        };
        let inside: IpAddr = "10.1.2.7".parse().unwrap();
        let outside: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            decide(&s, OrgAccess::Open, None, Some(outside), now),
            Err(Denial::IpNotAllowed)
        );
        assert_eq!(
            decide(&s, OrgAccess::Open, None, None, now),
            Err(Denial::IpNotAllowed)
        );
        assert_eq!(
            decide(&s, OrgAccess::Open, None, Some(inside), now),
            Err(Denial::KeyInactive)
        );
        let s = Standing { active: true, ..s };
        assert_eq!(
            decide(&s, OrgAccess::Open, Some(read()), Some(inside), now),
            Ok(())
        );
    }

    #[test]
    fn a_rolled_key_past_its_grace_says_so() {
        let s = Standing {
            rolled: true,
            ..standing()
        };
        assert_eq!(
            decide(
                &s,
                OrgAccess::Open,
                None,
                None,
                datetime!(2026-12-01 11:59:59)
            ),
            Ok(())
        );
        assert_eq!(
            decide(&s, OrgAccess::Open, None, None, datetime!(2026-12-01 12:00)),
            Err(Denial::KeyRolled)
        );
    }

    #[test]
    fn a_token_is_refused_in_its_own_words() {
        let now = datetime!(2026-11-01 00:00);
        let token = Standing {
            kind: Kind::Token,
            active: true,
            expires_at: Some(now + time::Duration::minutes(15)),
            app: AppStanding::Active,
            permissions: PermissionSet::from_stored("services:read"),
            allowed_ips: None,
            rolled: false,
        };
        assert_eq!(
            decide(&token, OrgAccess::Open, Some(read()), None, now),
            Err(Denial::InsufficientScope(read()))
        );
        assert_eq!(
            decide(
                &token,
                OrgAccess::Open,
                None,
                None,
                now + time::Duration::minutes(15)
            ),
            Err(Denial::TokenExpired)
        );
        let revoked = Standing {
            active: false,
            ..token.clone()
        };
        assert_eq!(
            decide(&revoked, OrgAccess::Open, None, None, now),
            Err(Denial::TokenRevoked)
        );
        let app_off = Standing {
            app: AppStanding::Inactive,
            ..token
        };
        assert_eq!(
            decide(&app_off, OrgAccess::Open, None, None, now),
            Err(Denial::AppInactive)
        );
        let draft = Standing {
            app: AppStanding::Draft,
            ..app_off
        };
        assert_eq!(
            decide(&draft, OrgAccess::Open, None, None, now),
            Err(Denial::AppDraft)
        );
    }
}
