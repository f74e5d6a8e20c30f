//! The hosted pages where an app's users sign in and out (OpenID Connect Core
//! 1.0 §3.1 with the OAuth 2.0 authorization code flow, RFC 6749 §4.1, PKCE,
//! RFC 7636, and RP-Initiated Logout 1.0):
//!
//! - `GET /oauth/authorize` checks the app and its redirect URI first: an
//!   unknown app, or a redirect URI that is not one of its Post Login Redirect
//!   URLs byte for byte, is an error page and never a redirect (RFC 6749
//!   §4.1.2.1). Every later refusal goes back to that URI with `error`,
//!   `state` and `iss` (RFC 9207). A user with a live hosted session of that
//!   organization and type is sent straight back with a code, unless
//!   `prompt=login`; otherwise the sign-in page asks for their password.
//! - `POST /oauth/authorize` checks the password under the same throttle as
//!   the token endpoint, starts the hosted session (its own cookie, never the
//!   console's), and redirects with the code.
//! - `/oauth/forgot` emails a link to choose a new password.
//! - `GET /oauth/logout` ends the hosted session (and the sign-ins it gave
//!   apps) and returns only to a registered Post Logout Redirect URL.
//!
//! The request being signed in travels in the page as its query, sealed with
//! the server's key and dated, so the page writes nothing until a password
//! is right.

use std::sync::Arc;

use actix_session::Session;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::db::models::hosted::HostedSession;
use crate::db::models::{App, AppStatus, Organization};
use crate::domain::oauth::{
    AuthorizationRequest, AuthorizeError, Prompt, RawAuthorization, is_registered,
};
use crate::domain::{AppId, EmailAddress, LoginUserType};
use crate::error::AppError;
use crate::routes::api::oauth::{PasswordCheck, check_user_password};
use crate::routes::extract;
use crate::routes::form::Form;
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::services::{OpError, hosted};
use crate::state::AppState;

/// How long a sign-in page may stay open before it must be loaded again.
const PAGE_LIFETIME_SECS: i64 = 30 * 60;
/// The sealing context of a page's request.
const REQUEST_CONTEXT: &str = "hosted-authorization-request";
/// What a refused password says, whatever was wrong (OWASP ASVS 2.2).
const SIGN_IN_FAILED: &str = "The email or password is incorrect.";

/// The hosted session's cookie: `__Host-` under https (RFC 6265bis §4.1.3.2).
fn cookie_name(state: &AppState) -> &'static str {
    if state.settings.is_https() {
        "__Host-keyward_user"
    } else {
        "keyward_user"
    }
}

/// The cookie that carries a hosted session: HttpOnly, Lax (it must come
/// along when an app sends the browser here), for the whole site.
fn session_cookie(state: &AppState, value: String, max_age_secs: i64) -> Cookie<'static> {
    let mut cookie = Cookie::new(cookie_name(state), value);
    cookie.set_http_only(true);
    cookie.set_secure(state.settings.is_https());
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_max_age(actix_web::cookie::time::Duration::seconds(max_age_secs));
    cookie
}

/// The live hosted session of this browser, if any.
async fn current_session(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<HostedSession>, AppError> {
    let Some(cookie) = req.cookie(cookie_name(state)) else {
        return Ok(None);
    };
    let value = cookie.value().to_owned();
    Ok(state
        .read(move |conn| hosted::session_from_cookie(conn, &value, clock::now()))
        .await?)
}

/// The error page of a request that cannot be answered at its redirect URI.
#[derive(Template)]
#[template(path = "hosted/error.html")]
struct ErrorPage {
    layout: Layout,
    message: String,
}

fn error_page(session: &Session, message: impl Into<String>) -> Result<HttpResponse, AppError> {
    page::render(
        StatusCode::BAD_REQUEST,
        &ErrorPage {
            layout: Layout::new(session, None, Nav::None, "Sign-in cannot continue")?,
            message: message.into(),
        },
    )
}

/// The issuer of `app`'s organization, which its answers name.
async fn issuer_of(state: &AppState, app: &App) -> Result<String, crate::db::DbError> {
    let org = app.organization_id.clone();
    let found = state
        .read(move |conn| crate::db::models::Organization::find_by_id(conn, &org))
        .await?;
    Ok(found.issuer(&state.issuer))
}

/// Where a refusal or a code goes: the redirect URI with these parameters
/// added to its own query, and `iss`, the app's organization's issuer, which
/// the client compares with the one it discovered (RFC 9207 §2, §2.4).
fn back_to_app(issuer: &str, redirect_uri: &str, params: &[(&str, &str)]) -> HttpResponse {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        // A registered URL always parses; this cannot be reached.
        return HttpResponse::InternalServerError().finish();
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        query.append_pair("iss", issuer);
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.to_string()))
        .finish()
}

