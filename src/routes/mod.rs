//! Every route, listed in one place. Each area has its own module; a page's struct
//! sits beside its handler.

pub mod account;
pub mod admins;
pub mod api;
pub mod apps;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod bookings;
pub mod csv;
pub mod extract;
pub mod form;
pub mod guests;
pub mod health;
pub mod hosted;
pub mod logs;
pub mod metrics;
pub mod middleware;
pub mod operator;
pub mod operator_tokens;
pub mod page;
pub mod second_factor;
pub mod security;
pub mod settings;
pub mod staff;
pub mod usage;
pub mod users;
pub mod webhooks;
pub mod well_known;

use actix_web::web;

use crate::error::AppError;

/// One path of the console and its handlers by method. HEAD answers wherever
/// GET does (RFC 9110 §9.3.2); any other method gets 405 with the path's
/// methods in `Allow` (§15.5.6), never a 404.
macro_rules! path {
    // A sensitive change: its POST first asks for a step-up when the admin
    // last proved who they are more than five minutes ago
    // (`second_factor::require_step_up`).
    ($cfg:expr, step_up $path:expr, $($method:ident => $handler:expr),+ $(,)?) => {{
        let resource = web::resource($path)
            .wrap(actix_web::middleware::from_fn(second_factor::require_step_up));
        path!(@build $cfg, resource, $($method => $handler),+);
    }};
    ($cfg:expr, $path:expr, $($method:ident => $handler:expr),+ $(,)?) => {{
        let resource = web::resource($path);
        path!(@build $cfg, resource, $($method => $handler),+);
    }};
    (@build $cfg:expr, $resource:ident, $($method:ident => $handler:expr),+) => {{
        let mut resource = $resource;
        let mut allow: Vec<&'static str> = Vec::new();
        $( path!(@route resource, allow, $method, $handler); )+
        let allow = allow.join(", ");
        $cfg.service(resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { Err::<actix_web::HttpResponse, _>(AppError::MethodNotAllowed(allow)) }
        })));
    }};
    (@route $resource:ident, $allow:ident, GET, $handler:expr) => {
        $resource = $resource
            .route(web::get().to($handler))
            .route(web::head().to($handler));
        $allow.extend(["GET", "HEAD"]);
    };
    (@route $resource:ident, $allow:ident, POST, $handler:expr) => {
        $resource = $resource.route(web::post().to($handler));
        $allow.push("POST");
    };
}

/// Routes outside the console: health checks and static files. No session.
pub fn public(cfg: &mut web::ServiceConfig) {
    path!(cfg, "/healthz", GET => health::healthz);
    path!(cfg, "/readyz", GET => health::readyz);
    path!(cfg, "/.well-known/jwks.json", GET => well_known::jwks);
    path!(cfg, "/.well-known/openid-configuration", GET => well_known::openid_configuration);
    path!(cfg, "/.well-known/oauth-authorization-server", GET => well_known::openid_configuration);
    path!(cfg, "/o/{slug}/.well-known/openid-configuration", GET => well_known::organization_configuration);
    path!(cfg, "/.well-known/oauth-authorization-server/o/{slug}", GET => well_known::organization_configuration);
    path!(cfg, "/o/{slug}/.well-known/jwks.json", GET => well_known::organization_jwks);
    path!(cfg, "/oauth/userinfo", GET => hosted::userinfo, POST => hosted::userinfo);
    // RP-Initiated Logout §2: a POST from the app's site, which the console's
    // guard would refuse as cross-site, is answered as the same GET. Only
    // POST matches here; a GET goes on to the console's route.
    cfg.service(
        web::resource("/oauth/logout")
            .guard(actix_web::guard::Post())
            .route(web::post().to(hosted::logout_post)),
    );
    path!(cfg, "/static/{path:.*}", GET => assets::serve);
}

