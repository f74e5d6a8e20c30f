//! The second step of an admin's sign-in (a code from an authenticator app,
//! a recovery code, or a passkey), finishing a sign-in (the session, the
//! audit record, the email about a new address), and the step-up asked
//! before sensitive changes when the admin last proved who they are more than
//! five minutes ago.
//!
//! Between the password and the second factor nothing is signed in: the
//! visitor's anonymous session holds which admin passed the password, when,
//! and the password's stamp, for five minutes.

use actix_session::{Session, SessionExt};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

use crate::auth::{self, ADMIN_ID_KEY, SignInClient, passkeys};
use crate::clock;
use crate::db::models::admin_passkey::AdminPasskey;
use crate::db::models::{Actor, Admin, Organization, Role};
use crate::domain::AdminId;
use crate::domain::two_factor::FactorCode;
use crate::email::messages;
use crate::error::AppError;
use crate::routes::extract;
use crate::routes::form::Form;
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::services::sign_in::Verdict;
use crate::services::two_factor::{self, CodeVerdict, Enrolled, Factor};
use crate::services::{self};
use crate::state::AppState;

/// The message for a sign-in to an account locked by the throttle.
pub const ACCOUNT_LOCKED: &str = "This account is locked after too many failed sign-ins. \
    An admin can unlock it with `keyward admin unlock`.";

/// How long a password stays good for the second step, and a sign-in or
/// step-up for sensitive changes.
pub const RECENT_SECONDS: i64 = 300;
const PENDING_KEY: &str = "pending_sign_in";
const CHALLENGE_KEY: &str = "passkey_challenge";
/// The ceremony purposes.
const SIGN_IN: &str = "sign-in";
const STEP_UP: &str = "step-up";
/// Registration of a new passkey.
pub const REGISTER: &str = "register";

fn unix_now() -> i64 {
    clock::to_offset(clock::now()).unix_timestamp()
}

/// Who passed the password and waits for the second step.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    admin: AdminId,
    stamp: i64,
    at: i64,
    next: String,
}

/// After a right password: the second step, for an admin who has a second
/// factor.
pub fn start(session: &Session, admin: &Admin, next: &str) -> Result<HttpResponse, AppError> {
    session.renew();
    session
        .insert(
            PENDING_KEY,
            Pending {
                admin: admin.id.clone(),
                stamp: auth::password_stamp(admin),
                at: unix_now(),
                next: next.to_owned(),
            },
        )
        .map_err(AppError::internal)?;
    Ok(page::see_other("/login/verify"))
}

/// The admin waiting for the second step, while the password is recent and
/// unchanged and the account may sign in.
async fn pending(session: &Session, state: &AppState) -> Result<Option<(Admin, String)>, AppError> {
    let Some(p) = session.get::<Pending>(PENDING_KEY).ok().flatten() else {
        return Ok(None);
    };
    if unix_now() - p.at > RECENT_SECONDS {
        session.remove(PENDING_KEY);
        return Ok(None);
    }
    let id = p.admin.clone();
    let admin = state.read(move |conn| Admin::find_by_id(conn, &id)).await?;
    Ok(admin
        .filter(|a| auth::password_stamp(a) == p.stamp && !a.is_disabled())
        .map(|a| (a, p.next)))
}

/// Signs `admin` in: the audit record, the session, and the email when the
/// address is new for them.
pub async fn complete(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    admin: Admin,
    factor: &'static str,
    next: &str,
) -> Result<HttpResponse, AppError> {
    let actor = Actor {
        id: Some(admin.id.clone()),
        label: admin.email.clone(),
        ..extract::actor(req, None, "")
    };
    let (signed_in, who) = (admin.clone(), actor.clone());
    let new_address = state
        .op(move |conn| services::admins::signed_in(conn, &signed_in, factor, &who))
        .await?;
    auth::sign_in(
        session,
        &admin,
        &SignInClient {
            ip: actor.ip.clone(),
            user_agent: actor.user_agent.clone(),
        },
    )?;
    if new_address {
        notify_new_address(state, &admin, &actor).await;
    }
    let next = if next == "/" && admin.role() == Role::Limited {
        "/settings"
    } else {
        next
    };
    Ok(page::see_other(next))
}