/// An error told to the client at its redirect URI (RFC 6749 §4.1.2.1).
fn error_to_app(
    issuer: &str,
    redirect_uri: &str,
    error: &str,
    description: &str,
    app_state: Option<&str>,
) -> HttpResponse {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = app_state {
        params.push(("state", s));
    }
    back_to_app(issuer, redirect_uri, &params)
}

/// How a request's check ended, when it did not pass.
enum Refusal {
    /// An error page: the client or its redirect URI is not trusted.
    Page(String),
    /// An answer for the client, at its redirect URI.
    App(HttpResponse),
}

/// Checks an authorization request (its query): the app, the redirect URI,
/// then the rest.
async fn check_request(
    state: &AppState,
    query: &str,
) -> Result<(Arc<App>, AuthorizationRequest), Refusal> {
    let pairs = crate::routes::middleware::decode_form(query.as_bytes())
        .map_err(|_| Refusal::Page("The sign-in request is not readable.".to_owned()))?;
    let raw = RawAuthorization::from_pairs(pairs).map_err(|e| match e {
        AuthorizeError::Fatal(why)
        | AuthorizeError::Redirect {
            description: why, ..
        } => Refusal::Page(why),
    })?;
    let unknown =
        || Refusal::Page("The app that sent you here is not known to this server.".to_owned());
    if raw.client_id.len() > 64 || !raw.client_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(unknown());
    }
    let id = AppId::from(raw.client_id.as_str());
    let app = state
        .read(move |conn| App::find_by_id(conn, &id))
        .await
        .map_err(|_| {
            Refusal::Page(
                "The server cannot check the request right now. Try again in a moment.".to_owned(),
            )
        })?
        .ok_or_else(unknown)?;
    if !is_registered(&raw.redirect_uri, &app.post_login_urls()) {
        return Err(Refusal::Page(
            "The address this app asked to return to is not one of its registered Post Login Redirect URLs, so the sign-in stops here. The app's developer can register it in Keyward.".to_owned(),
        ));
    }
    let issuer = issuer_of(state, &app).await.map_err(|_| {
        Refusal::Page(
            "The server cannot check the request right now. Try again in a moment.".to_owned(),
        )
    })?;
    // From here the redirect URI is trusted: refusals go back to it.
    let to_app = |error: &str, why: &str| {
        Refusal::App(error_to_app(
            &issuer,
            &raw.redirect_uri,
            error,
            why,
            raw.state(),
        ))
    };
    if app.status() != AppStatus::Active {
        return Err(to_app(
            "unauthorized_client",
            "This app is not active: an admin can activate it.",
        ));
    }
    if app.jwt_permissions().is_empty() {
        return Err(to_app(
            "unauthorized_client",
            "This app has no JWT GROUPS permissions, so its users cannot sign in.",
        ));
    }
    match AuthorizationRequest::parse(&raw, &app.jwt_permissions()) {
        Ok(request) => Ok((Arc::new(app), request)),
        Err(AuthorizeError::Redirect { error, description }) => Err(to_app(error, &description)),
        Err(AuthorizeError::Fatal(why)) => Err(Refusal::Page(why)),
    }
}

/// A request sealed into its page.
#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    /// The authorization request's query.
    query: String,
    /// When the page was made (seconds).
    at: i64,
}

fn seal(state: &AppState, query: &str) -> String {
    let sealed = Sealed {
        query: query.to_owned(),
        at: clock::now().assume_utc().unix_timestamp(),
    };
    state.sealing_key.seal(
        serde_json::to_string(&sealed)
            .unwrap_or_default()
            .as_bytes(),
        REQUEST_CONTEXT,
    )
}

