//! Settings: the organization, its features and policies.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::CurrentAdmin;
use crate::db::DbError;
use crate::db::models::Organization;
use crate::error::AppError;
use crate::routes::page::{self, Layout, Nav};
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