/// Emails the admin about a sign-in from an address they had not used.
/// Best-effort: the sign-in stands if the mail server is down (logged).
async fn notify_new_address(state: &AppState, admin: &Admin, actor: &Actor) {
    let org_id = admin.organization_id.clone();
    let org = state
        .read(move |conn| Organization::find_by_id(conn, &org_id))
        .await;
    let zone = org
        .as_ref()
        .map_or(clock::Zone::UTC, |o| clock::Zone::or_utc(&o.time_zone));
    let note = messages::NewSignIn {
        organization: org.map(|o| o.name).unwrap_or_default(),
        ip: actor.ip.clone().unwrap_or_default(),
        browser: actor
            .user_agent
            .as_deref()
            .unwrap_or("unknown")
            .chars()
            .take(200)
            .collect(),
        when: zone.when(clock::now()).text,
        link: state.settings.url_for("/account"),
    };
    match messages::new_sign_in(&admin.email, &note) {
        Ok(email) => {
            if let Err(e) = state.mailer.send(&email).await {
                tracing::warn!(error = %e, "the new sign-in address email could not be sent");
            }
        }
        Err(e) => tracing::error!(error = %e, "the new sign-in address email could not be made"),
    }
}

#[derive(Template)]
#[template(path = "auth/verify.html")]
struct VerifyPage {
    layout: Layout,
    enrolled: Enrolled,
    passkeys: bool,
    error: Option<String>,
}

impl VerifyPage {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([("code", self.error.as_deref())])
    }
}

async fn verify_page(
    session: &Session,
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let a = admin.clone();
    let enrolled = state
        .read(move |conn| two_factor::enrolled(conn, &a))
        .await?;
    let page = VerifyPage {
        layout: Layout::new(session, None, Nav::None, "Two-factor sign-in")?,
        passkeys: enrolled.passkeys > 0 && state.passkeys.is_some(),
        enrolled,
        error,
    };
    page::render(status, &page)
}

/// `GET /login/verify`.
pub async fn verify_form(
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let Some((admin, _)) = pending(&session, &state).await? else {
        return Ok(page::see_other("/login"));
    };
    verify_page(&session, &state, &admin, StatusCode::OK, None).await
}

/// The second step's form: a typed code, or a passkey's answer.
#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    passkey: String,
}

/// What an attempt to prove who one is came to.
#[derive(Debug)]
pub enum Outcome {
    /// Right, by this factor.
    Accepted(Factor),
    /// Refused: the status to answer with and why, in words.
    Refused(StatusCode, String),
}

fn refused(verdict: &CodeVerdict) -> Outcome {
    match verdict {
        CodeVerdict::Accepted(f) => Outcome::Accepted(*f),
        CodeVerdict::Wrong => Outcome::Refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That code is not right, or was used already. Enter the code your app shows now."
                .to_owned(),
        ),
        CodeVerdict::Wait(s) => Outcome::Refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many wrong codes. Wait {s} seconds, then try again."),
        ),
        CodeVerdict::Locked => Outcome::Refused(StatusCode::FORBIDDEN, ACCOUNT_LOCKED.to_owned()),
    }
}

/// Checks a typed code or a passkey's answer for `admin`, throttled.
async fn attempt(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    admin: &Admin,
    code: &str,
    passkey: &str,
    purpose: &str,
) -> Result<Outcome, AppError> {
    let actor = Actor {
        id: Some(admin.id.clone()),
        label: admin.email.clone(),
        ..extract::actor(req, None, "")
    };
    let now = clock::now();
    if !passkey.is_empty() {
        return passkey_attempt(session, state, admin, passkey, purpose, actor).await;
    }
    let code = match FactorCode::parse(code) {
        Ok(code) => code,
        Err(e) => return Ok(Outcome::Refused(StatusCode::UNPROCESSABLE_ENTITY, e.0)),
    };
    let (a, sealing, digest) = (
        admin.clone(),
        state.sealing_key.clone(),
        state.digest_key.clone(),
    );
    let verdict = state
        .op(move |conn| two_factor::check_code(conn, &a, &code, (&sealing, &digest), &actor, now))
        .await?;
    Ok(refused(&verdict))
}

