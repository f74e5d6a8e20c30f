//! Settings → Admins (full-access admins): the organization's admins with
//! their role, two-factor status and last sign-in; inviting one by email;
//! changing a role; disabling, enabling, removing. And the pages of the
//! emailed links: accepting an invitation, and "Forgot password".

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::clock::{self, When};
use crate::db::models::admin_link::{AdminLink, AdminLinkPurpose};
use crate::db::models::admin_passkey::AdminPasskey;
use crate::db::models::{Actor, Admin, Role};
use crate::domain::{AdminId, EmailAddress, Password};
use crate::email::messages;
use crate::error::AppError;
use crate::routes::extract::{self, FullAdmin};
use crate::routes::form::{Form, Query};
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::services::admins::IssuedAdminLink;
use crate::services::{self, OpError};
use crate::state::AppState;

/// One admin as the list shows them.
#[derive(Debug)]
struct AdminRow {
    admin: Admin,
    role: Role,
    totp: bool,
    passkeys: i64,
    last_sign_in: Option<When>,
    is_me: bool,
}

/// A pending invitation.
#[derive(Debug)]
struct InvitationRow {
    link: AdminLink,
    role: Role,
    expires: When,
}

/// The invitation form.
#[derive(Debug, Default, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

#[derive(Template)]
#[template(path = "admins/index.html")]
struct AdminsPage {
    layout: Layout,
    admins: Vec<AdminRow>,
    invitations: Vec<InvitationRow>,
    form: InviteForm,
    email_error: Option<String>,
    role_error: Option<String>,
}

impl AdminsPage {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("invite-email", self.email_error.as_deref()),
            ("invite-role", self.role_error.as_deref()),
        ])
    }
}

async fn render(
    session: &Session,
    state: &AppState,
    admin: &FullAdmin,
    status: StatusCode,
    form: InviteForm,
    errors: (Option<String>, Option<String>),
) -> Result<HttpResponse, AppError> {
    let (org, now) = (admin.organization_id.clone(), clock::now());
    let (admins, invitations) = state
        .read(move |conn| {
            let mut rows = Vec::new();
            for a in Admin::list_for_org(conn, &org)? {
                let passkeys = AdminPasskey::count_for_admin(conn, &a.id)?;
                rows.push((a, passkeys));
            }
            Ok((rows, AdminLink::pending_invitations(conn, &org, now)?))
        })
        .await?;
    let zone = admin.zone;
    let page = AdminsPage {
        layout: Layout::new(session, Some(admin), Nav::Admins, "Admins")?,
        admins: admins
            .into_iter()
            .map(|(a, passkeys)| AdminRow {
                role: a.role(),
                totp: a.has_totp(),
                passkeys,
                last_sign_in: a.last_sign_in_at.map(|t| zone.when(t)),
                is_me: a.id == admin.id,
                admin: a,
            })
            .collect(),
        invitations: invitations
            .into_iter()
            .map(|link| InvitationRow {
                role: Role::parse(&link.role).unwrap_or(Role::Limited),
                expires: zone.when(link.expires_at),
                link,
            })
            .collect(),
        form,
        email_error: errors.0,
        role_error: errors.1,
    };
    page::render(status, &page)
}

/// `GET /admins`.
pub async fn admins_index(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
) -> Result<HttpResponse, AppError> {
    render(
        &session,
        &state,
        &admin,
        StatusCode::OK,
        InviteForm {
            role: "limited".to_owned(),
            ..InviteForm::default()
        },
        (None, None),
    )
    .await
}

/// Sends an admin link's email; the error, in words, when it could not go.
pub async fn send_admin_link(
    state: &AppState,
    issued: &IssuedAdminLink,
    reset: bool,
    role: Role,
) -> Result<(), String> {
    let path = if reset {
        "/login/reset"
    } else {
        "/admins/invitation"
    };
    let link = state
        .settings
        .url_for(&format!("{path}?token={}", issued.token));
    let expires = clock::Zone::UTC.when(issued.expires_at).text;
    let role_words = match role {
        Role::Full => "full access",
        Role::Limited => "limited access (everything but the API keys section)",
    };
    let email = messages::admin_link(
        &issued.email,
        messages::AdminLinkMail {
            organization: &issued.organization,
            link: &link,
            expires: &expires,
            reset,
            role: role_words,
        },
    )
    .map_err(|e| e.to_string())?;
    state.mailer.send(&email).await.map_err(|e| e.to_string())
}

