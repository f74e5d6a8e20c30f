//! Extractors of the console: the signed-in admin, loaded fresh on every request
//! from the session and the database, and the audit trail's actor of a request.
//! They sit with the routes because they read the shared state; `auth` keeps the
//! mechanisms (the session store, CSRF, hashing) and knows no state.

use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::auth::{self, ADMIN_ID_KEY};
use crate::db::models::admin_passkey::AdminPasskey;
use crate::db::models::{Actor, Admin, Organization, Role};
use crate::domain::{AdminId, OrgId};
use crate::error::AppError;
use crate::state::AppState;

/// The signed-in admin, loaded fresh on every request.
#[derive(Debug, Clone)]
pub struct CurrentAdmin {
    pub id: AdminId,
    pub email: String,
    pub role: Role,
    /// The organization the admin belongs to: every page is scoped to it.
    pub organization_id: OrgId,
    /// Whether the organization's external connectivity is on (every page
    /// says so when it is off).
    pub external_connectivity: bool,
    /// Whether the operator suspended the organization (every page says so).
    pub suspended: bool,
    /// The organization's time zone: every time on a page is in it.
    pub zone: crate::clock::Zone,
    /// The organization requires a second factor and this admin has none
    /// yet: every page but enrolment sends them there.
    pub must_enrol: bool,
}

impl CurrentAdmin {
    /// Whether this admin may use the API keys section.
    pub fn is_full(&self) -> bool {
        self.role == Role::Full
    }
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

fn state_of(req: &HttpRequest) -> Result<&web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::internal("no app state"))
}

/// Where an admin who must enrol a second factor is sent.
pub const ENROL_PATH: &str = "/account/security";

async fn load_current(req: HttpRequest) -> Result<CurrentAdmin, AppError> {
    let admin = load_admin(req).await?;
    if admin.must_enrol {
        return Err(AppError::EnrolmentRequired);
    }
    Ok(admin)
}

async fn load_admin(req: HttpRequest) -> Result<CurrentAdmin, AppError> {
    let session = req.get_session();
    let sign_in = || AppError::SignInRequired {
        next: return_path(&req),
    };
    let Some(admin_id) = session.get::<AdminId>(ADMIN_ID_KEY).ok().flatten() else {
        return Err(sign_in());
    };
    let stamp = auth::session_password_stamp(&session);
    let state = state_of(&req)?;
    let found = state
        .read(move |conn| {
            let Some(admin) = Admin::find_by_id(conn, &admin_id)? else {
                return Ok(None);
            };
            let org = Organization::find_by_id(conn, &admin.organization_id)?;
            let must_enrol = org.require_two_factor
                && !admin.has_totp()
                && AdminPasskey::count_for_admin(conn, &admin.id)? == 0;
            Ok(Some((
                admin,
                (org.external_connectivity, org.suspended_at.is_some()),
                org.time_zone,
                must_enrol,
            )))
        })
        .await?;
    match found {
        Some((admin, (connectivity, suspended), zone, must_enrol))
            if Some(auth::password_stamp(&admin)) == stamp && !admin.is_disabled() =>
        {
            Ok(CurrentAdmin {
                role: admin.role(),
                id: admin.id,
                email: admin.email,
                organization_id: admin.organization_id,
                external_connectivity: connectivity,
                suspended,
                zone: crate::clock::Zone::or_utc(&zone),
                must_enrol,
            })
        }
        _ => {
            // Deleted, disabled, or the password changed since: this
            // session is over.
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

/// The signed-in operator, loaded fresh on every request: the operator's
/// pages take one. An admin's session is no operator's (sign-in required).
#[derive(Debug, Clone)]
pub struct CurrentOperator {
    pub id: crate::domain::OperatorId,
    pub email: String,
    /// Who acts, for the trails: the operator, from this request's client.
    pub actor: crate::services::operators::OperatorActor,
}

impl FromRequest for CurrentOperator {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = req.get_session();
            let sign_in = || AppError::SignInRequired {
                next: return_path(&req),
            };
            let Some(id) = session
                .get::<crate::domain::OperatorId>(auth::OPERATOR_ID_KEY)
                .ok()
                .flatten()
            else {
                return Err(sign_in());
            };
            let stamp = auth::session_password_stamp(&session);
            let found = state_of(&req)?
                .read(move |conn| crate::db::models::Operator::find_by_id(conn, &id))
                .await?;
            match found {
                Some(operator) if Some(auth::operator_password_stamp(&operator)) == stamp => {
                    let who = actor(&req, None, &operator.email);
                    Ok(CurrentOperator {
                        actor: crate::services::operators::OperatorActor {
                            id: Some(operator.id.clone()),
                            label: operator.email.clone(),
                            ip: who.ip,
                            user_agent: who.user_agent,
                            via: None,
                        },
                        id: operator.id,
                        email: operator.email,
                    })
                }
                _ => {
                    session.purge();
                    Err(sign_in())
                }
            }
        })
    }
}

/// A signed-in admin who may still have to enrol a second factor: only the
/// enrolment page and signing out take one.
#[derive(Debug, Clone)]
pub struct EnrollingAdmin(pub CurrentAdmin);

impl FromRequest for EnrollingAdmin {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load_admin(req).await.map(EnrollingAdmin) })
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

/// Who is acting, for the audit trail: the admin (if any), the client's IP and User-Agent.
pub fn actor(req: &HttpRequest, admin: Option<&CurrentAdmin>, label_if_anonymous: &str) -> Actor {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.trusted_proxies.clone())
        .unwrap_or_default();
    Actor {
        id: admin.map(|a| a.id.clone()),
        label: admin.map_or_else(|| label_if_anonymous.to_owned(), |a| a.email.clone()),
        ip: auth::client_ip(req, &trusted).map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        via: None,
    }
}