async fn passkey_attempt(
    session: &Session,
    state: &AppState,
    admin: &Admin,
    answer: &str,
    purpose: &str,
    actor: Actor,
) -> Result<Outcome, AppError> {
    let Some(rp) = state.passkeys.as_ref() else {
        return Err(AppError::NotFound);
    };
    let handle: Option<String> = session.remove_as(CHALLENGE_KEY).and_then(Result::ok);
    let now = clock::now();
    let (a, purpose_owned, sealing) = (
        admin.id.clone(),
        purpose.to_owned(),
        state.sealing_key.clone(),
    );
    let ceremony = match handle {
        Some(handle) => {
            state
                .op(move |conn| {
                    two_factor::take_challenge(conn, &a, &purpose_owned, &handle, &sealing, now)
                })
                .await?
        }
        None => None,
    };
    let a = admin.clone();
    let who = actor.clone();
    match state
        .op(move |conn| two_factor::reserve(conn, &a, &who, now))
        .await?
    {
        Verdict::Proceed => {}
        Verdict::Wait(s) => return Ok(refused(&CodeVerdict::Wait(s))),
        Verdict::Locked => return Ok(refused(&CodeVerdict::Locked)),
    }
    let id = admin.id.clone();
    let stored = state
        .read(move |conn| AdminPasskey::list_for_admin(conn, &id))
        .await?;
    let keys = passkeys::parse_stored(stored.iter().map(|p| p.passkey.as_str()));
    let checked = ceremony
        .ok_or(passkeys::PasskeyError::Refused)
        .and_then(|ceremony| passkeys::finish_authentication(&rp.0, answer, &ceremony, &keys));
    let a = admin.clone();
    let accepted = checked.is_ok();
    state
        .op(move |conn| {
            if let Ok((credential, updated)) = &checked {
                two_factor::passkey_used(conn, &a, credential, updated.as_deref(), now)?;
            }
            two_factor::settle(conn, &a, accepted.then_some(Factor::Passkey), &actor, now)
        })
        .await?;
    Ok(if accepted {
        Outcome::Accepted(Factor::Passkey)
    } else {
        Outcome::Refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The passkey was not accepted. Try again, or enter a code instead.".to_owned(),
        )
    })
}

/// `POST /login/verify`.
pub async fn verify(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<VerifyForm>,
) -> Result<HttpResponse, AppError> {
    let Some((admin, next)) = pending(&session, &state).await? else {
        page::flash(
            &session,
            "error",
            "Your sign-in took more than 5 minutes. Enter your email and password again.",
        );
        return Ok(page::see_other("/login"));
    };
    match attempt(
        &req,
        &session,
        &state,
        &admin,
        &form.code,
        &form.passkey,
        SIGN_IN,
    )
    .await?
    {
        Outcome::Accepted(factor) => {
            session.remove(PENDING_KEY);
            complete(&req, &session, &state, admin, factor.as_str(), &next).await
        }
        Outcome::Refused(status, message) => {
            let mut response = verify_page(&session, &state, &admin, status, Some(message)).await?;
            if status == StatusCode::TOO_MANY_REQUESTS {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            }
            Ok(response)
        }
    }
}

/// Starts a passkey ceremony for `admin` and keeps its state: the options
/// for the browser, as JSON.
async fn passkey_options(
    session: &Session,
    state: &AppState,
    admin: &Admin,
    purpose: &'static str,
) -> Result<HttpResponse, AppError> {
    let Some(rp) = state.passkeys.as_ref() else {
        return Err(AppError::NotFound);
    };
    let id = admin.id.clone();
    let stored = state
        .read(move |conn| AdminPasskey::list_for_admin(conn, &id))
        .await?;
    let keys = passkeys::parse_stored(stored.iter().map(|p| p.passkey.as_str()));
    if keys.is_empty() {
        return Err(AppError::NotFound);
    }
    let (options, ceremony) =
        passkeys::start_authentication(&rp.0, &keys).map_err(AppError::internal)?;
    keep_ceremony(session, state, &admin.id, purpose, ceremony).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(options))
}