/// `POST /admins`: invites an admin.
pub async fn admin_invite(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Form(form): Form<InviteForm>,
) -> Result<HttpResponse, AppError> {
    let email = EmailAddress::parse(&form.email);
    let role = Role::parse(&form.role);
    let (Ok(email), Some(role)) = (&email, role) else {
        let errors = (
            email.as_ref().err().map(ToString::to_string),
            role.is_none()
                .then(|| "Choose full or limited access.".to_owned()),
        );
        return render(
            &session,
            &state,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
        )
        .await;
    };
    let (org, actor, e, now) = (
        admin.organization_id.clone(),
        admin.actor(),
        email.clone(),
        clock::now(),
    );
    match state
        .op(move |conn| services::admins::invite(conn, &org, &e, role, &actor, now))
        .await
    {
        Ok(issued) => {
            match send_admin_link(&state, &issued, false, role).await {
                Ok(()) => page::flash(
                    &session,
                    "success",
                    format!(
                        "An invitation was sent to {}. Its link works once, for 24 hours.",
                        issued.email
                    ),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "an admin invitation could not be sent");
                    page::flash(
                        &session,
                        "error",
                        format!(
                            "The invitation could not be sent: {e}. Invite again: a new link replaces this one."
                        ),
                    );
                }
            }
            Ok(page::see_other("/admins"))
        }
        Err(e @ OpError::Invalid { .. }) => {
            render(
                &session,
                &state,
                &admin,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                (Some(e.to_string()), None),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The role form.
#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

/// `POST /admins/{id}/role`.
pub async fn admin_role(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let Some(role) = Role::parse(&form.role) else {
        return Err(AppError::BadRequest(
            "role must be full or limited".to_owned(),
        ));
    };
    let (org, actor, id, now) = (
        admin.organization_id.clone(),
        admin.actor(),
        AdminId::from(path.into_inner().as_str()),
        clock::now(),
    );
    let result = state
        .op(move |conn| services::admins::change_role(conn, &org, &id, role, &actor, now))
        .await;
    let done = match &result {
        Ok(a) => format!("{} now has {}.", a.email, role.label().to_lowercase()),
        Err(_) => String::new(),
    };
    page::outcome(&session, result.map(|_| ()), &done, "/admins")
}

/// `POST /admins/{id}/{disable|enable}`.
pub async fn admin_set_disabled(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, verb) = path.into_inner();
    let disabled = match verb.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(AppError::NotFound),
    };
    let (org, actor, id, now) = (
        admin.organization_id.clone(),
        admin.actor(),
        AdminId::from(id.as_str()),
        clock::now(),
    );
    let result = state
        .op(move |conn| services::admins::set_disabled(conn, &org, &id, disabled, &actor, now))
        .await;
    let done = match &result {
        Ok(a) if disabled => format!(
            "{} is disabled: every session of theirs has ended.",
            a.email
        ),
        Ok(a) => format!("{} can sign in again.", a.email),
        Err(_) => String::new(),
    };
    page::outcome(&session, result.map(|_| ()), &done, "/admins")
}

/// `POST /admins/{id}/remove`.
pub async fn admin_remove(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (org, actor, id) = (
        admin.organization_id.clone(),
        admin.actor(),
        AdminId::from(path.into_inner().as_str()),
    );
    let result = state
        .op(move |conn| services::admins::remove(conn, &org, &id, &actor))
        .await;
    page::outcome(&session, result, "The admin was removed.", "/admins")
}

/// `POST /admins/invitations/{id}/withdraw`.
pub async fn invitation_withdraw(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (org, actor, id, now) = (
        admin.organization_id.clone(),
        admin.actor(),
        path.into_inner(),
        clock::now(),
    );
    let result = state
        .op(move |conn| services::admins::withdraw_invitation(conn, &org, &id, &actor, now))
        .await;
    page::outcome(
        &session,
        result,
        "The invitation was withdrawn: its link no longer works.",
        "/admins",
    )
}

/// Field errors of a set-password form.
#[derive(Debug, Default)]
struct PasswordErrors {
    password: Option<String>,
    confirm: Option<String>,
}

impl PasswordErrors {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("password", self.password.as_deref()),
            ("confirm", self.confirm.as_deref()),
        ])
    }
}

#[derive(Template)]
#[template(path = "auth/set_password.html")]
struct SetPasswordPage {
    layout: Layout,
    action: &'static str,
    token: String,
    email: String,
    reset: bool,
    errors: PasswordErrors,
}

impl SetPasswordPage {
    /// The page of an invitation (`reset` false) or a reset link.
    fn new(
        session: &Session,
        token: String,
        email: String,
        reset: bool,
        errors: PasswordErrors,
    ) -> Result<Self, AppError> {
        let (title, action) = if reset {
            ("Choose a new password", "/login/reset")
        } else {
            ("Join as an admin", "/admins/invitation")
        };
        Ok(Self {
            layout: Layout::new(session, None, Nav::None, title)?,
            action,
            token,
            email,
            reset,
            errors,
        })
    }
}

/// The query of a link's page.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// The form of a link's page.
#[derive(Debug, Deserialize)]
pub struct LinkForm {
    token: Option<SecretString>,
    password: Option<SecretString>,
    confirm: Option<SecretString>,
}

fn purpose_of(reset: bool) -> AdminLinkPurpose {
    if reset {
        AdminLinkPurpose::Reset
    } else {
        AdminLinkPurpose::Invitation
    }
}

