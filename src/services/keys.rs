//! API keys: creation (the only time the token exists in clear), edits, the Active
//! switch and deletion, each audited. The token is never part of an audit record.

use secrecy::SecretString;
use serde_json::json;

use super::{Diff, OpError, audit};
use crate::clock::fmt;
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::{
    Action, Actor, ApiKey, ApiKeyChanges, App, KeyStatus, MAX_KEYS_PER_APP, NewApiKey,
    Organization, Target,
};
use crate::domain::key_token::ParsedKey;
use crate::domain::scopes::PermissionSet;
use crate::domain::{AppId, KeyId, OrgId};
use crate::domain::{Description, Name};
use crate::secrets::DigestKey;

/// A key's editable fields, validated.
#[derive(Debug, Clone)]
pub struct KeyFields {
    pub name: Name,
    pub description: Description,
    /// Expiry; `None` is never.
    pub expires_at: Option<Timestamp>,
    pub active: bool,
    /// Permissions, a subset of the app's APIKEY GROUPS.
    pub permissions: PermissionSet,
}

fn expiry_text(t: Option<Timestamp>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| fmt::iso(t).into())
}

/// A key holds at least one permission, all of them among its app's APIKEY GROUPS.
pub fn check_permissions(app: &App, permissions: &PermissionSet) -> Result<(), OpError> {
    if permissions.is_empty() {
        return Err(OpError::invalid(
            "permissions_required",
            "permissions",
            "Select at least one permission.",
        ));
    }
    if !permissions.is_subset(&app.apikey_permissions()) {
        return Err(OpError::invalid(
            "permission_outside_scopes",
            "permissions",
            "Choose among the app's APIKEY GROUPS permissions.",
        ));
    }
    Ok(())
}

