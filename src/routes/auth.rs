//! Sign-in, sign-out and the one-time setup link that creates the first admin.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::auth::password::HashError;
use crate::auth::{self, ADMIN_ID_KEY, OPERATOR_ID_KEY};
use crate::clock;
use crate::db::models::{Actor, Admin, Operator, Organization, setup_token};
use crate::domain::{EmailAddress, Password};
use crate::error::AppError;
use crate::routes::extract::{self, CurrentAdmin};
use crate::routes::form::{Form, Query};
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::routes::second_factor::{self, ACCOUNT_LOCKED};
use crate::secrets::sha256_hex;
use crate::services;
use crate::services::sign_in::Verdict;
use crate::state::AppState;

/// The message for every failed sign-in, whatever the cause: it must not tell
/// whether the email exists.
pub const SIGN_IN_FAILED: &str = "Incorrect email or password.";

/// The message for a right password of a disabled account.
pub const ACCOUNT_DISABLED: &str =
    "This account is disabled. Ask a full-access admin of your organization.";

/// Where to go after signing in: only ever a path of this site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 2048
                && !n.chars().any(char::is_control)
                && !n.starts_with("/login")
                && !n.starts_with("/logout") =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    next: String,
    notice: Option<&'static str>,
    error: Option<String>,
    email_error: Option<String>,
    setup_pending: bool,
}

impl LoginPage {
    /// The error summary: a refused sign-in is about the email and password.
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("email", self.email_error.as_deref()),
            ("email", self.error.as_deref()),
        ])
    }
}

/// Query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// `GET /` — the console's start: Apps for full access, Settings otherwise.
pub async fn home(admin: CurrentAdmin) -> HttpResponse {
    page::see_other(if admin.is_full() {
        "/apps"
    } else {
        "/settings"
    })
}

async fn setup_pending(state: &AppState) -> Result<bool, AppError> {
    Ok(state.read(Admin::count).await? == 0)
}

/// `GET /login`.
pub async fn login_form(
    session: Session,
    state: web::Data<AppState>,
    Query(query): Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(query.next.as_deref());
    if session.get::<String>(ADMIN_ID_KEY).ok().flatten().is_some() {
        return Ok(page::see_other(&next));
    }
    if session
        .get::<String>(OPERATOR_ID_KEY)
        .ok()
        .flatten()
        .is_some()
    {
        return Ok(page::see_other(super::operator::HOME));
    }
    let page = LoginPage {
        layout: Layout::new(&session, None, Nav::None, "Sign in")?,
        email: String::new(),
        next,
        notice: query.signed_out.map(|_| "You have signed out."),
        error: None,
        email_error: None,
        setup_pending: setup_pending(&state).await?,
    };
    page::ok(&page)
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    password: Option<SecretString>,
    next: Option<String>,
}

