//! Settings: the organization, its features and policies.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{self, CurrentAdmin, FullAdmin};
use crate::db::DbError;
use crate::db::models::Organization;
use crate::error::AppError;
use crate::routes::apps::op;
use crate::routes::form::Form;
use crate::routes::page::{self, Layout, Nav};
use crate::services;
use crate::startup::AppState;

#[derive(Template)]
#[template(path = "settings/index.html")]
struct SettingsPage {
    layout: Layout,
    org: Organization,
}

/// `GET /settings`.
pub async fn settings_index(
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> Result<HttpResponse, AppError> {
    let org_id = state.organization_id.clone();
    let org = state
        .db
        .run(move |conn| Organization::find_by_id(conn, &org_id).map_err(DbError::from))
        .await?;
    page::ok(&SettingsPage {
        layout: Layout::new(&session, Some(&admin), Nav::Settings, "Settings")?,
        org,
    })
}

/// The features form.
#[derive(Debug, Deserialize)]
pub struct FeaturesForm {
    external_connectivity: Option<String>,
}

/// `POST /settings/features` — full-access admins switch the features.
pub async fn features_update(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Form(form): Form<FeaturesForm>,
) -> Result<HttpResponse, AppError> {
    let on = form.external_connectivity.is_some();
    let (org, actor) = (
        state.organization_id.clone(),
        auth::actor(&req, Some(&admin), ""),
    );
    let changed = op(&state, move |conn| {
        services::organization::set_external_connectivity(conn, &org, &actor, on)
    })
    .await?;
    let message = match (changed, on) {
        (false, _) => "Nothing changed.",
        (true, true) => "External connectivity is on: API keys work again.",
        (true, false) => {
            "External connectivity is off: API calls are answered with 402 Payment Required."
        }
    };
    page::flash(&session, "success", message);
    Ok(page::see_other("/settings"))
}