/// The query of a sealed request, if it opens and is recent.
fn unseal(state: &AppState, sealed: &str) -> Option<String> {
    let plain = state.sealing_key.open(sealed, REQUEST_CONTEXT)?;
    let sealed: Sealed = serde_json::from_slice(&plain).ok()?;
    let age = clock::now().assume_utc().unix_timestamp() - sealed.at;
    (0..=PAGE_LIFETIME_SECS)
        .contains(&age)
        .then_some(sealed.query)
}

const PAGE_EXPIRED: &str =
    "This sign-in page was open too long. Go back to the app and sign in again.";

/// A request a page carried sealed, opened and checked again: its query, app
/// and request; or the answer to give instead (an error page, or the app's
/// redirect with an error).
async fn reopen(
    state: &AppState,
    session: &Session,
    sealed: &str,
) -> Result<Result<(String, Arc<App>, AuthorizationRequest), HttpResponse>, AppError> {
    let Some(query) = unseal(state, sealed) else {
        return error_page(session, PAGE_EXPIRED).map(Err);
    };
    match check_request(state, &query).await {
        Ok((app, request)) => Ok(Ok((query, app, request))),
        Err(Refusal::Page(why)) => error_page(session, why).map(Err),
        Err(Refusal::App(response)) => Ok(Err(response)),
    }
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "hosted/sign_in.html")]
struct SignInPage {
    layout: Layout,
    organization: String,
    app: String,
    /// `employee` or `guest` account.
    account: &'static str,
    request: String,
    email: String,
    email_error: Option<String>,
    error: Option<String>,
}

impl SignInPage {
    /// The error summary: a refused sign-in is about the email and password.
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("email", self.email_error.as_deref()),
            ("email", self.error.as_deref()),
        ])
    }
}

fn account_words(app: &App) -> &'static str {
    match app.user_type() {
        LoginUserType::Employee => "employee",
        LoginUserType::Guest => "guest",
    }
}

/// Renders the sign-in page with `status`; its form may submit, and then
/// redirect, to the app's redirect URI (CSP `form-action` covers redirects).
#[expect(clippy::too_many_arguments, reason = "the page's parts")]
async fn sign_in_page(
    session: &Session,
    state: &AppState,
    status: StatusCode,
    app: &App,
    request: &AuthorizationRequest,
    sealed: String,
    email: String,
    errors: (Option<String>, Option<String>),
) -> Result<HttpResponse, AppError> {
    let org_id = app.organization_id.clone();
    let organization = state
        .read(move |conn| Organization::find_by_id(conn, &org_id))
        .await?
        .name;
    let page = SignInPage {
        layout: Layout::new(session, None, Nav::None, format!("Sign in to {}", app.name))?,
        organization,
        app: app.name.clone(),
        account: account_words(app),
        request: sealed,
        email,
        email_error: errors.0,
        error: errors.1,
    };
    let mut response = page::render(status, &page)?;
    allow_form_to(&mut response, Some(&request.redirect_uri));
    Ok(response)
}

/// Whether a session may answer this request without a password: the same
/// organization, a user of the app's type, and recent enough for `max_age`.
fn session_fits(session: &HostedSession, app: &App, request: &AuthorizationRequest) -> bool {
    let same_type = crate::domain::UserRef::from_subject(&session.subject)
        .is_some_and(|u| u.user_type() == app.user_type());
    let recent = request
        .max_age
        .is_none_or(|max| (clock::now() - session.auth_time).whole_seconds() <= max);
    session.organization_id == app.organization_id && same_type && recent
}

/// A code for the request, and the redirect that carries it.
async fn send_code(
    state: &AppState,
    app: Arc<App>,
    session: HostedSession,
    request: AuthorizationRequest,
) -> Result<HttpResponse, AppError> {
    let (a, r) = (Arc::clone(&app), request.clone());
    let code = state
        .op(move |conn| hosted::issue_code(conn, &a, &session, &r, clock::now()))
        .await?;
    let mut params = vec![("code", code.expose_secret())];
    if let Some(s) = request.state.as_deref() {
        params.push(("state", s));
    }
    let issuer = issuer_of(state, &app).await?;
    Ok(back_to_app(&issuer, &request.redirect_uri, &params))
}

