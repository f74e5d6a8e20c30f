//! App users (employees and guests) and their credentials: the one-time link
//! pages where a user sets a password (no admin signed in), the console
//! actions that send those links, and a user's sign-in sessions with
//! **Revoke**.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::clock;
use crate::db::models::token::TokenFamily;
use crate::db::models::{App, Organization};
use crate::domain::{LinkPurpose, Password, UserRef};
use crate::email::messages;
use crate::error::AppError;
use crate::routes::extract::{self, FullAdmin};
use crate::routes::form::{Form, Query};
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::services::OpError;
use crate::services::tokens;
use crate::services::users::{self, IssuedLink};
use crate::state::AppState;

/// Sends the email that carries a new link. On failure the link exists but is
/// known to nobody: sending again makes a new one.
pub async fn send_link(state: &AppState, issued: &IssuedLink) -> Result<(), String> {
    let org = state
        .read({
            let org = issued.org.clone();
            move |conn| Organization::find_by_id(conn, &org)
        })
        .await
        .map_err(|e| e.to_string())?
        .name;
    let mut link = state.settings.public_url.clone();
    link.set_path("/users/password");
    link.query_pairs_mut()
        .append_pair("token", issued.token.expose_secret());
    let expires = clock::fmt::timestamp(issued.expires_at);
    let email = messages::password_link(
        &issued.recipient.email,
        messages::PasswordLink {
            name: &issued.recipient.name,
            organization: &org,
            link: link.as_str(),
            expires: &expires,
            reset: issued.purpose == LinkPurpose::Reset,
            employee: matches!(issued.recipient.user, UserRef::Employee(_)),
        },
    )
    .map_err(|e| e.to_string())?;
    state.mailer.send(&email).await.map_err(|e| e.to_string())
}

/// The console action behind **Send invitation** and **Reset password**
/// (`verb`: `invitation` or `password-reset`): makes the link, emails it, and
/// goes back to `back` with how it went.
pub async fn send_link_action(
    session: &Session,
    state: &AppState,
    admin: &FullAdmin,
    user: UserRef,
    verb: &str,
    back: &str,
) -> Result<HttpResponse, AppError> {
    let purpose = match verb {
        "invitation" => LinkPurpose::Invitation,
        "password-reset" => LinkPurpose::Reset,
        _ => return Err(AppError::NotFound),
    };
    let (org, actor) = (admin.organization_id.clone(), admin.actor());
    match state
        .op(move |conn| users::issue_link(conn, &org, &actor, &user, purpose))
        .await
    {
        Ok(issued) => report_sent(session, state, &issued).await,
        Err(e @ OpError::Invalid { .. }) => page::flash(session, "error", e.to_string()),
        Err(e) => return Err(e.into()),
    }
    Ok(page::see_other(back))
}

/// Sends the link's email and tells the admin how it went, on the next page.
async fn report_sent(session: &Session, state: &AppState, issued: &IssuedLink) {
    let what = match issued.purpose {
        LinkPurpose::Invitation => "A sign-in invitation",
        LinkPurpose::Reset => "A password reset link",
    };
    match send_link(state, issued).await {
        Ok(()) => page::flash(
            session,
            "success",
            format!(
                "{what} was sent to {} ({}). It works once, for 24 hours.",
                issued.recipient.name, issued.recipient.email
            ),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "a password link email could not be sent");
            page::flash(
                session,
                "error",
                format!("{what} could not be sent: {e}. Try again: a new link replaces this one."),
            );
        }
    }
}

/// What the page's fields say.
#[derive(Debug, Default)]
struct Errors {
    password: Option<String>,
    confirm: Option<String>,
}

impl Errors {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("password", self.password.as_deref()),
            ("confirm", self.confirm.as_deref()),
        ])
    }
}

#[derive(Template)]
#[template(path = "users/password.html")]
struct PasswordPage {
    layout: Layout,
    token: String,
    name: String,
    reset: bool,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "users/password_done.html")]
struct DonePage {
    layout: Layout,
    name: String,
}

#[derive(Template)]
#[template(path = "users/link_unusable.html")]
struct UnusablePage {
    layout: Layout,
}

fn unusable(session: &Session) -> Result<HttpResponse, AppError> {
    page::render(
        StatusCode::NOT_FOUND,
        &UnusablePage {
            layout: Layout::new(session, None, Nav::None, "Link expired or used")?,
        },
    )
}

/// A link's token as it arrives: short and visible ASCII, or not worth a lookup.
fn plausible(token: &str) -> bool {
    !token.is_empty() && token.len() <= 128 && token.bytes().all(|b| b.is_ascii_graphic())
}

/// The link's query.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// `GET /users/password?token=…`: the page where a user chooses a password.
pub async fn password_form(
    session: Session,
    state: web::Data<AppState>,
    Query(query): Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    if !plausible(&query.token) {
        return unusable(&session);
    }
    let digest = users::link_digest(&query.token);
    let Some((link, recipient)) = state
        .read(move |conn| users::link_recipient(conn, &digest, clock::now()))
        .await?
    else {
        return unusable(&session);
    };
    page::ok(&PasswordPage {
        layout: Layout::new(&session, None, Nav::None, "Choose your password")?,
        token: query.token,
        name: recipient.name,
        reset: link.purpose() == LinkPurpose::Reset,
        errors: Errors::default(),
    })
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    token: Option<SecretString>,
    password: Option<SecretString>,
    confirm: Option<SecretString>,
}

