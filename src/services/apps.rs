//! Apps: the wizard's steps and later changes, each audited.

use serde_json::json;

use super::{Diff, OpError, audit};
use crate::clock;
use crate::db::DbConn;
use crate::db::models::token::TokenFamily;
use crate::db::models::{
    Action, Actor, ApiKey, App, AppDetails, AppStatus, Organization, Target, WizardStep,
};
use crate::domain::scopes::PermissionSet;
use crate::domain::{AppId, OrgId};

/// The app, or `NotFound`.
pub fn load(conn: &mut DbConn, organization_id: &OrgId, app_id: &AppId) -> Result<App, OpError> {
    App::find(conn, organization_id, app_id)?.ok_or(OpError::NotFound)
}

fn details_diff(app: &App, d: &AppDetails) -> Diff {
    let urls = |v: &[crate::domain::RedirectUrl]| {
        v.iter().map(|u| u.as_str().to_owned()).collect::<Vec<_>>()
    };
    Diff::default()
        .field("name", app.name.as_str(), d.name.as_str())
        .field("uri", app.uri.as_str(), d.uri.as_str())
        .field(
            "description",
            app.description.as_str(),
            d.description.as_str(),
        )
        .field(
            "login_user_type",
            app.login_user_type.as_str(),
            d.login_user_type.as_str(),
        )
        .field("source_app", app.source_app.as_str(), d.source_app.as_str())
        .field(
            "post_login_redirect_urls",
            app.post_login_urls(),
            urls(&d.post_login),
        )
        .field(
            "post_logout_redirect_urls",
            app.post_logout_urls(),
            urls(&d.post_logout),
        )
}

/// Step 1: creates the draft. A form submitted twice (same nonce) gives the first
/// draft back instead of a second one.
/// The organization has room for one more app under its subscription's
/// limit. Takes the organization's row, so two new apps at once are counted
/// one after the other.
pub fn check_app_room(conn: &mut DbConn, organization_id: &OrgId) -> Result<(), OpError> {
    Organization::lock(conn, organization_id)?;
    let org = Organization::find_by_id(conn, organization_id)?;
    match org.max_apps {
        Some(max) if App::count_for_org(conn, organization_id)? >= i64::from(max) => {
            Err(OpError::AppLimit(max))
        }
        _ => Ok(()),
    }
}

pub fn create_draft(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    details: &AppDetails,
    nonce: &str,
) -> Result<AppId, OpError> {
    if let Some(existing) = App::find_by_nonce(conn, nonce)? {
        return Err(OpError::AlreadySubmitted(existing.id.to_string()));
    }
    check_app_room(conn, organization_id)?;
    if App::name_taken(conn, organization_id, &details.name.key(), None)? {
        return Err(OpError::NameTaken);
    }
    let id = App::insert_draft(
        conn,
        organization_id,
        details,
        Some(nonce),
        actor.id.as_ref(),
        clock::now(),
    )?;
    let app = load(conn, organization_id, &id)?;
    let urls = |v: &[crate::domain::RedirectUrl]| {
        v.iter().map(|u| u.as_str().to_owned()).collect::<Vec<_>>()
    };
    audit(
        conn,
        organization_id,
        actor,
        Action::AppCreated,
        Target::app(&app),
        json!({
            "name": details.name.as_str(),
            "uri": details.uri.as_str(),
            "description": details.description.as_str(),
            "login_user_type": details.login_user_type.as_str(),
            "source_app": details.source_app.as_str(),
            "post_login_redirect_urls": urls(&details.post_login),
            "post_logout_redirect_urls": urls(&details.post_logout),
            "status": "draft",
        }),
    )?;
    Ok(id)
}

/// Changes an app's details (a draft from the wizard, or a finished app).
pub fn update_details(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    details: &AppDetails,
) -> Result<(), OpError> {
    let app = load(conn, organization_id, app_id)?;
    if App::name_taken(conn, organization_id, &details.name.key(), Some(app_id))? {
        return Err(OpError::NameTaken);
    }
    let diff = details_diff(&app, details);
    if diff.is_empty() {
        return Ok(());
    }
    App::update_details(conn, app_id, details, clock::now())?;
    let app = load(conn, organization_id, app_id)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::AppChanged,
        Target::app(&app),
        diff.into_value(),
    )
}