async fn link_form(
    session: Session,
    state: &AppState,
    token: String,
    reset: bool,
) -> Result<HttpResponse, AppError> {
    let (t, now) = (token.clone(), clock::now());
    let link = state
        .op(move |conn| services::admins::find_link(conn, &t, purpose_of(reset), now))
        .await?
        .ok_or(AppError::NotFound)?;
    page::ok(&SetPasswordPage::new(
        &session,
        token,
        link.email,
        reset,
        PasswordErrors::default(),
    )?)
}

async fn link_submit(
    req: HttpRequest,
    session: Session,
    state: &AppState,
    form: LinkForm,
    reset: bool,
) -> Result<HttpResponse, AppError> {
    let token = form
        .token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default();
    let (t, now) = (token.clone(), clock::now());
    let link = state
        .op(move |conn| services::admins::find_link(conn, &t, purpose_of(reset), now))
        .await?
        .ok_or(AppError::NotFound)?;
    let mut errors = PasswordErrors::default();
    let password =
        Password::parse_confirmed(form.password, form.confirm.as_ref(), &[link.email.as_str()])
            .map_err(|e| (errors.password, errors.confirm) = e.messages())
            .ok();
    let Some(password) = password else {
        let page = SetPasswordPage::new(&session, token, link.email, reset, errors)?;
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let hash = state.hasher.hash(password.expose()).await?;
    let actor = Actor {
        label: link.email.clone(),
        ..extract::actor(&req, None, &link.email)
    };
    let result = state
        .op(move |conn| {
            if reset {
                services::admins::reset_password(conn, &token, &hash, &actor, clock::now())
            } else {
                services::admins::accept_invitation(conn, &token, &hash, &actor, clock::now())
            }
        })
        .await;
    match result {
        Ok(_) => {
            page::flash(
                &session,
                "success",
                if reset {
                    "Your password was changed and every session of yours ended. Sign in with the new one."
                } else {
                    "Your admin account is ready. Sign in with your email and the password you chose."
                },
            );
            Ok(page::see_other("/login"))
        }
        Err(OpError::NotFound) => Err(AppError::NotFound),
        Err(e @ OpError::Invalid { .. }) => {
            page::flash(&session, "error", e.to_string());
            Ok(page::see_other("/login"))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /admins/invitation?token=…`.
pub async fn invitation_form(
    session: Session,
    state: web::Data<AppState>,
    Query(q): Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    link_form(session, &state, q.token, false).await
}

/// `POST /admins/invitation`.
pub async fn invitation_accept(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<LinkForm>,
) -> Result<HttpResponse, AppError> {
    link_submit(req, session, &state, form, false).await
}

/// `GET /login/reset?token=…`.
pub async fn reset_form(
    session: Session,
    state: web::Data<AppState>,
    Query(q): Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    link_form(session, &state, q.token, true).await
}

/// `POST /login/reset`.
pub async fn reset(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<LinkForm>,
) -> Result<HttpResponse, AppError> {
    link_submit(req, session, &state, form, true).await
}

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    layout: Layout,
    email: String,
    error: Option<String>,
    sent: bool,
}

impl ForgotPage {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([("email", self.error.as_deref())])
    }
}

/// `GET /login/forgot`.
pub async fn forgot_form(session: Session) -> Result<HttpResponse, AppError> {
    page::ok(&ForgotPage {
        layout: Layout::new(&session, None, Nav::None, "Forgot your password")?,
        email: String::new(),
        error: None,
        sent: false,
    })
}

/// The forgot-password form.
#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// `POST /login/forgot`: the same answer whether the address is an admin's
/// or not (OWASP Forgot Password cheat sheet); the link goes out only to an
/// admin who may sign in, at most once a minute.
pub async fn forgot(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<ForgotForm>,
) -> Result<HttpResponse, AppError> {
    let email = match EmailAddress::parse(&form.email) {
        Ok(email) => email,
        Err(e) => {
            let page = ForgotPage {
                layout: Layout::new(&session, None, Nav::None, "Forgot your password")?,
                email: form.email.chars().take(EmailAddress::MAX_LEN).collect(),
                error: Some(e.to_string()),
                sent: false,
            };
            return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let actor = Actor {
        label: email.as_str().to_owned(),
        ..extract::actor(&req, None, email.as_str())
    };
    let (e, now) = (email.clone(), clock::now());
    let issued = state
        .op(move |conn| services::admins::request_reset(conn, &e, &actor, now))
        .await?;
    if let Some(issued) = issued {
        // Sent after the answer is decided, so its timing tells nothing;
        // a failure is logged, not shown (it would tell the address exists).
        let state = state.clone();
        actix_web::rt::spawn(async move {
            if let Err(e) = send_admin_link(&state, &issued, true, Role::Limited).await {
                tracing::warn!(error = %e, "a password reset email could not be sent");
            }
        });
    }
    page::ok(&ForgotPage {
        layout: Layout::new(&session, None, Nav::None, "Forgot your password")?,
        email: String::new(),
        error: None,
        sent: true,
    })
}
