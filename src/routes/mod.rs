//! Every route, listed in one place. Each area has its own module; a page's struct
//! sits beside its handler.

pub mod apps;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod fmt;
pub mod form;
pub mod health;
pub mod page;
pub mod settings;

use actix_web::web;

/// Routes outside the console: health checks and static files. No session.
pub fn public(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/static/{path:.*}", web::get().to(assets::serve));
}

/// The console: pages behind the session and the request guard.
pub fn console(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(auth::home))
        .route("/login", web::get().to(auth::login_form))
        .route("/login", web::post().to(auth::login))
        .route("/logout", web::post().to(auth::logout))
        .route("/setup", web::get().to(auth::setup_form))
        .route("/setup", web::post().to(auth::setup))
        .route("/apps", web::get().to(apps::apps_index))
        .route("/settings", web::get().to(settings::settings_index))
        .route("/audit", web::get().to(audit::audit_index));
}

/// Anything unmatched.
pub async fn not_found() -> Result<actix_web::HttpResponse, crate::error::AppError> {
    Err(crate::error::AppError::NotFound)
}
