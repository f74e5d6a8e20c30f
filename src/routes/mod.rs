//! Every route, listed in one place. Each area has its own module; a page's struct
//! sits beside its handler.

pub mod api;
pub mod apps;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod extract;
pub mod form;
pub mod health;
pub mod middleware;
pub mod page;
pub mod settings;
pub mod staff;

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
        .route("/apps/new", web::get().to(apps::wizard::new_app_form))
        .route("/apps/new", web::post().to(apps::wizard::create_draft))
        .route("/apps/{id}", web::get().to(apps::app_show))
        .route("/apps/{id}/edit", web::get().to(apps::app_edit_form))
        .route("/apps/{id}/edit", web::post().to(apps::app_update))
        .route("/apps/{id}/delete", web::post().to(apps::app_delete))
        .route(
            "/apps/{id}/{verb:activate|inactivate}",
            web::post().to(apps::app_set_active),
        )
        .route("/apps/{id}/wizard", web::get().to(apps::wizard::resume))
        .route(
            "/apps/{id}/wizard/details",
            web::get().to(apps::wizard::draft_details_form),
        )
        .route(
            "/apps/{id}/wizard/details",
            web::post().to(apps::wizard::update_draft_details),
        )
        .route(
            "/apps/{id}/wizard/scopes",
            web::get().to(apps::wizard::scopes_form),
        )
        .route(
            "/apps/{id}/wizard/scopes",
            web::post().to(apps::wizard::save_scopes),
        )
        .route(
            "/apps/{id}/wizard/secrets",
            web::get().to(apps::wizard::secrets_page),
        )
        .route(
            "/apps/{id}/wizard/secrets",
            web::post().to(apps::wizard::secrets_noted),
        )
        .route(
            "/apps/{id}/wizard/key",
            web::get().to(apps::wizard::key_form),
        )
        .route(
            "/apps/{id}/wizard/key",
            web::post().to(apps::wizard::generate_key),
        )
        .route(
            "/apps/{id}/wizard/finish",
            web::get().to(apps::wizard::finish_form),
        )
        .route(
            "/apps/{id}/wizard/finish",
            web::post().to(apps::wizard::finish),
        )
        .route(
            "/apps/{id}/keys/new",
            web::get().to(apps::keys::key_new_form),
        )
        .route("/apps/{id}/keys", web::post().to(apps::keys::key_create))
        .route(
            "/apps/{id}/keys/{key}/edit",
            web::get().to(apps::keys::key_edit_form),
        )
        .route(
            "/apps/{id}/keys/{key}/edit",
            web::post().to(apps::keys::key_update),
        )
        .route(
            "/apps/{id}/keys/{key}/delete",
            web::get().to(apps::keys::key_delete_form),
        )
        .route(
            "/apps/{id}/keys/{key}/delete",
            web::post().to(apps::keys::key_delete),
        )
        .route(
            "/apps/{id}/keys/{key}/{verb:activate|inactivate}",
            web::post().to(apps::keys::key_set_active),
        )
        .route("/settings", web::get().to(settings::settings_index))
        .route(
            "/settings/features",
            web::post().to(settings::features_update),
        )
        .route(
            "/settings/organization",
            web::post().to(settings::organization_update),
        )
        .route("/settings/policy", web::post().to(settings::policy_update))
        .route("/settings/alerts", web::post().to(settings::alerts_update))
        .route("/settings/test-email", web::post().to(settings::test_email))
        .route("/staff", web::get().to(staff::staff_index))
        .route("/staff", web::post().to(staff::staff_create))
        .route("/staff/{id}/edit", web::get().to(staff::staff_edit_form))
        .route("/staff/{id}/edit", web::post().to(staff::staff_update))
        .route(
            "/staff/{id}/{verb:left|back}",
            web::post().to(staff::staff_set_active),
        )
        .route("/audit", web::get().to(audit::audit_index))
        .route("/audit.csv", web::get().to(audit::audit_export));
}

/// Anything unmatched.
pub async fn not_found() -> Result<actix_web::HttpResponse, crate::error::AppError> {
    Err(crate::error::AppError::NotFound)
}
