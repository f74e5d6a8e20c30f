//! API keys: creation (the only time the token exists in clear), edits, the Active
//! switch and deletion, each audited. The token is never part of an audit record.

use secrecy::SecretString;
use serde_json::json;

use super::{Diff, OpError, audit};
use crate::clock::fmt;
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::RetiredKey;
use crate::db::models::key_address::KeyAddress;
use crate::db::models::{
    Action, Actor, ApiKey, ApiKeyChanges, App, KeyStatus, NewApiKey, Organization, Target,
};
use crate::domain::key_token::ParsedKey;
use crate::domain::scopes::PermissionSet;
use crate::domain::{AppId, IpAllowlist, KeyId, OrgId, RateLimits};
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
    /// The addresses it is accepted from; empty is anywhere.
    pub allowed_ips: IpAllowlist,
    /// Its rate limits.
    pub rate_limits: RateLimits,
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

/// An app with `count` keys in service has room for one more, in an
/// organization whose apps hold at most `max` (its subscription's limit).
pub fn check_room(count: i64, max: i32) -> Result<(), OpError> {
    if count >= i64::from(max) {
        Err(OpError::KeyLimit(max))
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

/// The rate limits a new key gets by default: the key policy's.
pub fn default_rate_limits(org: &Organization) -> RateLimits {
    RateLimits::from_stored(
        org.key_default_rate_per_second,
        org.key_default_rate_per_minute,
    )
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
    check_room(
        ApiKey::count_in_service(conn, app_id, now)?,
        org.max_keys_per_app,
    )?;
    let (key, token) = insert_key(
        conn,
        organization_id,
        actor,
        app_id,
        fields,
        nonce,
        None,
        digest_key,
    )?;
    audit(
        conn,
        organization_id,
        actor,
        Action::KeyCreated,
        Target::key(&app, &key),
        created_changes(&key, fields),
    )?;
    Ok((key, token))
}

/// What the audit record of a new key says of it.
fn created_changes(key: &ApiKey, fields: &KeyFields) -> serde_json::Value {
    json!({
        "name": key.name,
        "description": key.description,
        "key": key.masked(),
        "permissions": fields.permissions.strings(),
        "expires_at": expiry_text(key.expires_at),
        "active": key.active,
        "allowed_ips": fields.allowed_ips.entries(),
        "rate_limits": rate_text(fields.rate_limits),
    })
}

fn rate_text(limits: RateLimits) -> serde_json::Value {
    json!({ "per_second": limits.per_second, "per_minute": limits.per_minute })
}

/// Inserts a new key with a fresh token; returns it with the token.
#[allow(clippy::too_many_arguments)]
fn insert_key(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    fields: &KeyFields,
    nonce: Option<&str>,
    rolled_from: Option<&KeyId>,
    digest_key: &DigestKey,
) -> Result<(ApiKey, SecretString), OpError> {
    let now = clock::now();
    let new = ParsedKey::generate();
    let id = KeyId::generate();
    let permissions = fields.permissions.to_stored();
    let allowed_ips = fields.allowed_ips.to_stored();
    let (rate_per_second, rate_per_minute) = fields.rate_limits.to_stored();
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
            allowed_ips: &allowed_ips,
            rate_per_second,
            rate_per_minute,
            rolled_from_id: rolled_from,
        },
    )?;
    let key = ApiKey::find(conn, app_id, &id)?.ok_or(OpError::NotFound)?;
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
        )
        .field(
            "allowed_ips",
            key.allowlist().entries(),
            fields.allowed_ips.entries(),
        )
        .field(
            "rate_limits",
            rate_text(key.rate_limits()),
            rate_text(fields.rate_limits),
        );
    if diff.is_empty() {
        return Ok(());
    }
    let permissions = fields.permissions.to_stored();
    let allowed_ips = fields.allowed_ips.to_stored();
    let (rate_per_second, rate_per_minute) = fields.rate_limits.to_stored();
    ApiKey::update(
        conn,
        key_id,
        &ApiKeyChanges {
            name: fields.name.as_str(),
            description: fields.description.as_str(),
            expires_at: fields.expires_at,
            active: fields.active,
            permissions: &permissions,
            allowed_ips: &allowed_ips,
            rate_per_second,
            rate_per_minute,
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
    // The record (and its webhook event) describes the key as it now is.
    let now_key = load(conn, app_id, key_id)?;
    audit(
        conn,
        organization_id,
        actor,
        action,
        Target::key(&app, &now_key),
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
    let now = clock::now();
    check_deletable(&key, now)?;
    RetiredKey::insert(
        conn,
        &RetiredKey::of_deleted(&key, &actor.label, now, false),
    )?;
    ApiKey::delete(conn, key_id)?;
    // Deleting the new key of a roll whose old key still works cancels the
    // roll: the old key gets its own expiry back instead of ending at a
    // grace that pointed to a key no longer there.
    let restored = match &key.rolled_from_id {
        Some(old_id) => match ApiKey::find(conn, app_id, old_id)? {
            Some(old) if old.rolled_to_id.as_ref() == Some(key_id) && !old.is_retired(now) => {
                ApiKey::cancel_roll(conn, &old.id, now)?;
                Some(old.masked())
            }
            _ => None,
        },
        None => None,
    };
    audit(
        conn,
        organization_id,
        actor,
        Action::KeyDeleted,
        Target::key(&app, &key),
        json!({ "name": key.name, "key": key.masked(), "roll_cancelled_for": restored }),
    )?;
    Ok(key)
}

/// How long a rolled key keeps working beside its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grace {
    /// The length of the grace period; zero stops the old key at once.
    pub duration: time::Duration,
    /// The grace starts only when the new key is first used (Paddle's rule),
    /// so an integration that never picked up the new key is not cut off.
    pub on_first_use: bool,
}

/// The longest grace a roll may give, in hours (30 days).
pub const MAX_GRACE_HOURS: i64 = 720;

/// What a roll gives back: the old key as it is now, and the new key with
/// its token (shown once).
#[derive(Debug)]
pub struct Rolled {
    /// The key rolled, with its grace's end as its expiry.
    pub old: ApiKey,
    /// Its successor.
    pub new: ApiKey,
    /// The successor's token, which exists only here.
    pub token: SecretString,
}

/// A key can be rolled while it is in service: not expired or rolled out
/// (Recreate makes a new one from a retired key).
pub fn check_rollable(key: &ApiKey, now: Timestamp) -> Result<(), OpError> {
    if key.is_retired(now) {
        return Err(OpError::conflict(
            "key_not_rollable",
            "This key has expired and cannot be rolled: recreate it from the retired keys instead.",
        ));
    }
    Ok(())
}

/// Rolls a key: a new key with the same name, description, permissions,
/// restrictions and expiry policy (the same lifetime, counted from now,
/// within the key policy), and the old key working until the grace ends,
/// never past its own expiry. Rolling again while the first roll's new key
/// has not been used replaces that key; once it is in use, that key is the
/// one to roll.
pub fn roll(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    app_id: &AppId,
    key_id: &KeyId,
    grace: Grace,
    digest_key: &DigestKey,
) -> Result<Rolled, OpError> {
    App::lock(conn, app_id)?;
    let app = super::apps::load(conn, organization_id, app_id)?;
    let old = load(conn, app_id, key_id)?;
    let now = clock::now();
    check_rollable(&old, now)?;
    if grace.duration.is_negative() || grace.duration > time::Duration::hours(MAX_GRACE_HOURS) {
        return Err(OpError::invalid(
            "grace_out_of_range",
            "grace",
            format!("Choose a grace period from 0 to {MAX_GRACE_HOURS} hours."),
        ));
    }
    // The expiry the key had before any roll: a second roll counts from it.
    let own_expiry = old.own_expiry();
    let mut replaced = None;
    if let Some(pending) = &old.rolled_to_id
        && let Some(successor) = ApiKey::find(conn, app_id, pending)?
    {
        if successor.last_used_at.is_some() {
            return Err(OpError::conflict(
                "key_rolled_already",
                format!(
                    "This key was rolled to “{}” ({}), which is in use already: roll that key instead.",
                    successor.name,
                    successor.masked()
                ),
            ));
        }
        RetiredKey::insert(
            conn,
            &RetiredKey::of_deleted(&successor, &actor.label, now, true),
        )?;
        ApiKey::delete(conn, &successor.id)?;
        replaced = Some(successor);
    }
    let org = Organization::find_by_id(conn, organization_id)?;
    // The same lifetime from now; Never stays Never where the policy allows
    // it, else the policy's default.
    let lifetime = own_expiry.map(|t| t - old.created_at);
    let expires_at = match (lifetime, org.key_max_lifetime_days) {
        (Some(l), Some(max)) => Some(now + l.min(time::Duration::days(i64::from(max)))),
        (Some(l), None) => Some(now + l),
        (None, Some(_)) => default_expiry(&org, now),
        (None, None) => None,
    };
    let permissions = old.permission_set().intersection(&app.apikey_permissions());
    let fields = KeyFields {
        name: Name::parse(&old.name)
            .map_err(|e| OpError::invalid("invalid_name", "name", e.to_string()))?,
        description: Description::parse(&old.description)
            .map_err(|e| OpError::invalid("invalid_description", "description", e.to_string()))?,
        expires_at,
        active: old.active,
        permissions,
        allowed_ips: old.allowlist(),
        rate_limits: old.rate_limits(),
    };
    check_permissions(&app, &fields.permissions)?;
    check_room(
        ApiKey::count_in_service(conn, app_id, now)?,
        Organization::find_by_id(conn, organization_id)?.max_keys_per_app,
    )?;
    let (new, token) = insert_key(
        conn,
        organization_id,
        actor,
        app_id,
        &fields,
        None,
        Some(&old.id),
        digest_key,
    )?;
    let grace_end = now + grace.duration;
    let works_until = if grace.on_first_use {
        own_expiry
    } else {
        Some(own_expiry.map_or(grace_end, |t| t.min(grace_end)))
    };
    ApiKey::set_rolled(
        conn,
        &old.id,
        &new.id,
        &actor.label,
        own_expiry,
        works_until,
        (grace.duration.whole_seconds(), grace.on_first_use),
        now,
    )?;
    let old = load(conn, app_id, key_id)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::KeyRolled,
        Target::key(&app, &old),
        json!({
            "key": old.masked(),
            "new_key": new.masked(),
            "new_key_id": new.id,
            "grace_seconds": grace.duration.whole_seconds(),
            "grace_starts": if grace.on_first_use { "first_use" } else { "now" },
            "works_until": expiry_text(old.expires_at),
            "replaced_key": replaced.map(|k| k.masked()),
            "new": created_changes(&new, &fields),
        }),
    )?;
    Ok(Rolled { old, new, token })
}

