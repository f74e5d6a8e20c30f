//! Finding a key in the database by its public id and checking its secret's
//! digest, in constant time; and what the database says of a verified access
//! token (its sign-in, its app, its user).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

use super::cache::{Entry, OrgFlags, OrgState, Stamp};
use super::decision::{AppStanding, Kind, Standing};
use super::grant::{Grant, Principal};
use super::limits::Limiter;
use crate::clock;
use crate::db::models::token::TokenFamily;
use crate::db::models::{ApiKey, App, Organization};
use crate::db::{Db, DbError};
use crate::domain::scopes::PermissionSet;
use crate::domain::{AppId, OrgId, UserRef};
use crate::jwt::AccessClaims;
use crate::secrets::{constant_time_eq, hex};

/// The state of an organization, as the credential check keeps it.
fn org_state(conn: &mut crate::db::DbConn, id: &OrgId) -> Result<Option<OrgState>, DbError> {
    Ok(org_states(conn, std::slice::from_ref(id))?.pop())
}

/// The states of these organizations (those that exist).
pub fn org_states(conn: &mut crate::db::DbConn, ids: &[OrgId]) -> Result<Vec<OrgState>, DbError> {
    Ok(Organization::credentials_states(conn, ids)?
        .into_iter()
        .map(|state| OrgState {
            suspended: state.suspended(),
            id: state.id,
            external_connectivity: state.external_connectivity,
            log_sample_basis_points: u32::try_from(state.log_sample_basis_points).unwrap_or(0),
            rate_ceiling: state.rate_ceiling.and_then(|n| u32::try_from(n).ok()),
        })
        .collect())
}

/// The key with `public_id` whose stored digest is `digest`, with its app and
/// its organization's state; `None` when there is no such key or the secret
/// does not match.
pub async fn find_key(
    db: &Db,
    public_id: &str,
    digest: &[u8; 32],
) -> Result<Option<(ApiKey, App, OrgState)>, DbError> {
    let public_id = public_id.to_owned();
    let found = db
        .run(
            move |conn| -> Result<Option<(ApiKey, App, OrgState)>, DbError> {
                let Some(key) = ApiKey::find_by_public_id(conn, &public_id)? else {
                    return Ok(None);
                };
                let Some(app) = App::find(conn, &key.organization_id, &key.app_id)? else {
                    return Ok(None);
                };
                Ok(org_state(conn, &key.organization_id)?.map(|org| (key, app, org)))
            },
        )
        .await?;
    Ok(found
        .filter(|(key, ..)| constant_time_eq(hex(digest).as_bytes(), key.secret_digest.as_bytes())))
}

/// The cache entry of a verified key, stamped as read; a limited key gets
/// its counters from `limiter`. Its requests per second are held under the
/// organization's `ceiling`, whatever the key says.
pub fn entry(
    key: &ApiKey,
    app: &App,
    org: Arc<OrgFlags>,
    stamp: Stamp,
    limiter: &Limiter,
    ceiling: Option<u32>,
) -> Entry {
    let permissions = key.permission_set();
    let allowlist = key.allowlist();
    let limits = key.rate_limits().under_ceiling(ceiling);
    Entry {
        stamp,
        grant: Arc::new(Grant::for_key(key, app, permissions)),
        standing: Standing {
            kind: Kind::Key,
            active: key.active,
            expires_at: key.expires_at,
            app: AppStanding::of(app.status()),
            permissions,
            allowed_ips: (!allowlist.is_empty()).then(|| Arc::new(allowlist)),
            rolled: key.rolled_to_id.is_some(),
        },
        org,
        queued_use: AtomicI64::new(i64::MIN),
        queued_address: AtomicU64::new(0),
        limits: limits
            .is_limited()
            .then(|| (limits, limiter.counter(&key.id))),
        first_use_pending: AtomicBool::new(
            key.rolled_from_id.is_some() && key.last_used_at.is_none(),
        ),
        usage: std::sync::OnceLock::new(),
    }
}

/// What the database says of a verified access token: its app, its sign-in,
/// whether it was revoked by its `jti`, and whether its user may still sign in.
#[derive(Debug)]
pub struct TokenFacts {
    /// The token's app.
    pub app: App,
    /// The sign-in the token belongs to.
    pub family: TokenFamily,
    /// Revoked one by one (RFC 7009).
    pub jti_revoked: bool,
    /// The user exists, has a password and is neither blocked nor gone.
    pub user_may_sign_in: bool,
    /// Its organization.
    pub org: OrgState,
}

/// The facts of the token with these (verified) claims; `None` when its app,
/// sign-in or organization is gone.
pub async fn find_token(db: &Db, claims: &AccessClaims) -> Result<Option<TokenFacts>, DbError> {
    let (org, app_id, sid, jti, sub) = (
        OrgId::from(claims.org_id.clone()),
        AppId::from(claims.client_id.as_str()),
        claims.sid.clone(),
        claims.jti.clone(),
        claims.sub.clone(),
    );
    db.run(move |conn| -> Result<Option<TokenFacts>, DbError> {
        let Some(app) = App::find(conn, &org, &app_id)? else {
            return Ok(None);
        };
        let Some(family) = TokenFamily::find(conn, &sid)? else {
            return Ok(None);
        };
        let Some(org_state) = org_state(conn, &org)? else {
            return Ok(None);
        };
        let jti_revoked = crate::db::models::token::access_token_revoked(conn, &jti)?;
        let user_may_sign_in = match UserRef::from_subject(&sub) {
            Some(user) => crate::services::users::may_sign_in(conn, &org, &user)?,
            None => false,
        };
        Ok(Some(TokenFacts {
            app,
            family,
            jti_revoked,
            user_may_sign_in,
            org: org_state,
        }))
    })
    .await
}

/// The cache entry of a verified access token, stamped as read.
/// The token holds at most its app's JWT permissions of now (they may have
/// been narrowed since it was issued).
pub fn token_entry(
    claims: &AccessClaims,
    facts: &TokenFacts,
    org: Arc<OrgFlags>,
    stamp: Stamp,
) -> Option<Entry> {
    let user = UserRef::from_subject(&claims.sub)?;
    let expires = clock::from_unix(claims.exp)?;
    let family = &facts.family;
    let live = family.revoked_at.is_none()
        && family.subject == claims.sub
        && family.app_id.as_str() == claims.client_id
        && family.organization_id.as_str() == claims.org_id
        && !facts.jti_revoked
        && facts.user_may_sign_in
        && facts.app.user_type() == user.user_type();
    let permissions =
        PermissionSet::from_stored(&claims.scope).intersection(&facts.app.jwt_permissions());
    let principal = Principal::User {
        user,
        family_id: claims.sid.clone(),
        jti: claims.jti.clone(),
        expires: claims.exp,
        issued: claims.iat,
    };
    Some(Entry {
        stamp,
        grant: Arc::new(Grant::for_user(
            family.organization_id.clone(),
            &facts.app,
            principal,
            permissions,
        )),
        standing: Standing {
            kind: Kind::Token,
            active: live,
            expires_at: Some(expires),
            app: AppStanding::of(facts.app.status()),
            permissions,
            allowed_ips: None,
            rolled: false,
        },
        org,
        queued_use: AtomicI64::new(i64::MIN),
        queued_address: AtomicU64::new(0),
        limits: None,
        first_use_pending: AtomicBool::new(false),
        usage: std::sync::OnceLock::new(),
    })
}