/// `GET /oauth/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2.1).
pub async fn authorize_form(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let query = req.query_string().to_owned();
    let (app, request) = match check_request(&state, &query).await {
        Ok(checked) => checked,
        Err(Refusal::Page(why)) => return error_page(&session, why),
        Err(Refusal::App(response)) => return Ok(response),
    };
    if request.prompt != Prompt::Login
        && let Some(live) = current_session(&req, &state).await?
        && session_fits(&live, &app, &request)
    {
        return send_code(&state, app, live, request).await;
    }
    // OIDC Core §3.1.2.6: no page may be shown.
    if request.prompt == Prompt::None {
        return Ok(error_to_app(
            &issuer_of(&state, &app).await?,
            &request.redirect_uri,
            "login_required",
            "The user is not signed in.",
            request.state.as_deref(),
        ));
    }
    let email = request.login_hint.clone().unwrap_or_default();
    let sealed = seal(&state, &query);
    sign_in_page(
        &session,
        &state,
        StatusCode::OK,
        &app,
        &request,
        sealed,
        email,
        (None, None),
    )
    .await
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    email: String,
    password: Option<SecretString>,
}

/// `POST /oauth/authorize`: the password, then the code.
pub async fn authorize(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<SignInForm>,
) -> Result<HttpResponse, AppError> {
    let (_, app, request) = match reopen(&state, &session, &form.request).await? {
        Ok(reopened) => reopened,
        Err(answer) => return Ok(answer),
    };
    let typed = form.email.trim().to_owned();
    let password = form
        .password
        .filter(|p| !p.expose_secret().is_empty())
        .unwrap_or_else(|| SecretString::from(String::new()));
    let again = |status, email_error: Option<String>, error: Option<String>| {
        let (state, session, app, request, typed) = (&state, &session, &app, &request, &typed);
        async move {
            sign_in_page(
                session,
                state,
                status,
                app,
                request,
                form.request.clone(),
                typed.clone(),
                (email_error, error),
            )
            .await
        }
    };
    let Ok(email) = EmailAddress::parse(&typed) else {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Enter your email address, like name@example.com.".to_owned()),
            None,
        )
        .await;
    };
    if password.expose_secret().is_empty() {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("Enter your password.".to_owned()),
        )
        .await;
    }
    let actor = extract::actor(
        &req,
        None,
        &format!("{} {}", app.user_type().as_str(), email.as_str()),
    );
    let checked = match check_user_password(&state, &app, &email, &password, &actor).await {
        Ok(checked) => checked,
        Err(e) if e.error() == "temporarily_unavailable" => {
            let mut response = again(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                Some(
                    "Many sign-ins are being checked right now. Try again in a moment.".to_owned(),
                ),
            )
            .await?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            return Ok(response);
        }
        Err(_) => return Err(AppError::internal("the password check failed")),
    };
    let (user, name) = match checked {
        PasswordCheck::User(user, name) => (user, name),
        PasswordCheck::Wrong => {
            return again(
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(SIGN_IN_FAILED.to_owned()),
            )
            .await;
        }
        PasswordCheck::Wait(seconds) => {
            let mut response = again(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some(format!(
                    "Too many failed sign-ins. Wait {seconds} seconds, then try again."
                )),
            )
            .await?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
            return Ok(response);
        }
    };
    // A session of this browser that another sign-in replaces ends now.
    let previous = current_session(&req, &state).await?;
    let (a, who, u) = (Arc::clone(&app), actor.clone(), user.clone());
    let started = state
        .op(move |conn| {
            let now = clock::now();
            if let Some(previous) = previous {
                hosted::end_session(conn, &previous, Some(&a), false, &who, now)?;
            }
            hosted::start_session(conn, &a, &u, &name, &who, now)
        })
        .await?;
    let cookie = session_cookie(
        &state,
        started.cookie.expose_secret().to_owned(),
        hosted::SESSION_LIFETIME.whole_seconds(),
    );
    let mut response = send_code(&state, app, started.session, request).await?;
    response
        .add_cookie(&cookie)
        .map_err(|e| AppError::internal(e.to_string()))?;
    Ok(response)
}