/// An app is granted at least one permission, in either family.
pub fn check_scopes(apikey: &PermissionSet, jwt: &PermissionSet) -> Result<(), OpError> {
    if apikey.is_empty() && jwt.is_empty() {
        return Err(OpError::invalid(
            "scopes_required",
            "scopes",
            "Select at least one permission, in APIKEY GROUPS or JWT GROUPS.",
        ));
    }
    Ok(())
}

/// Sets an app's scopes. Narrowing the APIKEY GROUPS narrows every key of the app
/// to match, each key change audited.
pub fn update_scopes(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    apikey: &PermissionSet,
    jwt: &PermissionSet,
) -> Result<(), OpError> {
    check_scopes(apikey, jwt)?;
    App::lock(conn, app_id)?;
    let app = load(conn, organization_id, app_id)?;
    let diff = Diff::default()
        .field(
            "apikey_scopes",
            app.apikey_permissions().strings(),
            apikey.strings(),
        )
        .field("jwt_scopes", app.jwt_permissions().strings(), jwt.strings());
    if diff.is_empty() {
        return Ok(());
    }
    let now = clock::now();
    App::update_scopes(conn, app_id, apikey, jwt, now)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::AppChanged,
        Target::app(&app),
        diff.into_value(),
    )?;
    for key in ApiKey::list_for_app(conn, app_id)? {
        let before = key.permission_set();
        let after = before.intersection(apikey);
        if after != before {
            ApiKey::set_permissions(conn, &key.id, &after, now)?;
            audit(
                conn,
                organization_id,
                actor,
                Action::KeyEdited,
                Target::key(&app, &key),
                json!({
                    "permissions": { "from": before.strings(), "to": after.strings() },
                    "reason": "the app's scopes were narrowed",
                }),
            )?;
        }
    }
    Ok(())
}

/// Refuses a wizard POST that does not belong to the draft's current step.
fn expect_step(app: &App, step: WizardStep, message: &str) -> Result<(), OpError> {
    if app.status() == AppStatus::Draft && app.wizard_step() == step {
        Ok(())
    } else {
        Err(OpError::WrongStep(message.to_owned()))
    }
}

/// Step 2's Next: the scopes are saved; on to the secrets.
pub fn wizard_scopes(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    apikey: &PermissionSet,
    jwt: &PermissionSet,
) -> Result<(), OpError> {
    wizard_scopes_kept(conn, organization_id, actor, app_id, apikey, jwt)?;
    App::set_wizard_step(conn, app_id, WizardStep::Secrets, clock::now())?;
    Ok(())
}

/// Step 2's Back: the scopes ticked are saved, and the wizard stays where it
/// is (the admin is going back to Details, not on).
pub fn wizard_scopes_kept(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    apikey: &PermissionSet,
    jwt: &PermissionSet,
) -> Result<(), OpError> {
    let app = load(conn, organization_id, app_id)?;
    if app.status() != AppStatus::Draft || app.wizard_step() > WizardStep::Key {
        return Err(OpError::WrongStep(
            "This app's setup is past the Scopes step.".to_owned(),
        ));
    }
    update_scopes(conn, organization_id, actor, app_id, apikey, jwt)
}

/// Step 3 shown: a new secret replaces any earlier one, which stops working.
pub fn wizard_new_secret(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    secret_hash: &str,
) -> Result<(), OpError> {
    let app = load(conn, organization_id, app_id)?;
    if app.status() != AppStatus::Draft
        || !matches!(app.wizard_step(), WizardStep::Secrets | WizardStep::Key)
    {
        return Err(OpError::WrongStep(
            "Choose the app's scopes first.".to_owned(),
        ));
    }
    let now = clock::now();
    App::set_secret(conn, app_id, secret_hash, now)?;
    App::set_wizard_step(conn, app_id, WizardStep::Secrets, now)?;
    let replaced = app.secret_hash.is_some();
    audit(
        conn,
        organization_id,
        actor,
        Action::SecretGenerated,
        Target::app(&app),
        json!({ "replaced_previous": replaced }),
    )
}