/// The console: pages behind the session and the request guard.
pub fn console(cfg: &mut web::ServiceConfig) {
    path!(cfg, "/", GET => auth::home);
    path!(cfg, "/login", GET => auth::login_form, POST => auth::login);
    path!(cfg, "/logout", POST => auth::logout);
    path!(cfg, "/login/verify", GET => second_factor::verify_form, POST => second_factor::verify);
    path!(cfg, "/login/verify/passkey", POST => second_factor::sign_in_passkey_options);
    path!(cfg, "/login/forgot", GET => admins::forgot_form, POST => admins::forgot);
    path!(cfg, "/login/reset", GET => admins::reset_form, POST => admins::reset);
    path!(cfg, "/admins/invitation", GET => admins::invitation_form, POST => admins::invitation_accept);
    path!(cfg, step_up "/admins", GET => admins::admins_index, POST => admins::admin_invite);
    path!(cfg, step_up "/admins/{id}/role", POST => admins::admin_role);
    path!(cfg, step_up "/admins/{id}/{verb:disable|enable}", POST => admins::admin_set_disabled);
    path!(cfg, step_up "/admins/{id}/remove", POST => admins::admin_remove);
    path!(cfg, step_up "/admins/invitations/{id}/withdraw", POST => admins::invitation_withdraw);
    path!(cfg, "/account", GET => security::account_index);
    path!(cfg, "/account/password", POST => security::password_change);
    path!(cfg, "/account/sessions/{id}/end", POST => security::session_end);
    path!(cfg, "/account/step-up/passkey", POST => second_factor::step_up_passkey_options);
    path!(cfg, "/account/security", GET => security::security_index);
    path!(cfg, "/account/security/totp", POST => security::totp_begin);
    path!(cfg, step_up "/account/security/totp/confirm", POST => security::totp_confirm);
    path!(cfg, step_up "/account/security/totp/remove", POST => security::totp_remove);
    path!(cfg, step_up "/account/security/recovery-codes", POST => security::recovery_codes_new);
    path!(cfg, "/account/security/passkeys/options", POST => security::passkey_options);
    path!(cfg, step_up "/account/security/passkeys", POST => security::passkey_add);
    path!(cfg, step_up "/account/security/passkeys/{id}/remove", POST => security::passkey_remove);
    path!(cfg, "/setup", GET => auth::setup_form, POST => auth::setup);
    path!(cfg, "/users/password", GET => users::password_form, POST => users::set_password);
    path!(cfg, "/oauth/authorize", GET => hosted::authorize_form, POST => hosted::authorize);
    path!(cfg, "/oauth/forgot", GET => hosted::forgot_form, POST => hosted::forgot);
    path!(cfg, "/oauth/logout", GET => hosted::logout);
    path!(cfg, "/oauth/logout/confirm", POST => hosted::logout_confirmed);
    path!(cfg, "/apps", GET => apps::apps_index);
    path!(cfg, "/apps/new", GET => apps::wizard::new_app_form, POST => apps::wizard::create_draft);
    path!(cfg, "/apps/{id}", GET => apps::app_show);
    path!(cfg, "/apps/{id}/edit", GET => apps::app_edit_form, POST => apps::app_update);
    path!(cfg, step_up "/apps/{id}/delete", POST => apps::app_delete);
    path!(cfg, "/apps/{id}/{verb:activate|inactivate}", POST => apps::app_set_active);
    path!(cfg, "/apps/{id}/wizard", GET => apps::wizard::resume);
    path!(cfg, "/apps/{id}/wizard/details", GET => apps::wizard::draft_details_form, POST => apps::wizard::update_draft_details);
    path!(cfg, "/apps/{id}/wizard/scopes", GET => apps::wizard::scopes_form, POST => apps::wizard::save_scopes);
    path!(cfg, "/apps/{id}/wizard/secrets", GET => apps::wizard::secrets_page, POST => apps::wizard::secrets_noted);
    path!(cfg, step_up "/apps/{id}/wizard/secrets/new", GET => apps::wizard::secrets_restart_form, POST => apps::wizard::secrets_restart);
    path!(cfg, "/apps/{id}/wizard/key", GET => apps::wizard::key_form, POST => apps::wizard::generate_key);
    path!(cfg, "/apps/{id}/wizard/finish", GET => apps::wizard::finish_form, POST => apps::wizard::finish);
    path!(cfg, "/apps/{id}/keys/new", GET => apps::keys::key_new_form);
    path!(cfg, "/apps/{id}/keys", POST => apps::keys::key_create);
    path!(cfg, "/apps/{id}/keys/{key}", GET => apps::keys::key_show);
    path!(cfg, "/apps/{id}/keys/{key}/created", GET => apps::keys::key_created);
    path!(cfg, "/apps/{id}/keys/{key}/edit", GET => apps::keys::key_edit_form, POST => apps::keys::key_update);
    path!(cfg, step_up "/apps/{id}/keys/{key}/roll", GET => apps::keys::key_roll_form, POST => apps::keys::key_roll);
    path!(cfg, step_up "/apps/{id}/keys/{key}/delete", GET => apps::keys::key_delete_form, POST => apps::keys::key_delete);
    path!(cfg, "/apps/{id}/keys/{key}/{verb:activate|inactivate}", POST => apps::keys::key_set_active);
    path!(cfg, "/settings", GET => settings::settings_index);
    path!(cfg, "/operator", GET => operator::organizations);
    path!(cfg, "/operator/organizations", GET => operator::organizations, POST => operator::create);
    path!(cfg, "/operator/organizations/new", GET => operator::new_form);
    path!(cfg, "/operator/organizations/{id}", GET => operator::show);
    path!(cfg, "/operator/organizations/{id}/features", POST => operator::features_update);
    path!(cfg, "/operator/organizations/{id}/{verb:suspend|resume}", POST => operator::suspension);
    path!(cfg, "/operator/audit", GET => operator::audit);
    path!(cfg, "/operator/tokens", GET => operator_tokens::index, POST => operator_tokens::create);
    path!(cfg, "/operator/tokens/{id}/revoke", POST => operator_tokens::revoke);
    path!(cfg, step_up "/settings/security", POST => settings::security_update);
    path!(cfg, "/settings/organization", POST => settings::organization_update);
    path!(cfg, step_up "/settings/policy", POST => settings::policy_update);
    path!(cfg, step_up "/settings/alerts", POST => settings::alerts_update);
    path!(cfg, "/settings/usage", POST => settings::usage_update);
    path!(cfg, "/settings/test-email", POST => settings::test_email);
    path!(cfg, "/settings/signing-key", POST => settings::signing_key_rotate);
    path!(cfg, "/settings/tokens", POST => settings::tokens_update);
    path!(cfg, step_up "/account/tokens", GET => account::tokens_index, POST => account::token_create);
    path!(cfg, "/account/tokens/{id}/revoke", POST => account::token_revoke);
    path!(cfg, step_up "/settings/webhooks", GET => webhooks::webhooks_index, POST => webhooks::webhook_create);
    path!(cfg, "/settings/webhooks/new", GET => webhooks::webhook_new_form);
    path!(cfg, "/settings/webhooks/{id}", GET => webhooks::webhook_show);
    path!(cfg, step_up "/settings/webhooks/{id}/edit", GET => webhooks::webhook_edit_form, POST => webhooks::webhook_update);
    path!(cfg, step_up "/settings/webhooks/{id}/delete", GET => webhooks::webhook_delete_form, POST => webhooks::webhook_delete);
    path!(cfg, step_up "/settings/webhooks/{id}/roll", GET => webhooks::webhook_roll_form, POST => webhooks::webhook_roll);
    path!(cfg, "/settings/webhooks/{id}/test", POST => webhooks::webhook_test);
    path!(cfg, "/settings/webhooks/{id}/deliveries/{delivery}/resend", POST => webhooks::webhook_resend);
    path!(cfg, "/guests", GET => guests::guests_index);
    path!(cfg, "/bookings", GET => bookings::bookings_index);
    path!(cfg, "/guests/{id}/{verb:invitation|password-reset}", POST => guests::guest_send_link);
    path!(cfg, "/guests/{id}/{verb:block|unblock}", POST => guests::guest_set_blocked);
    path!(cfg, "/guests/{id}/sessions", GET => guests::guest_sessions);
    path!(cfg, "/guests/{id}/sessions/{session}/revoke", POST => guests::guest_session_revoke);
    path!(cfg, "/staff", GET => staff::staff_index, POST => staff::staff_create);
    path!(cfg, "/staff/{id}/edit", GET => staff::staff_edit_form, POST => staff::staff_update);
    path!(cfg, "/staff/{id}/{verb:left|back}", POST => staff::staff_set_active);
    path!(cfg, "/staff/{id}/{verb:invitation|password-reset}", POST => staff::staff_send_link);
    path!(cfg, "/staff/{id}/sessions", GET => staff::staff_sessions);
    path!(cfg, "/staff/{id}/sessions/{session}/revoke", POST => staff::staff_session_revoke);
    path!(cfg, "/usage", GET => usage::usage_index);
    path!(cfg, "/logs", GET => logs::logs_index);
    path!(cfg, "/logs.csv", GET => logs::logs_export);
    path!(cfg, "/audit", GET => audit::audit_index);
    path!(cfg, "/audit.csv", GET => audit::audit_export);
}

/// Anything unmatched (a TRACE anywhere is 405: no path takes it).
pub async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, AppError> {
    if req.method() == actix_web::http::Method::TRACE {
        return Err(AppError::MethodNotAllowed(String::new()));
    }
    Err(AppError::NotFound)
}