/// `POST /login`.
pub async fn login(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(form.next.as_deref());
    let typed = form.email.trim().to_lowercase();
    let rerender = |status: StatusCode,
                    error: Option<String>,
                    email_error: Option<String>|
     -> Result<HttpResponse, AppError> {
        let page = LoginPage {
            layout: Layout::new(&session, None, Nav::None, "Sign in")?,
            email: typed.chars().take(EmailAddress::MAX_LEN).collect(),
            next: next.clone(),
            notice: None,
            error,
            email_error,
            setup_pending: false,
        };
        page::render(status, &page)
    };

    let email = match EmailAddress::parse(&form.email) {
        Ok(email) => email,
        Err(e) => return rerender(StatusCode::UNPROCESSABLE_ENTITY, None, Some(e.to_string())),
    };
    let password = form.password.unwrap_or_else(|| SecretString::from(""));
    let actor = Actor {
        label: email.as_str().to_owned(),
        ..extract::actor(&req, None, email.as_str())
    };

    // A hashing slot first: beyond the cap, a quick 503 rather than a queue.
    let mut slot = match state.hasher.sign_in_slot().await {
        Ok(slot) => slot,
        Err(HashError::Busy) => {
            let mut response = rerender(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(
                    "Many sign-ins are being checked right now. Try again in a moment.".to_owned(),
                ),
                None,
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    };
    // Then the attempt is reserved, counted before its password is checked.
    let (e, a, ip, now) = (email.clone(), actor.clone(), actor.ip.clone(), clock::now());
    let verdict = state
        .op(move |conn| services::sign_in::reserve(conn, &e, ip.as_deref(), &a, now))
        .await?;
    match verdict {
        Verdict::Proceed => {}
        Verdict::Wait(seconds) => {
            crate::warn_limited!("sign_in_throttled", "sign-in throttled");
            let mut response = rerender(
                StatusCode::TOO_MANY_REQUESTS,
                Some(format!(
                    "Too many failed sign-ins. Wait {seconds} seconds, then try again."
                )),
                None,
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
            return Ok(response);
        }
        Verdict::Locked => {
            tracing::warn!("sign-in to a locked account refused");
            return rerender(StatusCode::FORBIDDEN, Some(ACCOUNT_LOCKED.to_owned()), None);
        }
    }

    // One page signs in admins and operators: an email is one or the other.
    let key = email.as_str().to_owned();
    let (admin, operator) = state
        .read(move |conn| {
            let admin = Admin::find_by_email(conn, &key)?;
            let operator = match admin {
                Some(_) => None,
                None => Operator::find_by_email(conn, &key)?,
            };
            Ok((admin, operator))
        })
        .await?;
    let stored = match (&admin, &operator) {
        (Some(a), _) => Some(a.password_hash.clone()),
        (None, Some(o)) => Some(o.password_hash.clone()),
        (None, None) => None,
    };
    let checked = slot.check(password.expose_secret(), stored).await?;
    let known = checked.matches && (admin.is_some() || operator.is_some());
    if known {
        if checked.stale {
            // The same password, hashed again with today's parameters.
            let hash = slot.hash(password.expose_secret()).await?;
            let (admin_id, operator_id) = (
                admin.as_ref().map(|a| a.id.clone()),
                operator.as_ref().map(|o| o.id.clone()),
            );
            state
                .op(move |conn| match (&admin_id, &operator_id) {
                    (Some(id), _) => services::admins::renew_password_hash(conn, id, &hash),
                    (None, Some(id)) => services::operators::renew_password_hash(conn, id, &hash),
                    (None, None) => Ok(()),
                })
                .await?;
        }
        let (e, a, ip, now) = (email.clone(), actor.clone(), actor.ip.clone(), clock::now());
        state
            .op(move |conn| services::sign_in::succeeded(conn, &e, ip.as_deref(), &a, now))
            .await?;
    }
    drop(slot);
    if let Some(operator) = operator.filter(|_| known) {
        let who = services::operators::OperatorActor {
            id: Some(operator.id.clone()),
            label: operator.email.clone(),
            ip: actor.ip.clone(),
            user_agent: actor.user_agent.clone(),
            via: None,
        };
        let signed = operator.clone();
        state
            .op(move |conn| services::operators::signed_in(conn, &signed, &who, clock::now()))
            .await?;
        auth::sign_in_operator(
            &session,
            &operator,
            &auth::SignInClient {
                ip: actor.ip.clone(),
                user_agent: actor.user_agent.clone(),
            },
        )?;
        return Ok(page::see_other(super::operator::HOME));
    }

    match admin.filter(|_| known) {
        Some(admin) => {
            if admin.is_disabled() {
                tracing::info!("sign-in to a disabled account refused");
                return rerender(
                    StatusCode::FORBIDDEN,
                    Some(ACCOUNT_DISABLED.to_owned()),
                    None,
                );
            }
            let a = admin.clone();
            let enrolled = state
                .read(move |conn| services::two_factor::enrolled(conn, &a))
                .await?;
            if enrolled.any() {
                return second_factor::start(&session, &admin, &next);
            }
            second_factor::complete(&req, &session, &state, admin, "none", &next).await
        }
        None => {
            state
                .op(move |conn| services::sign_in::failed(conn, &email, &actor, clock::now()))
                .await?;
            rerender(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(SIGN_IN_FAILED.to_owned()),
                None,
            )
        }
    }
}

/// `POST /logout`: ends the session on the server, so a copied cookie stops working.
pub async fn logout(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> Result<HttpResponse, AppError> {
    let actor = extract::actor(&req, Some(&admin), "");
    state
        .op(move |conn| services::admins::signed_out(conn, &admin.id, &actor))
        .await?;
    session.purge();
    Ok(page::see_other("/login?signed_out=1"))
}

/// Field errors of the setup form.
#[derive(Debug, Default)]
struct SetupErrors {
    email: Option<String>,
    password: Option<String>,
    confirm: Option<String>,
}

impl SetupErrors {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("email", self.email.as_deref()),
            ("password", self.password.as_deref()),
            ("confirm", self.confirm.as_deref()),
        ])
    }
}

#[derive(Template)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    layout: Layout,
    token: String,
    email: String,
    errors: SetupErrors,
}