/// Keeps a ceremony's state on the server and its handle in the session.
pub async fn keep_ceremony(
    session: &Session,
    state: &AppState,
    admin: &AdminId,
    purpose: &'static str,
    ceremony: String,
) -> Result<(), AppError> {
    let (a, sealing, now) = (admin.clone(), state.sealing_key.clone(), clock::now());
    let handle = state
        .op(move |conn| two_factor::keep_challenge(conn, &a, purpose, &ceremony, &sealing, now))
        .await?;
    session
        .insert(CHALLENGE_KEY, handle)
        .map_err(AppError::internal)
}

/// Takes back the ceremony the session's handle names, once.
pub async fn take_ceremony(
    session: &Session,
    state: &AppState,
    admin: &AdminId,
    purpose: &'static str,
) -> Result<Option<String>, AppError> {
    let Some(handle) = session
        .remove_as::<String>(CHALLENGE_KEY)
        .and_then(Result::ok)
    else {
        return Ok(None);
    };
    let (a, sealing, now) = (admin.clone(), state.sealing_key.clone(), clock::now());
    Ok(state
        .op(move |conn| two_factor::take_challenge(conn, &a, purpose, &handle, &sealing, now))
        .await?)
}

/// `POST /login/verify/passkey`: the options for the browser's passkey prompt.
pub async fn sign_in_passkey_options(
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let Some((admin, _)) = pending(&session, &state).await? else {
        return Err(AppError::NotFound);
    };
    passkey_options(&session, &state, &admin, SIGN_IN).await
}

/// `POST /account/step-up/passkey`: the same for a step-up.
pub async fn step_up_passkey_options(
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let Some(id) = session.get::<AdminId>(ADMIN_ID_KEY).ok().flatten() else {
        return Err(AppError::NotFound);
    };
    let admin = state
        .read(move |conn| Admin::find_by_id(conn, &id))
        .await?
        .ok_or(AppError::NotFound)?;
    passkey_options(&session, &state, &admin, STEP_UP).await
}

/// A kept field of the form being confirmed.
#[derive(Debug)]
struct Kept {
    name: String,
    value: String,
}

#[derive(Template)]
#[template(path = "auth/step_up.html")]
struct StepUpPage {
    layout: Layout,
    action: String,
    kept: Vec<Kept>,
    enrolled: Enrolled,
    passkeys: bool,
    error: Option<String>,
}

impl StepUpPage {
    fn problems(&self) -> Vec<Problem> {
        let target = if self.enrolled.any() {
            "stepup-code"
        } else {
            "stepup-password"
        };
        Problem::list([(target, self.error.as_deref())])
    }
}

/// Whether the session proved who it is within the last five minutes.
pub fn recently_authenticated(session: &Session) -> bool {
    auth::authenticated_at(session).is_some_and(|at| {
        let age = unix_now() - at;
        (0..=RECENT_SECONDS).contains(&age)
    })
}

