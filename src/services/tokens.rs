//! Access and refresh tokens of an app's users: the sign-in of the password
//! grant (RFC 6749 §4.3), refresh with rotation and reuse detection (RFC 6749
//! §6, RFC 9700 §4.14.2), revocation (RFC 7009), and the end of every sign-in
//! of a user who may no longer sign in.
//!
//! A sign-in is a token family: the refresh tokens it rotates through, and the
//! access tokens they give, each naming the family as its `sid`. Revoking the
//! family ends all of them; its audit record names the user in the change feed, so
//! every instance stops trusting what it cached of them.
//!
//! Refresh tokens are stored as keyed digests. A refresh marks the presented
//! token rotated in the same statement that checks it was not, so of two
//! concurrent refreshes only one rotates; the other, and a client's retry
//! within the organization's grace, gets the same new pair (kept sealed for
//! the grace only). A rotated token presented after the grace revokes its
//! whole family.

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{OpError, audit};
use crate::clock::{self, Timestamp};
use crate::db::models::hosted::HostedSession;
use crate::db::models::token::{self, RefreshToken, SigningKey, TokenFamily};
use crate::db::models::{Action, Actor, App, Organization, Target};
use crate::db::{DbConn, new_id};
use crate::domain::key_token::{NewRefresh, RefreshRef};
use crate::domain::oauth::Scope;
use crate::domain::scopes::PermissionSet;
use crate::domain::{OrgId, UserRef};
use crate::jwt::{self, AccessClaims, IdClaims, Signer, Signers};
use crate::secrets::{DigestKey, SealingKey, constant_time_eq, hex};

/// How long ended sign-ins are kept (shown as revoked, and so that a stolen
/// refresh token of theirs is still recognised) before they are forgotten.
pub const ENDED_KEPT: time::Duration = time::Duration::days(30);

/// What issuing tokens needs besides the database.
#[derive(Debug, Clone, Copy)]
pub struct Issuer<'a> {
    /// The signing keys opened so far.
    pub signers: &'a Signers,
    /// Opens the signing keys, seals a rotated token's successor.
    pub sealing: &'a SealingKey,
    /// Keys the refresh tokens' digests.
    pub digest_key: &'a DigestKey,
    /// The public URL without a trailing slash: the `iss` of an
    /// organization's tokens is its issuer under it (`Organization::issuer`),
    /// their `aud` the API under it.
    pub public: &'a str,
}