/// The Forgot password page.
#[derive(Template)]
#[template(path = "hosted/forgot.html")]
struct ForgotPage {
    layout: Layout,
    organization: String,
    app: String,
    request: String,
    back: String,
    email: String,
    email_error: Option<String>,
    sent_to: Option<String>,
}

impl ForgotPage {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([("email", self.email_error.as_deref())])
    }
}

/// The request of a Forgot password page: the sign-in it came from.
#[derive(Debug, Deserialize)]
pub struct ForgotQuery {
    #[serde(default)]
    request: String,
}

async fn forgot_page(
    session: &Session,
    state: &AppState,
    status: StatusCode,
    app: &App,
    request: String,
    query: &str,
    fill: (String, Option<String>, Option<String>),
) -> Result<HttpResponse, AppError> {
    let org_id = app.organization_id.clone();
    let organization = state
        .read(move |conn| Organization::find_by_id(conn, &org_id))
        .await?
        .name;
    page::render(
        status,
        &ForgotPage {
            layout: Layout::new(session, None, Nav::None, "Forgot your password?")?,
            organization,
            app: app.name.clone(),
            request,
            back: format!("/oauth/authorize?{query}"),
            email: fill.0,
            email_error: fill.1,
            sent_to: fill.2,
        },
    )
}

/// `GET /oauth/forgot?request=…`: asks for the email to send a link to.
pub async fn forgot_form(
    session: Session,
    state: web::Data<AppState>,
    crate::routes::form::Query(query): crate::routes::form::Query<ForgotQuery>,
) -> Result<HttpResponse, AppError> {
    let (original, app, _) = match reopen(&state, &session, &query.request).await? {
        Ok(reopened) => reopened,
        Err(answer) => return Ok(answer),
    };
    forgot_page(
        &session,
        &state,
        StatusCode::OK,
        &app,
        query.request,
        &original,
        (String::new(), None, None),
    )
    .await
}

/// The Forgot password form.
#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    email: String,
}

/// `POST /oauth/forgot`: emails a link if the address is a user's. The answer
/// is the same either way, and comes before the email is sent, so neither
/// its words nor its time tell whether the address has an account.
pub async fn forgot(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<ForgotForm>,
) -> Result<HttpResponse, AppError> {
    let (original, app, _) = match reopen(&state, &session, &form.request).await? {
        Ok(reopened) => reopened,
        Err(answer) => return Ok(answer),
    };
    let typed = form.email.trim().to_owned();
    let Ok(email) = EmailAddress::parse(&typed) else {
        return forgot_page(
            &session,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &app,
            form.request,
            &original,
            (
                typed,
                Some("Enter your email address, like name@example.com.".to_owned()),
                None,
            ),
        )
        .await;
    };
    let actor = extract::actor(
        &req,
        None,
        &format!("{} {}", app.user_type().as_str(), email.as_str()),
    );
    let (org, user_type, e) = (app.organization_id.clone(), app.user_type(), email.clone());
    let issued = state
        .op(move |conn| {
            crate::services::users::request_link(conn, &org, user_type, &e, &actor, clock::now())
        })
        .await;
    match issued {
        Ok(Some(issued)) => {
            let sender = state.clone();
            actix_web::rt::spawn(async move {
                if let Err(e) = crate::routes::users::send_link(&sender, &issued).await {
                    tracing::warn!(error = %e, "a forgotten-password email could not be sent");
                }
            });
        }
        Ok(None) => {}
        Err(OpError::Db(e)) if e.is_unavailable() => return Err(AppError::from(OpError::Db(e))),
        Err(e) => return Err(e.into()),
    }
    forgot_page(
        &session,
        &state,
        StatusCode::OK,
        &app,
        form.request,
        &original,
        (String::new(), None, Some(email.as_str().to_owned())),
    )
    .await
}

/// The sign-out pages: a question, or the answer.
#[derive(Template)]
#[template(path = "hosted/signed_out.html")]
struct SignOutPage {
    layout: Layout,
    /// Asking whether to sign out (with the parameters to carry on).
    confirm: Option<LogoutParams>,
}

/// RP-Initiated Logout 1.0 §2's parameters.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LogoutParams {
    #[serde(default)]
    id_token_hint: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    post_logout_redirect_uri: String,
    #[serde(default)]
    state: String,
}

