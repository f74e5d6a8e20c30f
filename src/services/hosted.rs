//! The hosted sign-in of app users (OpenID Connect Core 1.0 with the OAuth
//! 2.0 authorization code flow, RFC 6749 §4.1, and PKCE, RFC 7636): their
//! sessions on Keyward's pages, the codes those pages give apps, the exchange
//! of a code for tokens and an ID token, and signing out.
//!
//! A hosted session is shared by the organization's apps of the user's type:
//! signed in once, a user is sent straight back to the next app that asks. It
//! ends at sign-out, after [`SESSION_LIFETIME`], or as soon as the user may no
//! longer sign in or has a password newer than the session.
//!
//! A code is 32 random bytes; only its SHA-256 is stored. It works once, for
//! [`CODE_LIFETIME`], for the app, redirect URI and PKCE verifier of its
//! request. Presented again, it is refused and the sign-in it made is revoked
//! (RFC 6749 §4.1.2, RFC 9700 §4.5).

use secrecy::SecretString;
use serde_json::json;

use super::tokens::{self, Issuer, NewSignIn, TokenPair};
use super::{OpError, audit};
use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::models::hosted::{AuthorizationCode, HostedSession};
use crate::db::models::token::TokenFamily;
use crate::db::models::{Action, Actor, App, Target, UserCredential};
use crate::domain::UserRef;
use crate::domain::oauth::{AuthorizationRequest, CodeChallenge, Scope};
use crate::jwt::IdClaims;
use crate::secrets::{constant_time_eq, random_token, sha256_hex};

/// How long a hosted session lasts after the password was typed.
pub const SESSION_LIFETIME: time::Duration = time::Duration::hours(12);
/// How long an authorization code may wait to be exchanged (RFC 6749 §4.1.2:
/// "a maximum authorization code lifetime of 10 minutes is RECOMMENDED").
pub const CODE_LIFETIME: time::Duration = time::Duration::seconds(60);
/// How long used and expired codes are kept, so that a replay is still
/// recognised and revokes what the code made.
pub const CODES_KEPT: time::Duration = time::Duration::days(1);

/// The audit target of a user, within an app when there is one.
fn user_target(app: Option<&App>, user: &UserRef, label: &str) -> Target {
    Target {
        app_id: app.map(|a| a.id.clone()),
        ..Target::new(user.user_type().as_str(), user.user_id(), label)
    }
}

/// A new hosted session: the row, and the cookie's value (shown once).
#[derive(Debug)]
pub struct Started {
    /// The session.
    pub session: HostedSession,
    /// `<id>.<secret>`, for the cookie.
    pub cookie: SecretString,
}