/// Query of the setup page.
#[derive(Debug, Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

async fn setup_token_valid(state: &AppState, token: &str) -> Result<bool, AppError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(false);
    }
    let hash = sha256_hex(token.as_bytes());
    let made_after = clock::now() - setup_token::LIFETIME;
    let found = state
        .read(move |conn| setup_token::exists(conn, &hash, made_after))
        .await?;
    Ok(found && setup_pending(state).await?)
}

/// `GET /setup?token=…`.
pub async fn setup_form(
    session: Session,
    state: web::Data<AppState>,
    Query(query): Query<SetupQuery>,
) -> Result<HttpResponse, AppError> {
    if !setup_token_valid(&state, &query.token).await? {
        return Err(AppError::NotFound);
    }
    page::ok(&SetupPage {
        layout: Layout::new(&session, None, Nav::None, "Create the first admin")?,
        token: query.token,
        email: String::new(),
        errors: SetupErrors::default(),
    })
}

/// The setup form.
#[derive(Debug, Deserialize)]
pub struct SetupForm {
    token: Option<SecretString>,
    #[serde(default)]
    email: String,
    password: Option<SecretString>,
    confirm: Option<SecretString>,
}

/// `POST /setup`: creates the first admin, uses up every setup link, signs in.
pub async fn setup(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<SetupForm>,
) -> Result<HttpResponse, AppError> {
    let token = form
        .token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default();
    if !setup_token_valid(&state, &token).await? {
        return Err(AppError::NotFound);
    }
    let mut errors = SetupErrors::default();
    let email = EmailAddress::parse(&form.email)
        .map_err(|e| errors.email = Some(e.to_string()))
        .ok();
    let password =
        Password::parse_confirmed(form.password, form.confirm.as_ref(), &[form.email.trim()])
            .map_err(|e| (errors.password, errors.confirm) = e.messages())
            .ok();
    let (Some(email), Some(password)) = (email, password) else {
        let page = SetupPage {
            layout: Layout::new(&session, None, Nav::None, "Create the first admin")?,
            token,
            email: form.email.chars().take(EmailAddress::MAX_LEN).collect(),
            errors,
        };
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };

    let hash = state.hasher.hash(password.expose()).await?;
    let actor = Actor {
        label: "setup link".to_owned(),
        ..extract::actor(&req, None, "setup link")
    };
    let (actor_ip, actor_ua) = (actor.ip.clone(), actor.user_agent.clone());
    let created = state
        .op(move |conn| {
            // The installation's first organization: the one a new server makes.
            let org = Organization::the_one(conn)?;
            services::admins::create_first(conn, &org.id, &email, &hash, &actor)
        })
        .await?;
    let Some(admin) = created else {
        return Err(AppError::NotFound);
    };
    auth::sign_in(
        &session,
        &admin,
        &auth::SignInClient {
            ip: actor_ip,
            user_agent: actor_ua,
        },
    )?;
    page::flash(
        &session,
        "success",
        "Welcome to Keyward. Your admin account is ready.",
    );
    Ok(page::see_other("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_only_ever_points_inside_this_site() {
        assert_eq!(safe_next(Some("/apps?page=2")), "/apps?page=2");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "apps",
            "/login",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
