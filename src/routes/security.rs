//! My account for every admin: the password (changed with the current one,
//! ending every other session), the admin's own sessions with **Sign out**,
//! and two-factor sign-in: an authenticator app (TOTP, enrolled by scanning
//! a QR code drawn here as SVG and confirmed with a first code), passkeys and
//! security keys, and recovery codes shown once.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::auth::{self, passkeys};
use crate::clock::{self, When};
use crate::db::models::admin_passkey::AdminPasskey;
use crate::db::models::{Admin, Organization, session as rows};
use crate::domain::two_factor::{RecoveryCode, TotpCode, TotpSecret};
use crate::domain::{Name, Password};
use crate::error::AppError;
use crate::routes::extract::{CurrentAdmin, EnrollingAdmin, actor};
use crate::routes::form::Form;
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::routes::second_factor::{self, REGISTER};
use crate::secrets::random_bytes;
use crate::services::two_factor::{self, Enrolled};
use crate::services::{self, OpError};
use crate::state::AppState;

/// The two-factor page.
const SECURITY: &str = "/account/security";
/// The session slot of a TOTP secret being enrolled (sealed).
const PENDING_TOTP: &str = "pending_totp";
/// The session slot of new recovery codes, for the one view that shows them.
const REVEAL_CODES: &str = "reveal:recovery-codes";

async fn load(state: &AppState, admin: &CurrentAdmin) -> Result<Admin, AppError> {
    let id = admin.id.clone();
    state
        .read(move |conn| Admin::find_by_id(conn, &id))
        .await?
        .ok_or(AppError::NotFound)
}

/// One of the admin's sessions as listed.
#[derive(Debug)]
struct SessionItem {
    id: String,
    ip: String,
    browser: String,
    started: When,
    last_seen: Option<When>,
    current: bool,
}

#[derive(Debug, Default)]
struct PasswordErrors {
    current: Option<String>,
    password: Option<String>,
    confirm: Option<String>,
}

impl PasswordErrors {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("current-password", self.current.as_deref()),
            ("new-password", self.password.as_deref()),
            ("confirm-password", self.confirm.as_deref()),
        ])
    }
}

#[derive(Template)]
#[template(path = "account/index.html")]
struct AccountPage {
    layout: Layout,
    sessions: Vec<SessionItem>,
    errors: PasswordErrors,
}

async fn account_page(
    session: &Session,
    state: &AppState,
    admin: &CurrentAdmin,
    status: StatusCode,
    errors: PasswordErrors,
) -> Result<HttpResponse, AppError> {
    let (id, now) = (admin.id.clone(), clock::now());
    let born_after = now
        - time::Duration::try_from(state.settings.session_max).unwrap_or(time::Duration::hours(12));
    let list = state
        .read(move |conn| rows::list_for_admin(conn, &id, now, born_after))
        .await?;
    let mine = auth::session_tag(session);
    let zone = admin.zone;
    let sessions = list
        .into_iter()
        .map(|row| SessionItem {
            current: mine.is_some() && auth::tag_in_state(&row.state) == mine,
            ip: row.client_ip.unwrap_or_else(|| "unknown".to_owned()),
            browser: row.user_agent.unwrap_or_else(|| "unknown".to_owned()),
            started: zone.when(row.created_at),
            last_seen: row.last_seen_at.map(|t| zone.when(t)),
            id: row.id,
        })
        .collect();
    let page = AccountPage {
        layout: Layout::new(session, Some(admin), Nav::Account, "My account")?,
        sessions,
        errors,
    };
    page::render(status, &page)
}

/// `GET /account`.
pub async fn account_index(
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> Result<HttpResponse, AppError> {
    account_page(
        &session,
        &state,
        &admin,
        StatusCode::OK,
        PasswordErrors::default(),
    )
    .await
}

/// The password change form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current: Option<SecretString>,
    password: Option<SecretString>,
    confirm: Option<SecretString>,
}