/// Step-up before a sensitive change (a `POST` of the routes it wraps): when
/// the admin last proved who they are more than five minutes ago, the change
/// waits behind a page asking for a second factor (or the password, for an
/// admin without one), which posts the same form again with every field
/// kept. The check is throttled like sign-in and audited.
pub async fn require_step_up(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let session = req.get_session();
    let admin_id = session.get::<AdminId>(ADMIN_ID_KEY).ok().flatten();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(admin_id), Some(state), true) = (
        admin_id,
        state,
        req.method() == actix_web::http::Method::POST && !recently_authenticated(&session),
    ) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let stamp = auth::session_password_stamp(&session);
    let id = admin_id.clone();
    let admin = state
        .read(move |conn| Admin::find_by_id(conn, &id))
        .await
        .map_err(AppError::from)?;
    // Signed out, disabled or with an old password: the handler's own check
    // answers that.
    let Some(admin) = admin.filter(|a| !a.is_disabled() && Some(auth::password_stamp(a)) == stamp)
    else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let body = req.extract::<web::Bytes>().await?;
    let pairs = crate::routes::middleware::decode_form(&body).map_err(AppError::BadRequest)?;
    let (answers, kept): (Vec<_>, Vec<_>) = pairs
        .into_iter()
        .partition(|(k, _)| k.starts_with("stepup_"));
    let answer = |name: &str| {
        answers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let a = admin.clone();
    let enrolled = state
        .read(move |conn| two_factor::enrolled(conn, &a))
        .await
        .map_err(AppError::from)?;
    let http = req.request().clone();
    let outcome = if answers.is_empty() {
        None
    } else if enrolled.any() {
        Some(
            attempt(
                &http,
                &session,
                &state,
                &admin,
                &answer("stepup_code"),
                &answer("stepup_passkey"),
                STEP_UP,
            )
            .await?,
        )
    } else {
        Some(password_attempt(&http, &state, &admin, &answer("stepup_password")).await?)
    };
    match outcome {
        Some(Outcome::Accepted(factor)) => {
            auth::mark_authenticated(&session)?;
            let actor = extract::actor(&http, None, "");
            let actor = Actor {
                id: Some(admin.id.clone()),
                label: admin.email.clone(),
                ..actor
            };
            let (a, path) = (admin.clone(), http.path().to_owned());
            state
                .op(move |conn| two_factor::stepped_up(conn, &a, factor, &path, &actor))
                .await
                .map_err(AppError::from)?;
            let encoded = serde_html_form::to_string(&kept).map_err(AppError::internal)?;
            let len = encoded.len();
            // The request's head can change only while nothing else holds it.
            drop(http);
            req.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            req.set_payload(Payload::from(web::Bytes::from(encoded)));
            Ok(next.call(req).await?.map_into_left_body())
        }
        other => {
            let (status, error) = match other {
                Some(Outcome::Refused(status, message)) => (status, Some(message)),
                _ => (StatusCode::OK, None),
            };
            let page = StepUpPage {
                layout: Layout::new(&session, None, Nav::None, "Confirm it is you")?,
                action: http.path().to_owned(),
                kept: kept
                    .into_iter()
                    .map(|(name, value)| Kept { name, value })
                    .collect(),
                passkeys: enrolled.passkeys > 0 && state.passkeys.is_some(),
                enrolled,
                error,
            };
            let response = page::render(status, &page)?;
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// A check of an admin's password (a step-up without a second factor, or
/// the current password before a change), throttled like sign-in.
pub async fn password_attempt(
    req: &HttpRequest,
    state: &AppState,
    admin: &Admin,
    password: &str,
) -> Result<Outcome, AppError> {
    let Ok(email) = crate::domain::EmailAddress::parse(&admin.email) else {
        return Err(AppError::internal("an admin's email does not parse"));
    };
    let actor = Actor {
        id: Some(admin.id.clone()),
        label: admin.email.clone(),
        ..extract::actor(req, None, "")
    };
    let (e, a, now) = (email.clone(), actor.clone(), clock::now());
    let verdict = state
        .op(move |conn| services::sign_in::reserve(conn, &e, a.ip.as_deref(), &a, now))
        .await?;
    match verdict {
        Verdict::Proceed => {}
        Verdict::Wait(s) => return Ok(refused(&CodeVerdict::Wait(s))),
        Verdict::Locked => return Ok(refused(&CodeVerdict::Locked)),
    }
    let checked = state
        .hasher
        .check(password, Some(admin.password_hash.clone()))
        .await?;
    let ok = checked.matches && !password.is_empty();
    state
        .op(move |conn| {
            if ok {
                services::sign_in::succeeded(conn, &email, actor.ip.as_deref(), &actor, now)
            } else {
                services::sign_in::failed(conn, &email, &actor, now)
            }
        })
        .await?;
    Ok(if ok {
        Outcome::Accepted(Factor::Password)
    } else {
        Outcome::Refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That is not your current password.".to_owned(),
        )
    })
}
