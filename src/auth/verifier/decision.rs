//! The decision itself, a pure function of the cached entry, the organization's
//! feature switch, the route's permission and the time: unit tests drive it with
//! a fixed clock.
//!
//! The checks run in the order PRODUCT.md lists them, so the answer names the
//! first failing reason: the key is active, not expired, its app is active, the
//! organization's `external_connectivity` feature is on (else 402), and the key
//! holds the route's permission (else 403).

use super::grant::Denial;
use crate::clock::Timestamp;
use crate::domain::scopes::{Permission, PermissionSet};

/// What the decision needs to know of a credential, as cached.
#[derive(Debug, Clone)]
pub struct Standing {
    /// The key's Active switch.
    pub active: bool,
    /// When the key stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// Whether the key's app is active.
    pub app_active: bool,
    /// What the key may do.
    pub permissions: PermissionSet,
}

/// Whether a credential in `standing` may do `required` (or merely pass, when
/// `None`) at `now`, with the organization's connectivity switch as given.
pub fn decide(
    standing: &Standing,
    external_connectivity: bool,
    required: Option<Permission>,
    now: Timestamp,
) -> Result<(), Denial> {
    if !standing.active {
        return Err(Denial::KeyInactive);
    }
    if standing.expires_at.is_some_and(|t| t <= now) {
        return Err(Denial::KeyExpired);
    }
    if !standing.app_active {
        return Err(Denial::AppInactive);
    }
    if !external_connectivity {
        return Err(Denial::PaymentRequired);
    }
    if let Some(p) = required
        && !standing.permissions.contains(p)
    {
        return Err(Denial::InsufficientPermission(p));
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
            active: true,
            expires_at: Some(datetime!(2026-12-01 12:00)),
            app_active: true,
            permissions: PermissionSet::from_stored("appointments:read"),
        }
    }

    #[test]
    fn a_key_passes_until_the_instant_it_expires() {
        let s = standing();
        assert_eq!(
            decide(&s, true, Some(read()), datetime!(2026-12-01 11:59:59)),
            Ok(())
        );
        assert_eq!(
            decide(&s, true, Some(read()), datetime!(2026-12-01 12:00)),
            Err(Denial::KeyExpired)
        );
    }

    #[test]
    fn the_first_failing_check_names_the_refusal() {
        let now = datetime!(2026-11-01 00:00);
        let all_wrong = Standing {
            active: false,
            expires_at: Some(now),
            app_active: false,
            permissions: PermissionSet::default(),
        };
        assert_eq!(
            decide(&all_wrong, false, Some(read()), now),
            Err(Denial::KeyInactive)
        );
        let s = Standing {
            active: true,
            ..all_wrong
        };
        assert_eq!(
            decide(&s, false, Some(read()), now),
            Err(Denial::KeyExpired)
        );
        let s = Standing {
            expires_at: None,
            ..s
        };
        assert_eq!(
            decide(&s, false, Some(read()), now),
            Err(Denial::AppInactive)
        );
        let s = Standing {
            app_active: true,
            ..s
        };
        assert_eq!(
            decide(&s, false, Some(read()), now),
            Err(Denial::PaymentRequired)
        );
        assert_eq!(
            decide(&s, true, Some(read()), now),
            Err(Denial::InsufficientPermission(read()))
        );
        assert_eq!(decide(&s, true, None, now), Ok(()));
        assert_eq!(decide(&standing(), true, Some(read()), now), Ok(()));
    }
}