/// The successor `successor_id` was first used at `first_use`: the grace of
/// the key it replaced, if it was waiting for that, starts now (ends at
/// `first_use` plus the grace, never past the old key's own expiry).
/// Returns whether a grace started; several instances may report the same
/// first use, and only one starts it.
pub fn start_grace(
    conn: &mut DbConn,
    successor_id: &KeyId,
    first_use: Timestamp,
) -> Result<bool, OpError> {
    let Some(old) = ApiKey::awaiting_first_use_of(conn, successor_id)? else {
        return Ok(false);
    };
    let grace = time::Duration::seconds(old.grace_seconds.unwrap_or(0));
    let grace_end = first_use + grace;
    let works_until = Some(old.expires_at.map_or(grace_end, |t| t.min(grace_end)));
    if !ApiKey::start_grace(conn, &old.id, works_until, clock::now())? {
        return Ok(false);
    }
    let app = super::apps::load(conn, &old.organization_id, &old.app_id)?;
    audit(
        conn,
        &old.organization_id,
        &Actor::system("system"),
        Action::KeyGraceStarted,
        Target::key(&app, &old),
        json!({ "first_use_of": successor_id, "works_until": expiry_text(works_until) }),
    )?;
    Ok(true)
}

/// Records a batch of uses from the credential check: each key's last use,
/// its latest client addresses, and the first uses of rolled keys'
/// successors (which start a waiting grace). Returns whether a grace
/// started (the credential caches must then be dropped).
pub fn record_uses(
    conn: &mut DbConn,
    uses: &[(KeyId, Timestamp)],
    addresses: &[(KeyId, Vec<(String, Timestamp)>)],
    first_uses: &[(KeyId, Timestamp)],
) -> Result<bool, OpError> {
    ApiKey::record_uses(conn, uses)?;
    for (key, list) in addresses {
        KeyAddress::record(conn, key, list)?;
    }
    let mut started = false;
    for (key, at) in first_uses {
        started |= start_grace(conn, key, *at)?;
    }
    Ok(started)
}

/// Forgets the keys each organization retired longer ago than it keeps
/// them (its `retired_keys_days`): deleted keys leave the inventory, and
/// keys that expired or were rolled out then are deleted. Returns how many.
pub fn forget_retired(conn: &mut DbConn, now: Timestamp) -> Result<usize, OpError> {
    let mut forgotten = 0;
    for (org, days) in Organization::retired_keys_days(conn)? {
        let before = now - time::Duration::days(i64::from(days.max(1)));
        forgotten += RetiredKey::prune(conn, &org, before)?;
    }
    Ok(forgotten)
}