/// `POST /account/password`: needs the current password; every other
/// session of the admin ends, this one stays signed in.
pub async fn password_change(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let stored = load(&state, &admin).await?;
    let mut errors = PasswordErrors::default();
    let current = form
        .current
        .as_ref()
        .map(|c| c.expose_secret().to_owned())
        .unwrap_or_default();
    let new = Password::parse_confirmed(
        form.password,
        form.confirm.as_ref(),
        &[stored.email.as_str()],
    )
    .map_err(|e| (errors.password, errors.confirm) = e.messages())
    .ok();
    // The current password, throttled like a sign-in.
    let right = match second_factor::password_attempt(&req, &state, &stored, &current).await? {
        second_factor::Outcome::Accepted(_) => true,
        second_factor::Outcome::Refused(_, message) => {
            errors.current = Some(message);
            false
        }
    };
    let who = actor(&req, Some(&admin), "");
    let (true, Some(new)) = (right, new) else {
        return account_page(
            &session,
            &state,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
        )
        .await;
    };
    let hash = state.hasher.hash(new.expose()).await?;
    // This session's row, which stays signed in.
    let (id, born_after) = (admin.id.clone(), clock::now() - time::Duration::hours(48));
    let mine = auth::session_tag(&session);
    let list = state
        .read(move |conn| rows::list_for_admin(conn, &id, clock::now(), born_after))
        .await?;
    let keep = list
        .into_iter()
        .find(|r| mine.is_some() && auth::tag_in_state(&r.state) == mine)
        .map(|r| r.id);
    let changed = state
        .op(move |conn| {
            services::admins::change_password(
                conn,
                &stored,
                &hash,
                keep.as_deref(),
                &who,
                clock::now(),
            )
        })
        .await?;
    auth::restamp(&session, &changed)?;
    page::flash(
        &session,
        "success",
        "Your password was changed. Every other session of yours has ended.",
    );
    Ok(page::see_other("/account"))
}

/// `POST /account/sessions/{id}/end`.
pub async fn session_end(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let stored = load(&state, &admin).await?;
    let (who, id) = (actor(&req, Some(&admin), ""), path.into_inner());
    match state
        .op(move |conn| services::admins::end_session(conn, &stored, &id, &who))
        .await
    {
        Ok(()) => page::flash(&session, "success", "That session was signed out."),
        Err(OpError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(e.into()),
    }
    Ok(page::see_other("/account"))
}

/// One passkey as listed.
#[derive(Debug)]
struct PasskeyItem {
    id: String,
    name: String,
    created: When,
    last_used: Option<When>,
}

/// The TOTP secret being enrolled, as shown.
#[derive(Debug)]
struct TotpEnrolment {
    secret_text: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "account/security.html")]
struct SecurityPage {
    layout: Layout,
    enrolled: Enrolled,
    required: bool,
    must_enrol: bool,
    passkeys_available: bool,
    passkeys: Vec<PasskeyItem>,
    totp: Option<TotpEnrolment>,
    code_error: Option<String>,
    passkey_error: Option<String>,
    passkey_name: String,
    new_codes: Vec<String>,
}

impl SecurityPage {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("totp-code", self.code_error.as_deref()),
            ("passkey-name", self.passkey_error.as_deref()),
        ])
    }
}

fn totp_context(admin: &CurrentAdmin) -> String {
    format!("totp-pending:{}", admin.id)
}

/// The TOTP secret being enrolled in this session, if any.
fn pending_totp(session: &Session, state: &AppState, admin: &CurrentAdmin) -> Option<TotpSecret> {
    let sealed: String = session.get(PENDING_TOTP).ok().flatten()?;
    state
        .sealing_key
        .open(&sealed, &totp_context(admin))
        .and_then(|b| TotpSecret::from_slice(&b))
}

fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

struct SecurityView {
    code_error: Option<String>,
    passkey_error: Option<String>,
    passkey_name: String,
    new_codes: Vec<String>,
}