/// A token pair, as the token endpoint answers it (RFC 6749 §5.1).
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenPair {
    /// The access token (a JWT).
    pub access_token: String,
    /// Its `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// The refresh token.
    pub refresh_token: String,
    /// The permissions the access token carries, space-separated.
    pub scope: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenPair {
    /// Seconds until the access token expires, from `now`.
    pub fn expires_in(&self, now: Timestamp) -> i64 {
        (self.expires_at - now.assume_utc().unix_timestamp()).max(0)
    }
}

/// What a refresh came to.
#[derive(Debug)]
pub enum Refreshed {
    /// A new pair (or, within the grace, the pair a concurrent refresh got).
    Pair(TokenPair),
    /// The token was rotated before: its family is revoked, and that is
    /// recorded. The client is told `invalid_grant`.
    Reused,
}

fn invalid_grant(message: &str) -> OpError {
    OpError::invalid("invalid_grant", "refresh_token", message)
}

/// The refusal of a refresh token that is unknown, altered, expired or revoked
/// (which of these is not said).
fn unusable_refresh_token() -> OpError {
    invalid_grant("The refresh token is invalid, expired or revoked. Sign in again.")
}

/// The target of a user's token records: the user, within the app.
fn user_target(app: &App, user: &UserRef, label: &str) -> Target {
    Target {
        app_id: Some(app.id.clone()),
        ..Target::new(user.user_type().as_str(), user.user_id(), label)
    }
}

/// The organization's signing key, opened.
fn signer(
    conn: &mut DbConn,
    issuer: Issuer<'_>,
    org: &OrgId,
) -> Result<std::sync::Arc<Signer>, OpError> {
    let key = match SigningKey::active(conn, org)? {
        Some(key) => key,
        None => super::signing_keys::ensure(conn, org, issuer.sealing)?,
    };
    issuer
        .signers
        .get(&key.kid, &key.private_key_sealed, issuer.sealing)
        .ok_or_else(|| {
            OpError::Internal(
                "the token signing key does not open with this server's secret key".to_owned(),
            )
        })
}

/// An ID token (OpenID Connect Core §2), signed with the organization's key.
pub fn id_token(
    conn: &mut DbConn,
    issuer: Issuer<'_>,
    org: &OrgId,
    claims: &IdClaims,
) -> Result<String, OpError> {
    signer(conn, issuer, org)?
        .sign_id_token(claims)
        .map_err(|e| OpError::Internal(format!("signing an ID token: {e}")))
}

/// The access token and refresh token of `family` now, not yet stored: the
/// refresh token's row is returned for the caller to insert.
fn new_pair(
    conn: &mut DbConn,
    issuer: Issuer<'_>,
    org: &Organization,
    family: &TokenFamily,
    scope: &Scope,
    now: Timestamp,
) -> Result<(TokenPair, RefreshToken), OpError> {
    let signer = signer(conn, issuer, &org.id)?;
    let user_type = UserRef::from_subject(&family.subject)
        .map_or("", |u| u.user_type().as_str())
        .to_owned();
    let iat = now.assume_utc().unix_timestamp();
    let exp = iat + i64::from(org.access_token_minutes) * 60;
    let scope = scope.to_stored();
    let claims = AccessClaims {
        iss: org.issuer(issuer.public),
        sub: family.subject.clone(),
        // RFC 9068 §3: the resource, this server's one API, whichever
        // organization issued the token.
        aud: jwt::audience(issuer.public),
        client_id: family.app_id.to_string(),
        scope: scope.clone(),
        exp,
        iat,
        jti: new_id(),
        sid: family.id.clone(),
        user_type,
        org_id: org.id.to_string(),
    };
    let access_token = signer
        .sign(&claims)
        .map_err(|e| OpError::Internal(format!("signing an access token: {e}")))?;
    let refresh = NewRefresh::generate();
    let idle = now + time::Duration::days(i64::from(org.refresh_idle_days));
    let row = RefreshToken {
        public_id: refresh.public_id.clone(),
        family_id: family.id.clone(),
        digest: issuer.digest_key.digest(refresh.secret()),
        created_at: now,
        idle_expires_at: idle.min(family.expires_at),
        rotated_at: None,
        successor_sealed: None,
    };
    Ok((
        TokenPair {
            access_token,
            expires_at: exp,
            refresh_token: refresh.token.expose_secret().to_owned(),
            scope,
        },
        row,
    ))
}

/// What a new sign-in is.
#[derive(Debug, Clone, Copy)]
pub struct NewSignIn<'a> {
    /// The app it is through.
    pub app: &'a App,
    /// The user.
    pub user: &'a UserRef,
    /// The user's name, for the audit record.
    pub label: &'a str,
    /// What its tokens carry.
    pub scope: &'a Scope,
    /// The hosted session it came through (authorization code grant).
    pub hosted_session: Option<&'a str>,
    /// The grant that made it: `password` or `authorization_code`.
    pub grant: &'static str,
}

/// A user signed in through an app (a right password, or an authorization
/// code): a new sign-in and its first token pair. Returns the pair and the
/// sign-in's id.
pub fn sign_in(
    conn: &mut DbConn,
    issuer: Issuer<'_>,
    new: NewSignIn<'_>,
    actor: &Actor,
    now: Timestamp,
) -> Result<(TokenPair, String), OpError> {
    let NewSignIn {
        app,
        user,
        label,
        scope,
        hosted_session,
        grant,
    } = new;
    let org = Organization::find_by_id(conn, &app.organization_id)?;
    let family = TokenFamily {
        id: new_id(),
        organization_id: org.id.clone(),
        app_id: app.id.clone(),
        subject: user.subject(),
        scope: scope.to_stored(),
        client_ip: actor.ip.clone(),
        user_agent: actor.user_agent.clone(),
        created_at: now,
        last_used_at: now,
        expires_at: now + time::Duration::days(i64::from(org.refresh_token_days)),
        revoked_at: None,
        revoked_reason: None,
        hosted_session_id: hosted_session.map(str::to_owned),
    };
    TokenFamily::insert(conn, &family)?;
    let (pair, row) = new_pair(conn, issuer, &org, &family, scope, now)?;
    RefreshToken::insert(conn, &row)?;
    audit(
        conn,
        &org.id,
        actor,
        Action::UserSignedIn,
        user_target(app, user, label),
        json!({ "app": app.name, "scope": family.scope, "session": family.id, "grant": grant }),
    )?;
    Ok((pair, family.id))
}

/// The sealing context of a rotated token's successor: bound to that token.
fn successor_context(public_id: &str) -> String {
    format!("refresh-successor:{public_id}")
}

