//! My account → API tokens: the admin's own tokens for the management API
//! (`/api/v1/manage`), each shown once when made, listed with its last use,
//! revocable.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::clock::{self, When};
use crate::db::models::admin_token::AdminTokenRow;
use crate::db::models::{Admin, Role};
use crate::domain::Name;
use crate::domain::key_token::AdminToken;
use crate::domain::manage::{ManageScope, ScopeSet};
use crate::error::AppError;
use crate::routes::extract::{CurrentAdmin, actor};
use crate::routes::form::Form;
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::services::{self, OpError};
use crate::state::AppState;

/// The session slot where a new token waits for the one view that shows it.
const REVEAL: &str = "reveal:admin-token";

/// How long a new token lives: the form's choices, in days.
const LIFETIMES: &[(i64, &str)] = &[
    (7, "7 days"),
    (30, "30 days"),
    (90, "90 days"),
    (365, "1 year"),
];

/// One of the admin's tokens, as the list shows it.
#[derive(Debug)]
struct TokenRow {
    row: AdminTokenRow,
    masked: String,
    created: When,
    expires: When,
    last_used: Option<When>,
    live: bool,
    scopes: Vec<&'static str>,
}

/// The form.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    lifetime: String,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Debug, Default)]
struct Errors {
    name: Option<String>,
    lifetime: Option<String>,
    scopes: Option<String>,
}

impl Errors {
    fn any(&self) -> bool {
        self.name.is_some() || self.lifetime.is_some() || self.scopes.is_some()
    }

    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("token-name", self.name.as_deref()),
            ("lifetime", self.lifetime.as_deref()),
            ("scopes", self.scopes.as_deref()),
        ])
    }
}

/// A scope as a checkbox.
#[derive(Debug)]
struct ScopeChoice {
    scope: ManageScope,
    checked: bool,
}

#[derive(Template)]
#[template(path = "account/tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<TokenRow>,
    form: TokenForm,
    errors: Errors,
    choices: Vec<ScopeChoice>,
    lifetimes: &'static [(i64, &'static str)],
    /// The token just made, on the one view that shows it.
    new_token: Option<SecretString>,
    api_base: String,
}

impl TokensPage {
    fn new_token(&self) -> &str {
        self.new_token.as_ref().map_or("", |t| t.expose_secret())
    }
}

async fn render(
    session: &Session,
    state: &AppState,
    admin: &CurrentAdmin,
    form: TokenForm,
    errors: Errors,
    new_token: Option<SecretString>,
) -> Result<HttpResponse, AppError> {
    let id = admin.id.clone();
    let rows = state
        .read(move |conn| AdminTokenRow::list_for_admin(conn, &id))
        .await?;
    let now = clock::now();
    let zone = admin.zone;
    let tokens = rows
        .into_iter()
        .map(|row| TokenRow {
            masked: AdminToken::mask(&row.public_id),
            created: zone.when(row.created_at),
            expires: zone.when(row.expires_at),
            last_used: row.last_used_at.map(|t| zone.when(t)),
            live: row.revoked_at.is_none() && row.expires_at > now,
            scopes: ScopeSet::from_stored(&row.scopes)
                .iter()
                .map(ManageScope::as_str)
                .collect(),
            row,
        })
        .collect();
    let full = admin.role == Role::Full;
    let choices = ManageScope::ALL
        .iter()
        .copied()
        .filter(|s| full || !s.needs_full_access())
        .map(|scope| ScopeChoice {
            scope,
            checked: form.scopes.iter().any(|n| n == scope.as_str()),
        })
        .collect();
    let status = if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page::render(
        status,
        &TokensPage {
            layout: Layout::new(session, Some(admin), Nav::Settings, "API tokens")?,
            tokens,
            form,
            errors,
            choices,
            lifetimes: LIFETIMES,
            new_token,
            api_base: state.settings.url_for("/api/v1/manage"),
        },
    )
}

/// `GET /account/tokens`.
pub async fn tokens_index(
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> Result<HttpResponse, AppError> {
    let new_token = page::take_once(&session, &state.sealing_key, REVEAL);
    let form = TokenForm {
        lifetime: "30".to_owned(),
        ..TokenForm::default()
    };
    render(&session, &state, &admin, form, Errors::default(), new_token).await
}

/// `POST /account/tokens` — makes a token; it waits sealed in the session for
/// the list page, which shows it once.
pub async fn token_create(
    req: actix_web::HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    Form(form): Form<TokenForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = Errors::default();
    let name = Name::parse(&form.name)
        .map_err(|e| errors.name = Some(e.to_string()))
        .ok();
    let days = LIFETIMES
        .iter()
        .find(|(d, _)| d.to_string() == form.lifetime)
        .map(|(d, _)| *d);
    if days.is_none() {
        errors.lifetime = Some("Choose how long the token lives.".to_owned());
    }
    let scopes = ScopeSet::parse(form.scopes.iter().map(String::as_str))
        .map_err(|e| errors.scopes = Some(e.to_string()))
        .ok();
    if let Some(scopes) = &scopes
        && let Err(e) = services::admin_tokens::check_scopes(admin.role, scopes)
    {
        errors.scopes = Some(e.to_string());
    }
    let (Some(name), Some(days), Some(scopes), false) = (name, days, scopes, errors.any()) else {
        return render(&session, &state, &admin, form, errors, None).await;
    };
    let expires_at = clock::now() + time::Duration::days(days);
    let (id, acting, digest_key) = (
        admin.id.clone(),
        actor(&req, Some(&admin), ""),
        state.digest_key.clone(),
    );
    let result = state
        .op(move |conn| {
            let admin = Admin::find_by_id(conn, &id)?.ok_or(OpError::NotFound)?;
            services::admin_tokens::create(
                conn,
                &admin,
                &acting,
                &name,
                &scopes,
                expires_at,
                &digest_key,
            )
        })
        .await;
    match result {
        Ok((_, token)) => {
            page::hold_once(&session, &state.sealing_key, REVEAL, &token.token)?;
            Ok(page::see_other("/account/tokens"))
        }
        Err(e @ OpError::Conflict { .. }) => {
            page::flash(&session, "error", e.to_string());
            Ok(page::see_other("/account/tokens"))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/tokens/{id}/revoke`.
pub async fn token_revoke(
    req: actix_web::HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token_id = path.into_inner();
    let (org, id, acting) = (
        admin.organization_id.clone(),
        admin.id.clone(),
        actor(&req, Some(&admin), ""),
    );
    state
        .op(move |conn| services::admin_tokens::revoke(conn, &org, &id, &acting, &token_id))
        .await?;
    page::flash(
        &session,
        "success",
        "The token was revoked: it no longer works.",
    );
    Ok(page::see_other("/account/tokens"))
}
