//! The mechanisms of admin authentication: the session store, sign-in, CSRF,
//! throttling, hashing, and the client address behind trusted proxies. The
//! extractors that use them with the shared state live in `routes::extract`.
//!
//! External credentials (API keys, later access tokens) live apart from this, under
//! their own module: a console session never authenticates `/api`.

pub mod credentials;
pub mod csrf;
pub mod passkeys;
pub mod password;
pub mod session_store;
pub mod verifier;

use std::net::IpAddr;

use actix_session::Session;
use actix_web::HttpRequest;

use crate::clock;
use crate::db::models::Admin;
use crate::error::AppError;

pub use password::PasswordHasher;
pub use session_store::{ADMIN_ID_KEY, DbSessionStore, OPERATOR_ID_KEY, session_row_id};
pub use verifier::{Denial, Grant, RateState, Verified, Verifier};

/// The session key holding when the admin's password last changed, at sign-in.
const PASSWORD_STAMP_KEY: &str = "pw_at";

/// When `admin`'s password last changed, to the microsecond: a session signed in
/// before a change no longer matches it.
pub fn password_stamp(admin: &Admin) -> i64 {
    stamp_of(admin.password_changed_at)
}

fn stamp_of(at: clock::Timestamp) -> i64 {
    let t = clock::to_offset(at);
    t.unix_timestamp() * 1_000_000 + i64::from(t.microsecond())
}

/// When `operator`'s password last changed, as [`password_stamp`].
pub fn operator_password_stamp(operator: &crate::db::models::Operator) -> i64 {
    stamp_of(operator.password_changed_at)
}

/// Marks the session as signed in as `operator`, under a new session id:
/// the operator's pages only, never an organization's console.
pub fn sign_in_operator(
    session: &Session,
    operator: &crate::db::models::Operator,
    client: &SignInClient,
) -> Result<(), AppError> {
    start_session(
        session,
        (OPERATOR_ID_KEY, operator.id.as_str()),
        operator_password_stamp(operator),
        client,
    )
}

/// The password stamp the session was signed in with.
pub fn session_password_stamp(session: &Session) -> Option<i64> {
    session.get::<i64>(PASSWORD_STAMP_KEY).ok().flatten()
}

/// The session key holding when the admin last proved who they are (signing
/// in, or a step-up), in Unix seconds.
const AUTH_AT_KEY: &str = "auth_at";
/// The session key holding a random tag of this session, so the list of an
/// admin's sessions can tell which one is this.
const TAG_KEY: &str = "tag";

/// Where a sign-in comes from.
#[derive(Debug, Clone, Default)]
pub struct SignInClient {
    /// The client's address.
    pub ip: Option<String>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
}

/// Marks the session as signed in as `admin`, under a new session id, and
/// as authenticated now.
pub fn sign_in(session: &Session, admin: &Admin, client: &SignInClient) -> Result<(), AppError> {
    start_session(
        session,
        (ADMIN_ID_KEY, admin.id.as_str()),
        password_stamp(admin),
        client,
    )
}

/// A new signed-in session for `who` (its key and id), with its password
/// stamp, a tag, the client it signed in from, a fresh CSRF token, and
/// authenticated now.
fn start_session(
    session: &Session,
    who: (&str, &str),
    stamp: i64,
    client: &SignInClient,
) -> Result<(), AppError> {
    session.renew();
    session.clear();
    let user_agent: Option<String> = client
        .user_agent
        .as_deref()
        .map(|ua| ua.chars().take(300).collect());
    session
        .insert(who.0, who.1)
        .and_then(|()| session.insert(PASSWORD_STAMP_KEY, stamp))
        .and_then(|()| session.insert(TAG_KEY, crate::secrets::random_token::<16>()))
        .and_then(|()| match &client.ip {
            Some(ip) => session.insert(session_store::CLIENT_IP_KEY, ip),
            None => Ok(()),
        })
        .and_then(|()| match &user_agent {
            Some(ua) => session.insert(session_store::CLIENT_UA_KEY, ua),
            None => Ok(()),
        })
        .map_err(AppError::internal)?;
    mark_authenticated(session)?;
    csrf::rotate(session)?;
    Ok(())
}

/// Records that the admin proved who they are just now (a step-up).
pub fn mark_authenticated(session: &Session) -> Result<(), AppError> {
    session
        .insert(AUTH_AT_KEY, clock::to_offset(clock::now()).unix_timestamp())
        .map_err(AppError::internal)
}

/// When the admin last proved who they are, in Unix seconds.
pub fn authenticated_at(session: &Session) -> Option<i64> {
    session.get::<i64>(AUTH_AT_KEY).ok().flatten()
}

/// This session's tag.
pub fn session_tag(session: &Session) -> Option<String> {
    session.get::<String>(TAG_KEY).ok().flatten()
}

/// The tag a stored session's state holds.
pub fn tag_in_state(state: &str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = serde_json::from_str(state).ok()?;
    serde_json::from_str(map.get(TAG_KEY)?).ok()
}

/// Keeps this session signed in after the admin's own password change.
pub fn restamp(session: &Session, admin: &Admin) -> Result<(), AppError> {
    session
        .insert(PASSWORD_STAMP_KEY, password_stamp(admin))
        .map_err(AppError::internal)
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the
/// nearest untrusted address in `X-Forwarded-For`.
pub fn client_ip(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    const FORWARDED_FOR: actix_web::http::header::HeaderName =
        actix_web::http::header::HeaderName::from_static("x-forwarded-for");
    for value in req.headers().get_all(FORWARDED_FOR) {
        let Ok(list) = value.to_str() else {
            return Some(peer);
        };
        for hop in list.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if is_trusted(&ip) => client = ip,
                Ok(ip) => return Some(ip),
                Err(_) => return Some(client),
            }
        }
    }
    Some(client)
}