/// `POST /users/password`: sets the password and uses the link up.
pub async fn set_password(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let token = form
        .token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default();
    if !plausible(&token) {
        return unusable(&session);
    }
    let digest = users::link_digest(&token);
    let found = state
        .read({
            let digest = digest.clone();
            move |conn| users::link_recipient(conn, &digest, clock::now())
        })
        .await?;
    let Some((link, recipient)) = found else {
        return unusable(&session);
    };
    let context = [recipient.email.as_str(), recipient.name.as_str()];
    let password = Password::parse_confirmed(form.password, form.confirm.as_ref(), &context);
    let password = match password {
        Ok(p) => p,
        Err(e) => {
            let (password, confirm) = e.messages();
            let errors = Errors { password, confirm };
            return page::render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &PasswordPage {
                    layout: Layout::new(&session, None, Nav::None, "Choose your password")?,
                    token,
                    name: recipient.name,
                    reset: link.purpose() == LinkPurpose::Reset,
                    errors,
                },
            );
        }
    };
    let hash = state.hasher.hash(password.expose()).await?;
    let meta = extract::actor(&req, None, "");
    let done = state
        .op(move |conn| users::set_password(conn, &digest, &hash, meta.ip, meta.user_agent))
        .await;
    match done {
        Ok(recipient) => page::ok(&DonePage {
            layout: Layout::new(&session, None, Nav::None, "Password set")?,
            name: recipient.name,
        }),
        // Used or expired while the form was open (or by a second submission).
        Err(OpError::Invalid { .. }) => unusable(&session),
        Err(e) => Err(e.into()),
    }
}

/// One live sign-in of a user, as their sessions page lists it.
#[derive(Debug)]
struct SessionRow {
    id: String,
    app: String,
    signed_in: clock::When,
    last_used: clock::When,
    address: String,
    browser: String,
}

#[derive(Template)]
#[template(path = "users/sessions.html")]
struct SessionsPage {
    layout: Layout,
    name: String,
    /// `/staff/<id>` or `/guests/<id>`: the page's own path, without `/sessions`.
    base: String,
    back: &'static str,
    back_label: &'static str,
    sessions: Vec<SessionRow>,
}

/// Where a user's pages live, and the list they belong to.
fn user_paths(user: &UserRef) -> (String, &'static str, &'static str) {
    match user {
        UserRef::Employee(id) => (format!("/staff/{id}"), "/staff", "Staff"),
        UserRef::Guest(id) => (format!("/guests/{id}"), "/guests", "Guests"),
    }
}

/// `GET /staff/{id}/sessions` and `/guests/{id}/sessions`: the user's live
/// sign-ins through the organization's apps, each with **Revoke**.
pub async fn sessions_page(
    session: &Session,
    state: &AppState,
    admin: &FullAdmin,
    user: UserRef,
) -> Result<HttpResponse, AppError> {
    let (org, who) = (admin.organization_id.clone(), user.clone());
    let (name, families, apps) = state
        .read(move |conn| {
            let name = crate::db::models::platform::user_name(conn, &org, &who)?;
            let families = TokenFamily::live_of_subject(conn, &org, &who.subject(), clock::now())?;
            let mut apps = std::collections::HashMap::new();
            for f in &families {
                if !apps.contains_key(&f.app_id)
                    && let Some(app) = App::find(conn, &org, &f.app_id)?
                {
                    apps.insert(f.app_id.clone(), app.name);
                }
            }
            Ok((name, families, apps))
        })
        .await?;
    let name = name.ok_or(AppError::NotFound)?;
    let (base, back, back_label) = user_paths(&user);
    let sessions = families
        .into_iter()
        .map(|f| SessionRow {
            app: apps.get(&f.app_id).cloned().unwrap_or_default(),
            signed_in: admin.zone.when(f.created_at),
            last_used: admin.zone.when(f.last_used_at),
            address: f.client_ip.unwrap_or_default(),
            browser: f
                .user_agent
                .map(|ua| ua.chars().take(80).collect())
                .unwrap_or_default(),
            id: f.id,
        })
        .collect();
    let nav = if back == "/staff" {
        Nav::Staff
    } else {
        Nav::Guests
    };
    page::ok(&SessionsPage {
        layout: Layout::new(session, Some(admin), nav, format!("Sign-ins of {name}"))?,
        name,
        base,
        back,
        back_label,
        sessions,
    })
}

/// `POST /staff/{id}/sessions/{session}/revoke` (and the guests'): ends one
/// sign-in; its refresh and access tokens stop working at once.
pub async fn revoke_session_action(
    session: &Session,
    state: &AppState,
    admin: &FullAdmin,
    user: UserRef,
    family: String,
) -> Result<HttpResponse, AppError> {
    if family.len() > 64 {
        return Err(AppError::NotFound);
    }
    let (org, actor, who) = (admin.organization_id.clone(), admin.actor(), user.clone());
    let ended = state
        .op(move |conn| tokens::revoke_session(conn, &org, &actor, &who, &family))
        .await?;
    page::flash(
        session,
        "success",
        if ended {
            "The sign-in was revoked: its tokens no longer work."
        } else {
            "That sign-in had ended already."
        },
    );
    let (base, _, _) = user_paths(&user);
    Ok(page::see_other(&format!("{base}/sessions")))
}