/// A user typed their right password on the hosted page of `app`: a new
/// hosted session, audited.
pub fn start_session(
    conn: &mut DbConn,
    app: &App,
    user: &UserRef,
    label: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<Started, OpError> {
    let id = random_token::<16>();
    let secret = random_token::<32>();
    let session = HostedSession {
        id: id.clone(),
        organization_id: app.organization_id.clone(),
        subject: user.subject(),
        secret_digest: sha256_hex(secret.as_bytes()),
        auth_time: now,
        created_at: now,
        expires_at: now + SESSION_LIFETIME,
        ended_at: None,
        client_ip: actor.ip.clone(),
        user_agent: actor.user_agent.clone(),
    };
    HostedSession::insert(conn, &session)?;
    audit(
        conn,
        &app.organization_id,
        actor,
        Action::UserHostedSignedIn,
        user_target(Some(app), user, label),
        json!({ "app": app.name, "session": id }),
    )?;
    Ok(Started {
        session,
        cookie: SecretString::from(format!("{id}.{secret}")),
    })
}

/// The live session a cookie names, if its secret matches and its user may
/// still sign in with the password they typed for it.
pub fn session_from_cookie(
    conn: &mut DbConn,
    cookie: &str,
    now: Timestamp,
) -> diesel::QueryResult<Option<HostedSession>> {
    let Some((id, secret)) = cookie.split_once('.') else {
        return Ok(None);
    };
    if id.is_empty() || id.len() > 64 || secret.len() > 64 {
        return Ok(None);
    }
    let Some(session) = HostedSession::find(conn, id)? else {
        return Ok(None);
    };
    let digest = sha256_hex(secret.as_bytes());
    if !constant_time_eq(digest.as_bytes(), session.secret_digest.as_bytes())
        || session.ended_at.is_some()
        || session.expires_at <= now
    {
        return Ok(None);
    }
    let Some(user) = UserRef::from_subject(&session.subject) else {
        return Ok(None);
    };
    if !super::users::may_sign_in(conn, &session.organization_id, &user)? {
        return Ok(None);
    }
    // A password set since (a reset link used, a change) ends the session.
    let newer = UserCredential::find(conn, &session.organization_id, &user)?
        .and_then(|c| c.password_set_at)
        .is_some_and(|set| set > session.auth_time);
    Ok((!newer).then_some(session))
}

/// A code for `app` from the hosted `session`, for the validated `request`.
/// The code's text is returned once; the row keeps its digest.
pub fn issue_code(
    conn: &mut DbConn,
    app: &App,
    session: &HostedSession,
    request: &AuthorizationRequest,
    now: Timestamp,
) -> Result<SecretString, OpError> {
    let code = random_token::<32>();
    AuthorizationCode::insert(
        conn,
        &AuthorizationCode {
            digest: sha256_hex(code.as_bytes()),
            organization_id: app.organization_id.clone(),
            app_id: app.id.clone(),
            subject: session.subject.clone(),
            session_id: session.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.as_str().to_owned(),
            scope: request.scope.to_stored(),
            nonce: request.nonce.clone(),
            auth_time: session.auth_time,
            created_at: now,
            expires_at: now + CODE_LIFETIME,
            used_at: None,
            family_id: None,
        },
    )?;
    Ok(SecretString::from(code))
}

/// What an exchange of a code came to.
#[derive(Debug)]
pub enum Exchanged {
    /// Tokens, and an ID token when `openid` was granted.
    Tokens {
        /// The access and refresh tokens.
        pair: TokenPair,
        /// The ID token.
        id_token: Option<String>,
    },
    /// The code was used before: what it made is revoked, and that is
    /// recorded. The client is told `invalid_grant`.
    Replayed,
}

/// The one refusal of a code that is unknown, another app's, expired or used
/// (which, is not said: RFC 6749 §5.2 `invalid_grant`).
fn unusable_code() -> OpError {
    OpError::invalid(
        "invalid_grant",
        "code",
        "The authorization code is invalid, expired or used. Start the sign-in again.",
    )
}

/// What the exchange of a code presents (RFC 6749 §4.1.3, RFC 7636 §4.5).
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// `code`.
    pub code: &'a str,
    /// `redirect_uri`: the request's, byte for byte.
    pub redirect_uri: &'a str,
    /// `code_verifier`.
    pub code_verifier: &'a str,
}

