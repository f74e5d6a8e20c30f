//! Admin API tokens (`kwa_…`): made by an admin for themselves on their
//! account page, shown once, stored as a keyed digest, revocable; and the
//! check of a presented token, which the management API calls on every
//! request.

use secrecy::ExposeSecret;
use serde_json::json;

use super::{OpError, audit};
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::admin_token::AdminTokenRow;
use crate::db::models::{Action, Actor, Admin, Role, Target};
use crate::domain::key_token::AdminToken;
use crate::domain::manage::{ManageScope, ScopeSet};
use crate::domain::{AdminId, Name, OrgId};
use crate::secrets::DigestKey;

/// The longest a token may live.
pub const MAX_DAYS: i64 = 366;
/// The most live tokens one admin may hold.
pub const MAX_LIVE: i64 = 20;

/// Refuses an expiry in the past or beyond [`MAX_DAYS`].
pub fn check_expiry(expires_at: Timestamp, now: Timestamp) -> Result<(), OpError> {
    if expires_at <= now {
        return Err(OpError::invalid(
            "expiry_in_past",
            "expires_at",
            "Choose an expiry in the future.",
        ));
    }
    if expires_at > now + time::Duration::days(MAX_DAYS) {
        return Err(OpError::invalid(
            "expiry_too_far",
            "expires_at",
            format!("A token lives at most {MAX_DAYS} days: choose an earlier expiry."),
        ));
    }
    Ok(())
}

/// Refuses a limited admin the scopes of the API keys section and every
/// write scope (seed 003; the console lets them only read those areas).
pub fn check_scopes(role: Role, scopes: &ScopeSet) -> Result<(), OpError> {
    if role != Role::Full && scopes.needs_full_access() {
        return Err(OpError::invalid(
            "scope_not_allowed",
            "scopes",
            "Only full-access admins can give a token the apps and keys scopes or a write scope.",
        ));
    }
    Ok(())
}

/// How the audit trail names a token: `API token “name” (kwa_…)`.
pub fn label(row: &AdminTokenRow) -> String {
    format!(
        "API token “{}” ({})",
        row.name,
        AdminToken::mask(&row.public_id)
    )
}

/// Makes a token for `admin`; returns its row and its text, shown once.
pub fn create(
    conn: &mut DbConn,
    admin: &Admin,
    actor: &Actor,
    name: &Name,
    scopes: &ScopeSet,
    expires_at: Timestamp,
    digest_key: &DigestKey,
) -> Result<(AdminTokenRow, AdminToken), OpError> {
    let now = clock::now();
    check_expiry(expires_at, now)?;
    check_scopes(admin.role(), scopes)?;
    if AdminTokenRow::count_live(conn, &admin.id, now)? >= MAX_LIVE {
        return Err(OpError::conflict(
            "token_limit",
            format!("You hold {MAX_LIVE} live tokens, the most an admin may. Revoke one first."),
        ));
    }
    let token = AdminToken::generate();
    let row = AdminTokenRow {
        id: crate::db::new_id(),
        organization_id: admin.organization_id.clone(),
        admin_id: admin.id.clone(),
        name: name.as_str().to_owned(),
        public_id: token.public_id.clone(),
        secret_digest: digest_key.digest(token.secret.expose_secret()),
        scopes: scopes.to_stored(),
        expires_at,
        last_used_at: None,
        last_used_ip: None,
        revoked_at: None,
        created_at: now,
    };
    AdminTokenRow::insert(conn, &row)?;
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::AdminTokenCreated,
        Target::new("admin_token", &row.id, label(&row)),
        json!({
            "name": row.name,
            "scopes": row.scopes,
            "expires_at": clock::fmt::iso(expires_at),
        }),
    )?;
    Ok((row, token))
}

/// Revokes one of `admin_id`'s tokens.
pub fn revoke(
    conn: &mut DbConn,
    organization_id: &OrgId,
    admin_id: &AdminId,
    actor: &Actor,
    token_id: &str,
) -> Result<(), OpError> {
    let row = AdminTokenRow::find_for_admin(conn, admin_id, token_id)?
        .filter(|r| &r.organization_id == organization_id)
        .ok_or(OpError::NotFound)?;
    if !AdminTokenRow::revoke(conn, &row.id, clock::now())? {
        return Ok(());
    }
    audit(
        conn,
        organization_id,
        actor,
        Action::AdminTokenRevoked,
        Target::new("admin_token", &row.id, label(&row)),
        json!({ "name": row.name }),
    )
}

/// Why a presented admin token is refused. The words never repeat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// Not a token, unknown, revoked, or its admin is gone.
    #[error("The admin API token is not valid.")]
    Invalid,
    /// Its expiry passed.
    #[error("The admin API token has expired.")]
    Expired,
    /// Valid, but without the scope the route needs (or, for a limited
    /// admin, the route is in the API keys section).
    #[error("The admin API token does not allow this.")]
    Forbidden,
}

/// A checked token: its row and its admin.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: AdminTokenRow,
    pub admin: Admin,
}

impl Caller {
    /// Who acts: the admin, through this token, from `ip`.
    pub fn actor(&self, ip: Option<String>, user_agent: Option<String>) -> Actor {
        Actor {
            id: Some(self.admin.id.clone()),
            label: self.admin.email.clone(),
            ip,
            user_agent,
            via: Some(label(&self.token)),
        }
    }
}

/// Checks a presented token for `scope`, in constant time against its
/// digest, with its admin as they are now (a demoted admin's token loses the
/// API keys section at once). Notes the use.
pub fn authenticate(
    conn: &mut DbConn,
    text: &str,
    scope: ManageScope,
    digest_key: &DigestKey,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<Result<Caller, TokenRefusal>, OpError> {
    let Ok((public_id, secret)) = AdminToken::parse(text) else {
        return Ok(Err(TokenRefusal::Invalid));
    };
    let Some(row) = AdminTokenRow::find_by_public_id(conn, public_id)? else {
        return Ok(Err(TokenRefusal::Invalid));
    };
    let presented = digest_key.digest(secret);
    if !crate::secrets::constant_time_eq(presented.as_bytes(), row.secret_digest.as_bytes())
        || row.revoked_at.is_some()
    {
        return Ok(Err(TokenRefusal::Invalid));
    }
    // A disabled admin's tokens stop working with their sessions.
    let Some(admin) = Admin::find_by_id(conn, &row.admin_id)?
        .filter(|a| a.organization_id == row.organization_id && !a.is_disabled())
    else {
        return Ok(Err(TokenRefusal::Invalid));
    };
    if row.expires_at <= now {
        return Ok(Err(TokenRefusal::Expired));
    }
    AdminTokenRow::touch(conn, &row.id, ip, now)?;
    let scopes = ScopeSet::from_stored(&row.scopes);
    if !scopes.allows(scope) || (scope.needs_full_access() && admin.role() != Role::Full) {
        return Ok(Err(TokenRefusal::Forbidden));
    }
    Ok(Ok(Caller { token: row, admin }))
}

/// How long the answer to an `Idempotency-Key` is kept.
pub const KEEP_IDEMPOTENT: time::Duration = time::Duration::hours(24);

/// Forgets the answers kept for `Idempotency-Key` retries older than a day.
pub fn prune_idempotency(conn: &mut DbConn, now: Timestamp) -> Result<usize, OpError> {
    Ok(crate::db::models::admin_token::prune_idempotent(
        conn,
        now - KEEP_IDEMPOTENT,
    )?)
}