/// What a logout request names, checked.
struct Logout {
    /// The app, by `client_id` or the hint's `aud`.
    app: Option<App>,
    /// The hint's session, when its signature is good.
    hinted_session: Option<String>,
    /// The registered URL to return to, with `state`.
    return_to: Option<String>,
}

/// Reads a logout request: the hint's signature (RP-Initiated Logout §2: the
/// OP need not check its expiry), the app it names, and whether the return
/// address is one of the app's Post Logout Redirect URLs, byte for byte (§3).
async fn read_logout(state: &AppState, params: &LogoutParams) -> Result<Logout, AppError> {
    let hint = if params.id_token_hint.is_empty() {
        None
    } else {
        let public = state.issuer.clone();
        let keys = state
            .read(move |conn| {
                crate::db::models::token::SigningKey::public_keys(conn, clock::now(), &public)
            })
            .await?;
        keys.verify_id_token_hint(&params.id_token_hint).ok()
    };
    let client_id = if params.client_id.is_empty() {
        hint.as_ref().map(|(claims, _)| claims.aud.clone())
    } else {
        // §2: a client_id and a hint naming another client are not trusted.
        if hint
            .as_ref()
            .is_some_and(|(claims, _)| claims.aud != params.client_id)
        {
            return Ok(Logout {
                app: None,
                hinted_session: None,
                return_to: None,
            });
        }
        Some(params.client_id.clone())
    };
    let app = match client_id.filter(|id| id.len() <= 64) {
        Some(id) => {
            let id = AppId::from(id.as_str());
            state.read(move |conn| App::find_by_id(conn, &id)).await?
        }
        None => None,
    };
    let app = app.filter(|a| {
        hint.as_ref()
            .is_none_or(|(_, org)| a.organization_id.as_str() == org)
    });
    let return_to = app
        .as_ref()
        .filter(|a| {
            !params.post_logout_redirect_uri.is_empty()
                && is_registered(&params.post_logout_redirect_uri, &a.post_logout_urls())
        })
        .and_then(|_| url::Url::parse(&params.post_logout_redirect_uri).ok())
        .map(|mut url| {
            if !params.state.is_empty() {
                url.query_pairs_mut().append_pair("state", &params.state);
            }
            url.to_string()
        });
    Ok(Logout {
        app,
        hinted_session: hint.map(|(claims, _)| claims.sid),
        return_to,
    })
}

/// Ends this browser's hosted session, clears its cookie, and answers with
/// the return address or the signed-out page.
async fn sign_out(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    logout: Logout,
) -> Result<HttpResponse, AppError> {
    if let Some(live) = current_session(req, state).await? {
        let actor = extract::actor(req, None, "user (hosted sign-out)");
        let app = logout.app.clone();
        state
            .op(move |conn| {
                hosted::end_session(conn, &live, app.as_ref(), true, &actor, clock::now())
            })
            .await?;
    }
    let mut response = match &logout.return_to {
        Some(url) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url.clone()))
            .finish(),
        None => page::ok(&SignOutPage {
            layout: Layout::new(session, None, Nav::None, "Signed out")?,
            confirm: None,
        })?,
    };
    let mut gone = session_cookie(state, String::new(), 0);
    gone.make_removal();
    response
        .add_cookie(&gone)
        .map_err(|e| AppError::internal(e.to_string()))?;
    Ok(response)
}

/// `GET /oauth/logout` (RP-Initiated Logout 1.0 §2): with an ID token of this
/// browser's session, signs out at once; otherwise asks first (§2: "the OP
/// MUST ask the End-User" then), so another site cannot sign a user out.
pub async fn logout(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    crate::routes::form::Query(params): crate::routes::form::Query<LogoutParams>,
) -> Result<HttpResponse, AppError> {
    let logout = read_logout(&state, &params).await?;
    let live = current_session(&req, &state).await?;
    let matches = live
        .as_ref()
        .zip(logout.hinted_session.as_ref())
        .is_some_and(|(live, sid)| &live.id == sid);
    if matches || live.is_none() {
        return sign_out(&req, &session, &state, logout).await;
    }
    let mut response = page::ok(&SignOutPage {
        layout: Layout::new(&session, None, Nav::None, "Sign out?")?,
        confirm: Some(params),
    })?;
    allow_form_to(&mut response, logout.return_to.as_deref());
    Ok(response)
}

