//! Integrations → Apps: the Manage Applications page, the wizard and each app's keys.
//! Full-access admins only.

use actix_session::Session;
use actix_web::HttpResponse;
use askama::Template;

use crate::auth::FullAdmin;
use crate::error::AppError;
use crate::routes::page::{self, Layout, Nav};

#[derive(Template)]
#[template(path = "apps/index.html")]
struct AppsPage {
    layout: Layout,
}

/// `GET /apps` — Manage Applications.
pub async fn apps_index(session: Session, admin: FullAdmin) -> Result<HttpResponse, AppError> {
    page::ok(&AppsPage {
        layout: Layout::new(&session, Some(&admin), Nav::Apps, "Manage Applications")?,
    })
}
