//! The operator's API tokens (`/operator/tokens`): each lets a script use the
//! operator API (`/api/v1/operator`) as the operator who made it, read-only or
//! read-write; shown once when made, listed with its last use, revocable.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::extract::CurrentOperator;
use super::form::Form;
use super::page::{self, Layout, Nav, Problem};
use crate::clock::{self, When, Zone};
use crate::db::models::operator::OperatorTokenRow;
use crate::domain::Name;
use crate::domain::key_token::OperatorToken;
use crate::error::AppError;
use crate::services::{self, OpError};
use crate::state::AppState;

/// The session slot where a new token waits for the one view that shows it.
const REVEAL: &str = "reveal:operator-token";

/// How long a new token lives: the form's choices, in days.
const LIFETIMES: &[(i64, &str)] = &[
    (7, "7 days"),
    (30, "30 days"),
    (90, "90 days"),
    (365, "1 year"),
];

/// What a new token may do: the form's choices.
const ACCESS: &[(&str, &str)] = &[
    ("read", "Read organizations"),
    (
        "write",
        "Read and change organizations: create, subscription, suspend and resume",
    ),
];

/// One token, as the list shows it.
struct TokenRow {
    row: OperatorTokenRow,
    masked: String,
    created: When,
    expires: When,
    last_used: Option<When>,
    live: bool,
}

/// The form, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    lifetime: String,
    #[serde(default)]
    access: String,
}

#[derive(Debug, Default)]
struct Errors {
    name: Option<String>,
    lifetime: Option<String>,
    access: Option<String>,
}

impl Errors {
    fn any(&self) -> bool {
        self.name.is_some() || self.lifetime.is_some() || self.access.is_some()
    }

    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("token-name", self.name.as_deref()),
            ("lifetime", self.lifetime.as_deref()),
            ("access-read", self.access.as_deref()),
        ])
    }
}

#[derive(Template)]
#[template(path = "operator/tokens.html")]
struct TokensPage {
    layout: Layout,
    operator: CurrentOperator,
    tokens: Vec<TokenRow>,
    form: TokenForm,
    errors: Errors,
    lifetimes: &'static [(i64, &'static str)],
    access: &'static [(&'static str, &'static str)],
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
    operator: CurrentOperator,
    form: TokenForm,
    errors: Errors,
    new_token: Option<SecretString>,
) -> Result<HttpResponse, AppError> {
    let id = operator.id.clone();
    let rows = state
        .read(move |conn| OperatorTokenRow::list_for_operator(conn, &id))
        .await?;
    let now = clock::now();
    let zone = Zone::UTC;
    let tokens = rows
        .into_iter()
        .map(|row| TokenRow {
            masked: OperatorToken::mask(&row.public_id),
            created: zone.when(row.created_at),
            expires: zone.when(row.expires_at),
            last_used: row.last_used_at.map(|t| zone.when(t)),
            live: row.revoked_at.is_none() && row.expires_at > now,
            row,
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
            layout: Layout::new(session, None, Nav::None, "Operator API tokens")?,
            operator,
            tokens,
            form,
            errors,
            lifetimes: LIFETIMES,
            access: ACCESS,
            new_token,
            api_base: state.settings.url_for("/api/v1/operator"),
        },
    )
}

/// `GET /operator/tokens`.
pub async fn index(
    session: Session,
    state: web::Data<AppState>,
    operator: CurrentOperator,
) -> Result<HttpResponse, AppError> {
    let new_token = page::take_once(&session, &state.sealing_key, REVEAL);
    let form = TokenForm {
        lifetime: "30".to_owned(),
        access: "read".to_owned(),
        ..TokenForm::default()
    };
    render(
        &session,
        &state,
        operator,
        form,
        Errors::default(),
        new_token,
    )
    .await
}

/// `POST /operator/tokens`: makes a token; it waits sealed in the session for
/// the list page, which shows it once.
pub async fn create(
    session: Session,
    state: web::Data<AppState>,
    operator: CurrentOperator,
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
    let can_write = match form.access.as_str() {
        "read" => Some(false),
        "write" => Some(true),
        _ => {
            errors.access = Some("Choose what the token may do.".to_owned());
            None
        }
    };
    let (Some(name), Some(days), Some(can_write), false) = (name, days, can_write, errors.any())
    else {
        return render(&session, &state, operator, form, errors, None).await;
    };
    let expires_at = clock::now() + time::Duration::days(days);
    let (id, actor, digest_key) = (
        operator.id.clone(),
        operator.actor.clone(),
        state.digest_key.clone(),
    );
    let made = state
        .op(move |conn| {
            services::operator_tokens::create(
                conn,
                &id,
                &actor,
                &name,
                can_write,
                expires_at,
                &digest_key,
            )
        })
        .await;
    match made {
        Ok((_, token)) => {
            page::hold_once(&session, &state.sealing_key, REVEAL, &token.token)?;
            Ok(page::see_other("/operator/tokens"))
        }
        Err(e @ OpError::Conflict { .. }) => {
            page::flash(&session, "error", e.to_string());
            Ok(page::see_other("/operator/tokens"))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /operator/tokens/{id}/revoke`.
pub async fn revoke(
    session: Session,
    state: web::Data<AppState>,
    operator: CurrentOperator,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token_id = path.into_inner();
    let (id, actor) = (operator.id.clone(), operator.actor.clone());
    state
        .op(move |conn| services::operator_tokens::revoke(conn, &id, &actor, &token_id))
        .await?;
    page::flash(
        &session,
        "success",
        "The token was revoked: it no longer works.",
    );
    Ok(page::see_other("/operator/tokens"))
}