/// Exchanges a code presented by `app` for a sign-in's tokens.
pub fn exchange_code(
    conn: &mut DbConn,
    issuer: Issuer<'_>,
    app: &App,
    exchange: Exchange<'_>,
    actor: &Actor,
    now: Timestamp,
) -> Result<Exchanged, OpError> {
    if exchange.code.len() > 128 {
        return Err(unusable_code());
    }
    let digest = sha256_hex(exchange.code.as_bytes());
    let Some(code) = AuthorizationCode::find(conn, &digest)? else {
        return Err(unusable_code());
    };
    // RFC 6749 §4.1.3: issued to this client.
    if code.app_id != app.id || code.organization_id != app.organization_id {
        return Err(unusable_code());
    }
    if code.used_at.is_some() {
        return replayed(conn, app, &code, actor, now);
    }
    if code.expires_at <= now {
        return Err(unusable_code());
    }
    // §4.1.3: the same redirect URI as the request, byte for byte.
    if code.redirect_uri != exchange.redirect_uri {
        return Err(OpError::invalid(
            "invalid_grant",
            "redirect_uri",
            "redirect_uri is not the one of the authorization request.",
        ));
    }
    // RFC 7636 §4.6.
    if !CodeChallenge::is_met_by(&code.code_challenge, exchange.code_verifier) {
        return Err(OpError::invalid(
            "invalid_grant",
            "code_verifier",
            "code_verifier does not match the code_challenge of the authorization request.",
        ));
    }
    if !AuthorizationCode::use_up(conn, &digest, now)? {
        // A concurrent exchange won: this one is a replay of it.
        let code = AuthorizationCode::find(conn, &digest)?.ok_or_else(unusable_code)?;
        return replayed(conn, app, &code, actor, now);
    }
    let user = UserRef::from_subject(&code.subject).ok_or_else(unusable_code)?;
    if user.user_type() != app.user_type()
        || !super::users::may_sign_in(conn, &app.organization_id, &user)?
    {
        return Err(unusable_code());
    }
    let granted = Scope::from_stored(&code.scope);
    let permissions = granted.permissions().intersection(&app.jwt_permissions());
    if permissions.is_empty() {
        return Err(OpError::invalid(
            "invalid_grant",
            "code",
            "The app no longer grants any of the permissions asked for. Start the sign-in again.",
        ));
    }
    let scope = granted.with_permissions(permissions);
    let (name, email) =
        super::users::profile(conn, &app.organization_id, &user)?.ok_or_else(unusable_code)?;
    let (pair, family_id) = tokens::sign_in(
        conn,
        issuer,
        NewSignIn {
            app,
            user: &user,
            label: &name,
            scope: &scope,
            hosted_session: Some(&code.session_id),
            grant: "authorization_code",
        },
        actor,
        now,
    )?;
    AuthorizationCode::set_family(conn, &digest, &family_id)?;
    let id_token = if scope.has("openid") {
        let org = crate::db::models::Organization::find_by_id(conn, &app.organization_id)?;
        let claims = IdClaims {
            // OpenID Connect Core §2: the issuer the client discovered, its
            // organization's.
            iss: org.issuer(issuer.public),
            sub: user.subject(),
            aud: app.id.to_string(),
            exp: pair.expires_at,
            iat: now.assume_utc().unix_timestamp(),
            auth_time: code.auth_time.assume_utc().unix_timestamp(),
            nonce: code.nonce.clone(),
            sid: code.session_id.clone(),
            email: email.filter(|_| scope.has("email")),
            name: scope.has("profile").then_some(name),
        };
        Some(tokens::id_token(
            conn,
            issuer,
            &app.organization_id,
            &claims,
        )?)
    } else {
        None
    };
    Ok(Exchanged::Tokens { pair, id_token })
}

/// A used code presented again: the sign-in it made is revoked and recorded.
fn replayed(
    conn: &mut DbConn,
    app: &App,
    code: &AuthorizationCode,
    actor: &Actor,
    now: Timestamp,
) -> Result<Exchanged, OpError> {
    let revoked = match &code.family_id {
        Some(family) => TokenFamily::revoke(conn, family, "code_reused", now)?,
        None => false,
    };
    if let Some(user) = UserRef::from_subject(&code.subject) {
        audit(
            conn,
            &app.organization_id,
            actor,
            Action::CodeReused,
            user_target(Some(app), &user, &code.subject),
            json!({ "session": code.family_id, "revoked": revoked }),
        )?;
    }
    Ok(Exchanged::Replayed)
}

/// Ends a hosted session (signing out), and with `revoke_tokens` the
/// sign-ins its codes made. False when it had ended already.
pub fn end_session(
    conn: &mut DbConn,
    session: &HostedSession,
    app: Option<&App>,
    revoke_tokens: bool,
    actor: &Actor,
    now: Timestamp,
) -> Result<bool, OpError> {
    if !HostedSession::end(conn, &session.id, now)? {
        return Ok(false);
    }
    let revoked = if revoke_tokens {
        TokenFamily::revoke_hosted_session(conn, &session.id, "signed_out", now)?
    } else {
        0
    };
    if let Some(user) = UserRef::from_subject(&session.subject) {
        let label = super::users::profile(conn, &session.organization_id, &user)?
            .map_or_else(|| session.subject.clone(), |(name, _)| name);
        audit(
            conn,
            &session.organization_id,
            actor,
            Action::UserHostedSignedOut,
            user_target(app, &user, &label),
            json!({
                "app": app.map(|a| a.name.clone()),
                "session": session.id,
                "sign_ins_revoked": revoked,
            }),
        )?;
    }
    Ok(true)
}

/// Housekeeping: codes past any use, and sessions long over.
pub fn tidy(conn: &mut DbConn, now: Timestamp) -> Result<usize, OpError> {
    let codes = AuthorizationCode::delete_expired(conn, now - CODES_KEPT)?;
    let sessions = HostedSession::delete_old(conn, now - CODES_KEPT)?;
    Ok(codes + sessions)
}