/// `POST /oauth/logout/confirm`: the user said yes.
pub async fn logout_confirmed(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(params): Form<LogoutParams>,
) -> Result<HttpResponse, AppError> {
    let logout = read_logout(&state, &params).await?;
    sign_out(&req, &session, &state, logout).await
}

/// `POST /oauth/logout` (§2: the OP supports POST too): the same request,
/// as a GET, so the answer is one.
pub async fn logout_post(body: web::Bytes) -> Result<HttpResponse, AppError> {
    let pairs = crate::routes::middleware::decode_form(&body).map_err(AppError::BadRequest)?;
    let mut target = url::Url::parse("http://localhost/oauth/logout")
        .map_err(|e| AppError::internal(e.to_string()))?;
    {
        let mut query = target.query_pairs_mut();
        for (k, v) in &pairs {
            if matches!(
                k.as_str(),
                "id_token_hint" | "client_id" | "post_logout_redirect_uri" | "state"
            ) {
                query.append_pair(k, v);
            }
        }
    }
    let location = format!("/oauth/logout?{}", target.query().unwrap_or_default());
    Ok(page::see_other(&location))
}

/// Lets a page's form lead to `url`'s origin (CSP `form-action`).
fn allow_form_to(response: &mut HttpResponse, url: Option<&str>) {
    let Some(origin) = url
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
    else {
        return;
    };
    let csp = crate::headers::CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// A refusal of the UserInfo endpoint (RFC 6750 §3): its status and the
/// `WWW-Authenticate` challenge.
fn userinfo_refusal(status: StatusCode, challenge: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::WWW_AUTHENTICATE, challenge.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json; charset=utf-8")
        .body(serde_json::json!({ "error_description": description }).to_string())
}

/// `GET` and `POST /oauth/userinfo` (OIDC Core §5.3): the claims of the user
/// an access token with the `openid` scope stands for: `sub`, and `name` and
/// `email` with the `profile` and `email` scopes.
pub async fn userinfo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut headers = req.headers().get_all(header::AUTHORIZATION);
    let first = headers.next().and_then(|v| v.to_str().ok());
    let token = match (first, headers.next()) {
        (Some(value), None) => value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned()),
        _ => None,
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return userinfo_refusal(
            StatusCode::UNAUTHORIZED,
            r#"Bearer realm="keyward""#,
            "Send the access token as Authorization: Bearer <token>.",
        );
    };
    let invalid = || {
        userinfo_refusal(
            StatusCode::UNAUTHORIZED,
            r#"Bearer realm="keyward", error="invalid_token""#,
            "The access token is invalid, expired or revoked.",
        )
    };
    let grant = match state.verifier.check_access_token(&token).await {
        Ok(grant) => grant,
        Err(crate::auth::Denial::Unavailable) => {
            return HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "2"))
                .finish();
        }
        Err(_) => return invalid(),
    };
    let Ok(claims) = state.verifier.token_claims(&token).await else {
        return invalid();
    };
    let scope = crate::domain::oauth::Scope::from_stored(&claims.scope);
    if !scope.has("openid") {
        return userinfo_refusal(
            StatusCode::FORBIDDEN,
            r#"Bearer realm="keyward", error="insufficient_scope", scope="openid""#,
            "The access token was not granted the openid scope.",
        );
    }
    let crate::auth::verifier::Principal::User { user, .. } = &grant.principal else {
        return invalid();
    };
    let (org, who) = (grant.organization_id.clone(), user.clone());
    let profile = match state
        .read(move |conn| crate::services::users::profile(conn, &org, &who))
        .await
    {
        Ok(Some(profile)) => profile,
        Ok(None) => return invalid(),
        Err(_) => {
            return HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "2"))
                .finish();
        }
    };
    let mut body = serde_json::json!({ "sub": user.subject() });
    if scope.has("profile") {
        body["name"] = profile.0.into();
    }
    if scope.has("email")
        && let Some(email) = profile.1
    {
        body["email"] = email.into();
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}