async fn security_page(
    session: &Session,
    state: &AppState,
    admin: &CurrentAdmin,
    status: StatusCode,
    view: SecurityView,
) -> Result<HttpResponse, AppError> {
    let stored = load(state, admin).await?;
    let (s, org) = (stored.clone(), admin.organization_id.clone());
    let (enrolled, passkeys, required) = state
        .read(move |conn| {
            Ok((
                two_factor::enrolled(conn, &s)?,
                AdminPasskey::list_for_admin(conn, &s.id)?,
                Organization::find_by_id(conn, &org)?.require_two_factor,
            ))
        })
        .await?;
    let totp = if enrolled.totp {
        None
    } else {
        pending_totp(session, state, admin).and_then(|secret| {
            let uri = secret.otpauth_uri("Keyward", &admin.email)?;
            Some(TotpEnrolment {
                secret_text: secret.base32(),
                qr_svg: qr_svg(&uri)?,
            })
        })
    };
    let zone = admin.zone;
    let page = SecurityPage {
        layout: Layout::new(session, Some(admin), Nav::Account, "Two-factor sign-in")?,
        must_enrol: admin.must_enrol,
        required,
        passkeys_available: state.passkeys.is_some(),
        passkeys: passkeys
            .into_iter()
            .map(|p| PasskeyItem {
                id: p.id,
                name: p.name,
                created: zone.when(p.created_at),
                last_used: p.last_used_at.map(|t| zone.when(t)),
            })
            .collect(),
        enrolled,
        totp,
        code_error: view.code_error,
        passkey_error: view.passkey_error,
        passkey_name: view.passkey_name,
        new_codes: view.new_codes,
    };
    let mut response = page::render(status, &page)?;
    response.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

fn no_view() -> SecurityView {
    SecurityView {
        code_error: None,
        passkey_error: None,
        passkey_name: String::new(),
        new_codes: Vec::new(),
    }
}

/// `GET /account/security`.
pub async fn security_index(
    session: Session,
    state: web::Data<AppState>,
    EnrollingAdmin(admin): EnrollingAdmin,
) -> Result<HttpResponse, AppError> {
    // New recovery codes are shown on this one view, then gone.
    let new_codes: Vec<String> = match session.get::<String>(REVEAL_CODES) {
        Ok(Some(sealed)) => {
            session.remove(REVEAL_CODES);
            state
                .sealing_key
                .open(&sealed, &format!("recovery-reveal:{}", admin.id))
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let view = SecurityView {
        new_codes,
        ..no_view()
    };
    security_page(&session, &state, &admin, StatusCode::OK, view).await
}

fn reveal_codes(
    session: &Session,
    state: &AppState,
    admin: &CurrentAdmin,
    codes: &[RecoveryCode],
) -> Result<(), AppError> {
    let shown: Vec<String> = codes.iter().map(RecoveryCode::display).collect();
    let json = serde_json::to_vec(&shown).map_err(AppError::internal)?;
    let sealed = state
        .sealing_key
        .seal(&json, &format!("recovery-reveal:{}", admin.id));
    session
        .insert(REVEAL_CODES, sealed)
        .map_err(AppError::internal)
}

/// `POST /account/security/totp`: starts enrolling an authenticator app: a
/// new secret, shown as a QR code and text until confirmed.
pub async fn totp_begin(
    session: Session,
    state: web::Data<AppState>,
    EnrollingAdmin(admin): EnrollingAdmin,
) -> Result<HttpResponse, AppError> {
    let secret = TotpSecret::from_bytes(random_bytes::<20>());
    let sealed = state
        .sealing_key
        .seal(secret.as_bytes(), &totp_context(&admin));
    session
        .insert(PENDING_TOTP, sealed)
        .map_err(AppError::internal)?;
    Ok(page::see_other("/account/security#totp-heading"))
}

/// The confirmation of a new authenticator app.
#[derive(Debug, Deserialize)]
pub struct TotpForm {
    #[serde(default)]
    code: String,
}

/// `POST /account/security/totp/confirm`.
pub async fn totp_confirm(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    EnrollingAdmin(admin): EnrollingAdmin,
    Form(form): Form<TotpForm>,
) -> Result<HttpResponse, AppError> {
    let Some(secret) = pending_totp(&session, &state, &admin) else {
        return Ok(page::see_other("/account/security"));
    };
    let code = match TotpCode::parse(&form.code) {
        Ok(code) => code,
        Err(e) => {
            let view = SecurityView {
                code_error: Some(e.0),
                ..no_view()
            };
            return security_page(
                &session,
                &state,
                &admin,
                StatusCode::UNPROCESSABLE_ENTITY,
                view,
            )
            .await;
        }
    };
    let stored = load(&state, &admin).await?;
    let (who, sealing, digest, now) = (
        actor(&req, Some(&admin), ""),
        state.sealing_key.clone(),
        state.digest_key.clone(),
        clock::now(),
    );
    let result = state
        .op(move |conn| {
            two_factor::enable_totp(conn, &stored, &secret, &code, &sealing, &who, now)?;
            first_codes(conn, &stored, &digest, &who, now)
        })
        .await;
    match result {
        Ok(codes) => {
            session.remove(PENDING_TOTP);
            enrolled(
                &session,
                &state,
                &admin,
                codes,
                "Your authenticator app is set up: sign-in now asks for its code.",
            )
        }
        Err(e @ OpError::Invalid { .. }) => {
            let view = SecurityView {
                code_error: Some(e.to_string()),
                ..no_view()
            };
            security_page(
                &session,
                &state,
                &admin,
                StatusCode::UNPROCESSABLE_ENTITY,
                view,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// After a second factor is added: the first recovery codes, if these are,
/// for the one view that shows them; the admin has just proved the factor.
fn enrolled(
    session: &Session,
    state: &AppState,
    admin: &CurrentAdmin,
    codes: Option<Vec<RecoveryCode>>,
    done: &str,
) -> Result<HttpResponse, AppError> {
    if let Some(codes) = codes {
        reveal_codes(session, state, admin, &codes)?;
    }
    auth::mark_authenticated(session)?;
    page::flash(session, "success", done);
    Ok(page::see_other(SECURITY))
}

/// Recovery codes for an admin's first second factor.
fn first_codes(
    conn: &mut crate::db::DbConn,
    admin: &Admin,
    digest: &crate::secrets::DigestKey,
    who: &crate::db::models::Actor,
    now: clock::Timestamp,
) -> Result<Option<Vec<RecoveryCode>>, OpError> {
    if two_factor::enrolled(conn, admin)?.recovery_codes > 0 {
        return Ok(None);
    }
    two_factor::new_recovery_codes(conn, admin, digest, who, now).map(Some)
}

/// `POST /account/security/totp/remove`.
pub async fn totp_remove(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> Result<HttpResponse, AppError> {
    let stored = load(&state, &admin).await?;
    let who = actor(&req, Some(&admin), "");
    let result = state
        .op(move |conn| two_factor::disable_totp(conn, &stored, &who, clock::now()))
        .await;
    page::outcome(
        &session,
        result,
        "Your authenticator app no longer signs you in.",
        SECURITY,
    )
}

/// `POST /account/security/recovery-codes`: a new set replaces the old.
pub async fn recovery_codes_new(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> Result<HttpResponse, AppError> {
    let stored = load(&state, &admin).await?;
    let (who, digest) = (actor(&req, Some(&admin), ""), state.digest_key.clone());
    let result = state
        .op(move |conn| two_factor::new_recovery_codes(conn, &stored, &digest, &who, clock::now()))
        .await;
    match result {
        Ok(codes) => {
            reveal_codes(&session, &state, &admin, &codes)?;
            Ok(page::see_other("/account/security#recovery-heading"))
        }
        Err(e) => page::outcome(&session, Err(e), "", SECURITY),
    }
}

/// `POST /account/security/passkeys/options`: the options for the browser
/// to make a new passkey.
pub async fn passkey_options(
    session: Session,
    state: web::Data<AppState>,
    EnrollingAdmin(admin): EnrollingAdmin,
) -> Result<HttpResponse, AppError> {
    let Some(rp) = state.passkeys.as_ref() else {
        return Err(AppError::NotFound);
    };
    let id = admin.id.clone();
    let stored = state
        .read(move |conn| AdminPasskey::list_for_admin(conn, &id))
        .await?;
    let keys = passkeys::parse_stored(stored.iter().map(|p| p.passkey.as_str()));
    let (options, ceremony) = passkeys::start_registration(
        &rp.0,
        passkeys::user_handle(admin.id.as_ref()),
        &admin.email,
        &keys,
    )
    .map_err(AppError::internal)?;
    second_factor::keep_ceremony(&session, &state, &admin.id, REGISTER, ceremony).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(options))
}

/// A new passkey: its name and the browser's answer.
#[derive(Debug, Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    passkey: String,
}

/// `POST /account/security/passkeys`.
pub async fn passkey_add(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    EnrollingAdmin(admin): EnrollingAdmin,
    Form(form): Form<PasskeyForm>,
) -> Result<HttpResponse, AppError> {
    let Some(rp) = state.passkeys.as_ref() else {
        return Err(AppError::NotFound);
    };
    let fail = |message: String| SecurityView {
        passkey_error: Some(message),
        passkey_name: form.name.chars().take(Name::MAX_CHARS).collect(),
        ..no_view()
    };
    let name = match Name::parse(&form.name) {
        Ok(name) => name,
        Err(e) => {
            return security_page(
                &session,
                &state,
                &admin,
                StatusCode::UNPROCESSABLE_ENTITY,
                fail(e.to_string()),
            )
            .await;
        }
    };
    let ceremony = second_factor::take_ceremony(&session, &state, &admin.id, REGISTER).await?;
    let registered = ceremony
        .ok_or(passkeys::PasskeyError::Refused)
        .and_then(|c| passkeys::finish_registration(&rp.0, &form.passkey, &c));
    let Ok((passkey, credential)) = registered else {
        return security_page(
            &session,
            &state,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            fail("The passkey was not registered: the browser's answer did not check out. Try again.".to_owned()),
        )
        .await;
    };
    let stored = load(&state, &admin).await?;
    let (who, digest, now) = (
        actor(&req, Some(&admin), ""),
        state.digest_key.clone(),
        clock::now(),
    );
    let result = state
        .op(move |conn| {
            two_factor::add_passkey(conn, &stored, &name, &credential, &passkey, &who, now)?;
            first_codes(conn, &stored, &digest, &who, now)
        })
        .await;
    match result {
        Ok(codes) => enrolled(
            &session,
            &state,
            &admin,
            codes,
            "Your passkey is registered: sign-in can use it.",
        ),
        Err(e @ OpError::Conflict { .. }) => {
            security_page(
                &session,
                &state,
                &admin,
                StatusCode::CONFLICT,
                fail(e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/security/passkeys/{id}/remove`.
pub async fn passkey_remove(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let stored = load(&state, &admin).await?;
    let (who, id) = (actor(&req, Some(&admin), ""), path.into_inner());
    let result = state
        .op(move |conn| two_factor::remove_passkey(conn, &stored, &id, &who))
        .await;
    page::outcome(&session, result, "The passkey was removed.", SECURITY)
}