/// A new expiry is in the future, and within the key policy's maximum lifetime.
pub fn check_expiry(
    org: &Organization,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), OpError> {
    if expires_at.is_some_and(|t| t <= now) {
        return Err(OpError::invalid(
            "expiry_in_past",
            "expires_at",
            "Choose a time in the future, or leave it empty for Never.",
        ));
    }
    if let Some(max) = org.key_max_lifetime_days {
        let limit = now + time::Duration::days(i64::from(max));
        match expires_at {
            None => {
                return Err(OpError::invalid(
                    "expiry_required",
                    "expires_at",
                    format!("Keys may live at most {max} days: choose an expiry."),
                ));
            }
            Some(t) if t > limit => {
                return Err(OpError::invalid(
                    "expiry_beyond_policy",
                    "expires_at",
                    format!(
                        "Keys may live at most {max} days: choose an expiry before {}.",
                        fmt::timestamp(limit)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// An app with `count` keys has room for one more.
pub fn check_room(count: i64) -> Result<(), OpError> {
    if count >= MAX_KEYS_PER_APP {
        Err(OpError::KeyLimit)
    } else {
        Ok(())
    }
}

/// Only an inactive key can be deleted.
pub fn check_deletable(key: &ApiKey, now: Timestamp) -> Result<(), OpError> {
    // An expired key is out of service already: nothing to switch off first.
    if key.status(now) == KeyStatus::Active {
        Err(OpError::KeyActive)
    } else {
        Ok(())
    }
}

/// Checks a key's fields against its app and the key policy. `expiry_is_new` is
/// false when an edit keeps the expiry: a time that passed since, or a policy
/// set after the key was made, does not refuse the rest of the edit.
fn check_fields(
    app: &App,
    org: &Organization,
    fields: &KeyFields,
    now: Timestamp,
    expiry_is_new: bool,
) -> Result<(), OpError> {
    check_permissions(app, &fields.permissions)?;
    if expiry_is_new {
        check_expiry(org, fields.expires_at, now)?;
    }
    Ok(())
}

/// The expiry a new key gets by default: the policy's default lifetime, else its
/// maximum, else never.
pub fn default_expiry(org: &Organization, now: Timestamp) -> Option<Timestamp> {
    org.key_default_lifetime_days
        .or(org.key_max_lifetime_days)
        .map(|days| now + time::Duration::days(i64::from(days)))
}

/// Creates a key and returns it with its token, which exists only in this return
/// value: the database keeps a keyed digest. A form submitted twice (same nonce)
/// is refused, so a reload cannot make a second key.
pub fn create(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    fields: &KeyFields,
    nonce: Option<&str>,
    digest_key: &DigestKey,
) -> Result<(ApiKey, SecretString), OpError> {
    App::lock(conn, app_id)?;
    let app = super::apps::load(conn, organization_id, app_id)?;
    if let Some(nonce) = nonce
        && let Some(existing) = ApiKey::find_by_nonce(conn, nonce)?
    {
        return Err(OpError::AlreadySubmitted(existing.id.to_string()));
    }
    let now = clock::now();
    let org = Organization::find_by_id(conn, organization_id)?;
    check_fields(&app, &org, fields, now, true)?;
    check_room(ApiKey::count_for_app(conn, app_id)?)?;
    let new = ParsedKey::generate();
    let id = KeyId::generate();
    let permissions = fields.permissions.to_stored();
    ApiKey::insert(
        conn,
        &NewApiKey {
            id: &id,
            app_id,
            organization_id,
            public_id: new.parsed.public_id(),
            secret_digest: &digest_key.digest(new.parsed.secret()),
            last_four: new.parsed.last_four(),
            name: fields.name.as_str(),
            description: fields.description.as_str(),
            permissions: &permissions,
            active: fields.active,
            expires_at: fields.expires_at,
            creation_nonce: nonce,
            created_by: actor.id.as_ref(),
            created_at: now,
            updated_at: now,
        },
    )?;
    let key = ApiKey::find(conn, app_id, &id)?.ok_or(OpError::NotFound)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::KeyCreated,
        Target::key(&app, &key),
        json!({
            "name": key.name,
            "description": key.description,
            "key": key.masked(),
            "permissions": fields.permissions.strings(),
            "expires_at": expiry_text(key.expires_at),
            "active": key.active,
        }),
    )?;
    Ok((key, new.token))
}

/// The key, or `NotFound`.
pub fn load(conn: &mut DbConn, app_id: &AppId, key_id: &KeyId) -> Result<ApiKey, OpError> {
    ApiKey::find(conn, app_id, key_id)?.ok_or(OpError::NotFound)
}

/// Edits everything but the token.
pub fn edit(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    key_id: &KeyId,
    fields: &KeyFields,
) -> Result<(), OpError> {
    App::lock(conn, app_id)?;
    let app = super::apps::load(conn, organization_id, app_id)?;
    let key = load(conn, app_id, key_id)?;
    let now = clock::now();
    let org = Organization::find_by_id(conn, organization_id)?;
    check_fields(&app, &org, fields, now, fields.expires_at != key.expires_at)?;
    let diff = Diff::default()
        .field("name", key.name.as_str(), fields.name.as_str())
        .field(
            "description",
            key.description.as_str(),
            fields.description.as_str(),
        )
        .field(
            "expires_at",
            expiry_text(key.expires_at),
            expiry_text(fields.expires_at),
        )
        .field("active", key.active, fields.active)
        .field(
            "permissions",
            key.permission_set().strings(),
            fields.permissions.strings(),
        );
    if diff.is_empty() {
        return Ok(());
    }
    let permissions = fields.permissions.to_stored();
    ApiKey::update(
        conn,
        key_id,
        &ApiKeyChanges {
            name: fields.name.as_str(),
            description: fields.description.as_str(),
            expires_at: fields.expires_at,
            active: fields.active,
            permissions: &permissions,
            updated_at: now,
        },
    )?;
    let key = load(conn, app_id, key_id)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::KeyEdited,
        Target::key(&app, &key),
        diff.into_value(),
    )
}

/// Switches a key on or off, effective at once.
pub fn set_active(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    key_id: &KeyId,
    active: bool,
) -> Result<ApiKey, OpError> {
    let app = super::apps::load(conn, organization_id, app_id)?;
    let key = load(conn, app_id, key_id)?;
    if key.active == active {
        return Ok(key);
    }
    ApiKey::set_active(conn, key_id, active, clock::now())?;
    let action = if active {
        Action::KeyActivated
    } else {
        Action::KeyInactivated
    };
    audit(
        conn,
        organization_id,
        actor,
        action,
        Target::key(&app, &key),
        json!({ "active": { "from": key.active, "to": active } }),
    )?;
    Ok(key)
}

/// Deletes an inactive or expired key for good; its audit records stay.
pub fn delete(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    key_id: &KeyId,
) -> Result<ApiKey, OpError> {
    App::lock(conn, app_id)?;
    let app = super::apps::load(conn, organization_id, app_id)?;
    let key = load(conn, app_id, key_id)?;
    check_deletable(&key, clock::now())?;
    ApiKey::delete(conn, key_id)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::KeyDeleted,
        Target::key(&app, &key),
        json!({ "name": key.name, "key": key.masked() }),
    )?;
    Ok(key)
}