/// The refresh token `presented` (RFC 6749 §6), by the authenticated `app`,
/// with the scope `requested` (at most the sign-in's), exchanged for a new pair.
pub fn refresh(
    conn: &mut DbConn,
    issuer: Issuer<'_>,
    app: &App,
    presented: &str,
    requested: Option<&PermissionSet>,
    actor: &Actor,
    now: Timestamp,
) -> Result<Refreshed, OpError> {
    let parsed = RefreshRef::parse(presented).map_err(|_| unusable_refresh_token())?;
    let (row, family) = find_refresh(conn, issuer.digest_key, parsed)?;
    // RFC 6749 §6: the token must have been issued to the authenticated client.
    if family.app_id != app.id || family.revoked_at.is_some() || family.expires_at <= now {
        return Err(unusable_refresh_token());
    }
    let org = Organization::find_by_id(conn, &app.organization_id)?;
    if let Some(rotated_at) = row.rotated_at {
        return again(
            conn, issuer, app, &org, &row, &family, rotated_at, actor, now,
        );
    }
    if row.idle_expires_at <= now {
        return Err(unusable_refresh_token());
    }
    let user = UserRef::from_subject(&family.subject).ok_or_else(unusable_refresh_token)?;
    if !super::users::may_sign_in(conn, &org.id, &user)? || app.user_type() != user.user_type() {
        return Err(unusable_refresh_token());
    }
    // The sign-in's scope, within what the app grants now; its OpenID
    // Connect scopes stay as they were granted.
    let stored = Scope::from_stored(&family.scope);
    let granted = stored.permissions().intersection(&app.jwt_permissions());
    let scope = match requested {
        // RFC 6749 §6: no scope beyond what was originally granted.
        Some(asked) if !asked.is_subset(&granted) => {
            return Err(OpError::invalid(
                "invalid_scope",
                "scope",
                "The scope asks for more than this sign-in was granted.",
            ));
        }
        Some(asked) => *asked,
        None => granted,
    };
    if scope.is_empty() {
        return Err(invalid_grant(
            "The app no longer grants any of this sign-in's permissions. Sign in again.",
        ));
    }
    let scope = stored.with_permissions(scope);
    let (pair, next) = new_pair(conn, issuer, &org, &family, &scope, now)?;
    let sealed = issuer.sealing.seal(
        serde_json::to_string(&pair).unwrap_or_default().as_bytes(),
        &successor_context(&row.public_id),
    );
    if !RefreshToken::rotate(conn, &row.public_id, &sealed, now)? {
        // A concurrent refresh rotated it first: answer as a retry of it.
        let row = RefreshToken::find(conn, &row.public_id)?.ok_or_else(unusable_refresh_token)?;
        let rotated_at = row.rotated_at.unwrap_or(now);
        return again(
            conn, issuer, app, &org, &row, &family, rotated_at, actor, now,
        );
    }
    RefreshToken::insert(conn, &next)?;
    TokenFamily::touch(conn, &family.id, now)?;
    Ok(Refreshed::Pair(pair))
}

/// The refresh token with this public id whose digest matches, and its family.
fn find_refresh(
    conn: &mut DbConn,
    digest_key: &DigestKey,
    parsed: RefreshRef<'_>,
) -> Result<(RefreshToken, TokenFamily), OpError> {
    let row = RefreshToken::find(conn, parsed.public_id())?.ok_or_else(unusable_refresh_token)?;
    let digest = hex(&digest_key.digest_bytes(parsed.secret()));
    if !constant_time_eq(digest.as_bytes(), row.digest.as_bytes()) {
        return Err(unusable_refresh_token());
    }
    let family = TokenFamily::find(conn, &row.family_id)?.ok_or_else(unusable_refresh_token)?;
    Ok((row, family))
}

/// A rotated refresh token presented again: within the grace, the pair it
/// was exchanged for (a client's retry, or the loser of a concurrent
/// refresh); after it, a replay: the whole family is revoked and recorded
/// (RFC 9700 §4.14.2).
#[expect(clippy::too_many_arguments, reason = "the refresh's facts, passed on")]
fn again(
    conn: &mut DbConn,
    issuer: Issuer<'_>,
    app: &App,
    org: &Organization,
    row: &RefreshToken,
    family: &TokenFamily,
    rotated_at: Timestamp,
    actor: &Actor,
    now: Timestamp,
) -> Result<Refreshed, OpError> {
    let grace = time::Duration::seconds(i64::from(org.refresh_grace_seconds));
    if now - rotated_at <= grace
        && let Some(pair) = row
            .successor_sealed
            .as_deref()
            .and_then(|s| issuer.sealing.open(s, &successor_context(&row.public_id)))
            .and_then(|plain| serde_json::from_slice::<TokenPair>(&plain).ok())
    {
        return Ok(Refreshed::Pair(pair));
    }
    if TokenFamily::revoke(conn, &family.id, "reuse_detected", now)? {
        let label = family.subject.clone();
        if let Some(user) = UserRef::from_subject(&family.subject) {
            audit(
                conn,
                &org.id,
                actor,
                Action::TokenReuseDetected,
                user_target(app, &user, &label),
                json!({
                    "session": family.id,
                    "rotated_at": clock::fmt::timestamp(rotated_at),
                    "grace_seconds": org.refresh_grace_seconds,
                }),
            )?;
        }
    }
    Ok(Refreshed::Reused)
}

