//! Admin authentication: sessions, the signed-in admin, CSRF, throttling, hashing.
//!
//! External credentials (API keys, later access tokens) live apart from this, under
//! their own module: a console session never authenticates `/api`.

pub mod credentials;
pub mod csrf;
pub mod password;
pub mod session_store;
pub mod throttle;
pub mod verifier;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::clock;
use crate::db::models::{Actor, Admin, Role};
use crate::error::AppError;
use crate::startup::AppState;

pub use password::PasswordHasher;
pub use session_store::{ADMIN_ID_KEY, DbSessionStore};
pub use verifier::{Denial, Grant, Verifier};

/// The session key holding when the admin's password last changed, at sign-in.
const PASSWORD_STAMP_KEY: &str = "pw_at";

/// The signed-in admin, loaded fresh on every request.
#[derive(Debug, Clone)]
pub struct CurrentAdmin {
    /// Id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Organization.
    pub organization_id: String,
}

impl CurrentAdmin {
    /// Whether this admin may use the API keys section.
    pub fn is_full(&self) -> bool {
        self.role == Role::Full
    }
}

fn password_stamp(admin: &Admin) -> i64 {
    let t = clock::to_offset(admin.password_changed_at);
    t.unix_timestamp() * 1_000_000 + i64::from(t.microsecond())
}

/// Marks the session as signed in as `admin`, under a new session id.
pub fn sign_in(session: &Session, admin: &Admin) -> Result<(), AppError> {
    session.renew();
    session.clear();
    session
        .insert(ADMIN_ID_KEY, &admin.id)
        .and_then(|()| session.insert(PASSWORD_STAMP_KEY, password_stamp(admin)))
        .map_err(AppError::internal)?;
    csrf::rotate(session)?;
    Ok(())
}

/// The path and query of the request, to come back to after signing in.
fn return_path(req: &HttpRequest) -> String {
    if req.method() != actix_web::http::Method::GET {
        return "/".to_owned();
    }
    match req.uri().path_and_query() {
        Some(pq) => pq.as_str().to_owned(),
        None => "/".to_owned(),
    }
}

async fn load_current(req: HttpRequest) -> Result<CurrentAdmin, AppError> {
    let session = req.get_session();
    let sign_in = || AppError::SignInRequired {
        next: return_path(&req),
    };
    let Some(admin_id) = session.get::<String>(ADMIN_ID_KEY).ok().flatten() else {
        return Err(sign_in());
    };
    let stamp = session.get::<i64>(PASSWORD_STAMP_KEY).ok().flatten();
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::internal("no app state"))?;
    let admin = state
        .db
        .run(move |conn| Admin::find_by_id(conn, &admin_id).map_err(crate::db::DbError::from))
        .await?;
    match admin {
        Some(admin) if Some(password_stamp(&admin)) == stamp => Ok(CurrentAdmin {
            role: admin.role(),
            id: admin.id,
            email: admin.email,
            organization_id: admin.organization_id,
        }),
        _ => {
            // Deleted, or the password changed since: this session is over.
            session.purge();
            Err(sign_in())
        }
    }
}

impl FromRequest for CurrentAdmin {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(load_current(req.clone()))
    }
}

/// A signed-in admin with full access: the API keys section needs one. Others get 403.
/// Carries the admin as the audit trail's actor for this request.
#[derive(Debug, Clone)]
pub struct FullAdmin {
    admin: CurrentAdmin,
    actor: Actor,
}

impl FullAdmin {
    /// Who does what this request changes: the admin, from this request's client
    /// address and user agent.
    pub fn actor(&self) -> Actor {
        self.actor.clone()
    }
}

impl std::ops::Deref for FullAdmin {
    type Target = CurrentAdmin;
    fn deref(&self) -> &CurrentAdmin {
        &self.admin
    }
}

impl FromRequest for FullAdmin {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let admin = load_current(req.clone()).await?;
            if admin.is_full() {
                let actor = actor(&req, Some(&admin), "");
                Ok(FullAdmin { admin, actor })
            } else {
                Err(AppError::Forbidden)
            }
        })
    }
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

/// Who is acting, for the audit trail: the admin (if any), the client's IP and User-Agent.
pub fn actor(req: &HttpRequest, admin: Option<&CurrentAdmin>, label_if_anonymous: &str) -> Actor {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.trusted_proxies.clone())
        .unwrap_or_default();
    Actor {
        id: admin.map(|a| a.id.clone()),
        label: admin.map_or_else(|| label_if_anonymous.to_owned(), |a| a.email.clone()),
        ip: client_ip(req, &trusted).map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}