/// Step 3's Next: the admin has noted the secret; on to the key.
pub fn wizard_secrets_noted(
    conn: &mut DbConn,
    organization_id: &OrgId,
    app_id: &AppId,
) -> Result<(), OpError> {
    let app = load(conn, organization_id, app_id)?;
    expect_step(
        &app,
        WizardStep::Secrets,
        "Open the Secrets step first: the secret is generated there.",
    )?;
    if app.secret_hash.is_none() {
        return Err(OpError::WrongStep(
            "Open the Secrets step first: the secret is generated there.".to_owned(),
        ));
    }
    App::set_wizard_step(conn, app_id, WizardStep::Key, clock::now())?;
    Ok(())
}

/// Step 4 done (with or without a key): on to Finish.
pub fn wizard_key_done(
    conn: &mut DbConn,
    organization_id: &OrgId,
    app_id: &AppId,
) -> Result<App, OpError> {
    let app = load(conn, organization_id, app_id)?;
    expect_step(&app, WizardStep::Key, "Complete the Secrets step first.")?;
    App::set_wizard_step(conn, app_id, WizardStep::Finish, clock::now())?;
    Ok(app)
}

/// Step 5: the app becomes active. Submitting Finish twice is harmless.
pub fn wizard_finish(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
) -> Result<(), OpError> {
    let app = load(conn, organization_id, app_id)?;
    if app.status() != AppStatus::Draft && app.wizard_step() == WizardStep::Done {
        return Ok(());
    }
    expect_step(&app, WizardStep::Finish, "Generate the API key step first.")?;
    let now = clock::now();
    App::set_status(conn, app_id, AppStatus::Active, now)?;
    App::set_wizard_step(conn, app_id, WizardStep::Done, now)?;
    // The record (and its webhook event) describes the app as it now is.
    let app = load(conn, organization_id, app_id)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::AppActivated,
        Target::app(&app),
        json!({ "status": { "from": "draft", "to": "active" } }),
    )
}

/// Activates or inactivates a finished app; inactive, none of its keys work.
pub fn set_active(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    active: bool,
) -> Result<(), OpError> {
    let app = load(conn, organization_id, app_id)?;
    let (from, to, action) = match (app.status(), active) {
        (AppStatus::Draft, _) => {
            return Err(OpError::WrongStep(
                "Finish the app's setup first.".to_owned(),
            ));
        }
        (AppStatus::Active, true) | (AppStatus::Inactive, false) => return Ok(()),
        (AppStatus::Inactive, true) => {
            (AppStatus::Inactive, AppStatus::Active, Action::AppActivated)
        }
        (AppStatus::Active, false) => (
            AppStatus::Active,
            AppStatus::Inactive,
            Action::AppInactivated,
        ),
    };
    let now = clock::now();
    App::set_status(conn, app_id, to, now)?;
    // Inactivating an app ends its users' sign-ins for good: activated again,
    // its keys work again, and its users sign in again.
    let ended = if to == AppStatus::Inactive {
        TokenFamily::revoke_app(conn, app_id, "app_inactivated", now)?
    } else {
        0
    };
    let app = load(conn, organization_id, app_id)?;
    audit(
        conn,
        organization_id,
        actor,
        action,
        Target::app(&app),
        json!({ "status": { "from": from.as_str(), "to": to.as_str() }, "sessions_ended": ended }),
    )
}

/// Deletes an app (or abandons a draft), only when it has no keys.
pub fn delete(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
) -> Result<App, OpError> {
    App::lock(conn, app_id)?;
    let app = load(conn, organization_id, app_id)?;
    if ApiKey::count_for_app(conn, app_id)? > 0 {
        return Err(OpError::AppHasKeys);
    }
    TokenFamily::delete_of_app(conn, app_id)?;
    App::delete(conn, app_id)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::AppDeleted,
        Target::app(&app),
        json!({ "name": app.name, "status": app.status }),
    )?;
    Ok(app)
}