/// A refresh token and its sign-in, if the token is one of this app's and
/// still usable: for introspection (RFC 7662).
pub fn live_refresh_token(
    conn: &mut DbConn,
    digest_key: &DigestKey,
    org: &OrgId,
    presented: &str,
    now: Timestamp,
) -> Result<Option<(RefreshToken, TokenFamily)>, OpError> {
    let Ok(parsed) = RefreshRef::parse(presented) else {
        return Ok(None);
    };
    let (row, family) = match find_refresh(conn, digest_key, parsed) {
        Ok(found) => found,
        Err(OpError::Invalid { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let user = UserRef::from_subject(&family.subject);
    let live = &family.organization_id == org
        && family.revoked_at.is_none()
        && family.expires_at > now
        && row.rotated_at.is_none()
        && row.idle_expires_at > now;
    let may = match user {
        Some(user) if live => super::users::may_sign_in(conn, org, &user)?,
        _ => false,
    };
    Ok(may.then_some((row, family)))
}

/// Revokes the sign-in of a refresh token presented by the authenticated
/// `app` (RFC 7009 §2.1): its access tokens end with it. A token that is
/// unknown, altered, another app's or already revoked changes nothing and is
/// no error (§2.2).
pub fn revoke_refresh_token(
    conn: &mut DbConn,
    digest_key: &DigestKey,
    app: &App,
    presented: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<bool, OpError> {
    let Ok(parsed) = RefreshRef::parse(presented) else {
        return Ok(false);
    };
    let family = match find_refresh(conn, digest_key, parsed) {
        Ok((_, family)) if family.app_id == app.id => family,
        Ok(_) | Err(OpError::Invalid { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    end_family(conn, app, &family, "revoked", actor, now)
}

fn end_family(
    conn: &mut DbConn,
    app: &App,
    family: &TokenFamily,
    reason: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<bool, OpError> {
    if !TokenFamily::revoke(conn, &family.id, reason, now)? {
        return Ok(false);
    }
    let Some(user) = UserRef::from_subject(&family.subject) else {
        return Ok(true);
    };
    audit(
        conn,
        &family.organization_id,
        actor,
        Action::TokenRevoked,
        user_target(app, &user, &family.subject),
        json!({ "session": family.id, "reason": reason }),
    )?;
    Ok(true)
}

/// Blocks one access token of the authenticated `app` by its `jti` until it
/// expires (RFC 7009 §2.1). Another app's token changes nothing.
pub fn revoke_access_token(
    conn: &mut DbConn,
    app: &App,
    claims: &AccessClaims,
    actor: &Actor,
) -> Result<bool, OpError> {
    if claims.client_id != app.id.as_str() || claims.org_id != app.organization_id.as_str() {
        return Ok(false);
    }
    if token::access_token_revoked(conn, &claims.jti)? {
        return Ok(false);
    }
    let expires = clock::from_unix(claims.exp).unwrap_or_else(clock::now);
    token::revoke_access_token(conn, &app.organization_id, &claims.jti, expires)?;
    if let Some(user) = UserRef::from_subject(&claims.sub) {
        audit(
            conn,
            &app.organization_id,
            actor,
            Action::TokenRevoked,
            user_target(app, &user, &claims.sub),
            json!({ "session": claims.sid, "access_token": claims.jti, "reason": "revoked" }),
        )?;
    }
    Ok(true)
}

/// An admin ends one sign-in of `user` (the Revoke button of the user's
/// sessions), and the hosted session it came through: false when it was not
/// live.
pub fn revoke_session(
    conn: &mut DbConn,
    org: &OrgId,
    actor: &Actor,
    user: &UserRef,
    family_id: &str,
) -> Result<bool, OpError> {
    let family = TokenFamily::find(conn, family_id)?
        .filter(|f| &f.organization_id == org && f.subject == user.subject())
        .ok_or(OpError::NotFound)?;
    let app = App::find(conn, org, &family.app_id)?.ok_or(OpError::NotFound)?;
    // A sign-in through the hosted page ends with the hosted session it came
    // from, or the app would get a new code without the user's password.
    if let Some(session) = &family.hosted_session_id {
        HostedSession::end(conn, session, clock::now())?;
    }
    end_family(conn, &app, &family, "revoked_by_admin", actor, clock::now())
}

/// Housekeeping: sealed successors past any grace, revocations of access
/// tokens that have expired anyway, and sign-ins ended long ago.
pub fn tidy(conn: &mut DbConn, now: Timestamp) -> Result<usize, OpError> {
    // The longest grace a setting allows.
    let successors = RefreshToken::forget_successors(conn, now - time::Duration::seconds(60))?;
    let revocations = token::forget_expired_revocations(conn, now)?;
    let families = TokenFamily::delete_ended(conn, now - ENDED_KEPT)?;
    Ok(successors + revocations + families)
}
