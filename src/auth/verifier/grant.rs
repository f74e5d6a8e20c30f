//! What the decision answers: a [`Denial`] with its reason, or a [`Grant`] of
//! what the credential's holder may do.

use std::any::Any;
use std::sync::OnceLock;

use crate::db::models::{ApiKey, App};
use crate::domain::scopes::{Permission, PermissionSet};
use crate::domain::{AppId, KeyId, OrgId, SourceApp, UserRef};

/// Why a request is refused. Each has a stable code for the JSON:API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No credential (401).
    MissingCredentials,
    /// The request is malformed, e.g. two `Authorization` headers (400).
    InvalidRequest(&'static str),
    /// A credential that is malformed, unknown or wrong (401).
    InvalidCredentials(&'static str),
    /// The key is switched off (401).
    KeyInactive,
    /// The key is past its expiry (401).
    KeyExpired,
    /// The key was rolled and its grace period is over (401).
    KeyRolled,
    /// The key is not accepted from the client's address (403).
    IpNotAllowed,
    /// The key's rate limit is used up (429), with the windows' state.
    RateLimited(super::limits::RateState),
    /// The key's app is inactive (401).
    AppInactive,
    /// The key's app is a draft: its wizard was not finished (401).
    AppDraft,
    /// The organization's external connectivity is off (402).
    PaymentRequired,
    /// The operator suspended the organization (402).
    Suspended,
    /// The key lacks the route's permission (403).
    InsufficientPermission(Permission),
    /// A bearer token that is not a valid access token of this server:
    /// malformed, forged, altered, or of another issuer (401).
    InvalidToken,
    /// The access token has expired (401).
    TokenExpired,
    /// The access token, its sign-in or its user's sign-in was revoked (401).
    TokenRevoked,
    /// The access token's scope lacks the route's permission (403,
    /// RFC 6750 §3.1 `insufficient_scope`).
    InsufficientScope(Permission),
    /// Too many failed attempts from this client (429).
    TooManyFailures,
    /// The database cannot be reached to check an uncached key (503).
    Unavailable,
}

/// Who holds a passing credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An API key of an app.
    ApiKey {
        /// The key's id.
        key_id: KeyId,
    },
    /// An access token of an app's user.
    User {
        /// The employee or guest.
        user: UserRef,
        /// The sign-in (token family) the token belongs to: its `sid`.
        family_id: String,
        /// The token's `jti`.
        jti: String,
        /// The token's `exp`, seconds since the epoch.
        expires: i64,
        /// The token's `iat`.
        issued: i64,
    },
}

/// What a passing credential is allowed, for the route to act on. Shared with
/// the cache: a request clones a pointer, not the grant.
pub struct Grant {
    /// The organization, from the credential: every route is scoped to it.
    pub organization_id: OrgId,
    /// The app the credential belongs to.
    pub app_id: AppId,
    /// The credential's holder.
    pub principal: Principal,
    /// What the credential may do.
    pub permissions: PermissionSet,
    /// The app's Source App, which marks what it books.
    pub source_app: SourceApp,
    /// What a route derives from the grant once (the auth check's answer
    /// headers): kept as long as the grant is cached.
    derived: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("organization_id", &self.organization_id)
            .field("app_id", &self.app_id)
            .field("principal", &self.principal)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl Grant {
    /// The grant of an API key of `app`.
    pub fn for_key(key: &ApiKey, app: &App, permissions: PermissionSet) -> Self {
        Self {
            organization_id: key.organization_id.clone(),
            app_id: app.id.clone(),
            principal: Principal::ApiKey {
                key_id: key.id.clone(),
            },
            permissions,
            source_app: app.source(),
            derived: OnceLock::new(),
        }
    }

    /// The grant of an access token of `app`, with the permissions it holds now.
    pub fn for_user(
        organization_id: OrgId,
        app: &App,
        principal: Principal,
        permissions: PermissionSet,
    ) -> Self {
        Self {
            organization_id,
            app_id: app.id.clone(),
            principal,
            permissions,
            source_app: app.source(),
            derived: OnceLock::new(),
        }
    }

    /// The API key's id, when the credential is one.
    pub fn key_id(&self) -> Option<&KeyId> {
        match &self.principal {
            Principal::ApiKey { key_id } => Some(key_id),
            Principal::User { .. } => None,
        }
    }

    /// The signed-in user, when the credential is an access token.
    pub fn user(&self) -> Option<&UserRef> {
        match &self.principal {
            Principal::User { user, .. } => Some(user),
            Principal::ApiKey { .. } => None,
        }
    }

    /// What `make` derives from this grant, made on first use and kept with the
    /// cached grant. One type per grant: the auth check is its only user.
    pub fn derived<T: Any + Send + Sync>(&self, make: impl FnOnce(&Grant) -> T) -> Option<&T> {
        self.derived
            .get_or_init(|| Box::new(make(self)))
            .downcast_ref::<T>()
    }
}
