//! Operator API tokens (`kwo_…`): made by an operator for themselves on the
//! operator console, shown once, stored as a keyed digest, read-only or
//! read-write, revocable; and the check of a presented token, which the
//! operator API calls on every request.

use secrecy::ExposeSecret;
use serde_json::json;

use super::OpError;
use super::admin_tokens::{TokenRefusal, check_expiry};
use super::operators::{OperatorActor, record};
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::operator::OperatorTokenRow;
use crate::db::models::{Action, Operator};
use crate::domain::key_token::OperatorToken;
use crate::domain::{Name, OperatorId};
use crate::secrets::DigestKey;

/// The most live tokens one operator may hold.
pub const MAX_LIVE: i64 = 20;

/// How the trail names a token: `operator API token “name” (kwo_…)`.
pub fn label(row: &OperatorTokenRow) -> String {
    format!(
        "operator API token “{}” ({})",
        row.name,
        OperatorToken::mask(&row.public_id)
    )
}

/// Makes a token for `operator`; returns its row and its text, shown once.
pub fn create(
    conn: &mut DbConn,
    operator: &OperatorId,
    actor: &OperatorActor,
    name: &Name,
    can_write: bool,
    expires_at: Timestamp,
    digest_key: &DigestKey,
) -> Result<(OperatorTokenRow, OperatorToken), OpError> {
    let now = clock::now();
    check_expiry(expires_at, now)?;
    if OperatorTokenRow::count_live(conn, operator, now)? >= MAX_LIVE {
        return Err(OpError::conflict(
            "token_limit",
            format!("You hold {MAX_LIVE} live tokens, the most an operator may. Revoke one first."),
        ));
    }
    let token = OperatorToken::generate();
    let row = OperatorTokenRow {
        id: crate::db::new_id(),
        operator_id: operator.clone(),
        name: name.as_str().to_owned(),
        public_id: token.public_id.clone(),
        secret_digest: digest_key.digest(token.secret.expose_secret()),
        can_write,
        expires_at,
        last_used_at: None,
        last_used_ip: None,
        revoked_at: None,
        created_at: now,
    };
    OperatorTokenRow::insert(conn, &row)?;
    record(
        conn,
        actor,
        Action::OperatorTokenCreated,
        None,
        &json!({
            "token": label(&row),
            "can_write": can_write,
            "expires_at": clock::fmt::iso(expires_at),
        }),
    )?;
    Ok((row, token))
}

/// Revokes one of `operator`'s tokens; `false` when it was revoked already.
pub fn revoke(
    conn: &mut DbConn,
    operator: &OperatorId,
    actor: &OperatorActor,
    token_id: &str,
) -> Result<bool, OpError> {
    let row =
        OperatorTokenRow::find_for_operator(conn, operator, token_id)?.ok_or(OpError::NotFound)?;
    if !OperatorTokenRow::revoke(conn, &row.id, clock::now())? {
        return Ok(false);
    }
    record(
        conn,
        actor,
        Action::OperatorTokenRevoked,
        None,
        &json!({ "token": label(&row) }),
    )?;
    Ok(true)
}

/// A checked token: its row and its operator.
#[derive(Debug, Clone)]
pub struct OperatorCaller {
    pub token: OperatorTokenRow,
    pub operator: Operator,
}

impl OperatorCaller {
    /// Who acts: the operator, through this token, from `ip`.
    pub fn actor(&self, ip: Option<String>, user_agent: Option<String>) -> OperatorActor {
        OperatorActor {
            id: Some(self.operator.id.clone()),
            label: self.operator.email.clone(),
            ip,
            user_agent,
            via: Some(label(&self.token)),
        }
    }
}

/// Checks a presented token, in constant time against its digest; a token
/// that only reads is refused a change (`write`). Notes the use.
pub fn authenticate(
    conn: &mut DbConn,
    text: &str,
    write: bool,
    digest_key: &DigestKey,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<Result<OperatorCaller, TokenRefusal>, OpError> {
    let Ok((public_id, secret)) = OperatorToken::parse(text) else {
        return Ok(Err(TokenRefusal::Invalid));
    };
    let Some(row) = OperatorTokenRow::find_by_public_id(conn, public_id)? else {
        return Ok(Err(TokenRefusal::Invalid));
    };
    let presented = digest_key.digest(secret);
    if !crate::secrets::constant_time_eq(presented.as_bytes(), row.secret_digest.as_bytes())
        || row.revoked_at.is_some()
    {
        return Ok(Err(TokenRefusal::Invalid));
    }
    let Some(operator) = Operator::find_by_id(conn, &row.operator_id)? else {
        return Ok(Err(TokenRefusal::Invalid));
    };
    if row.expires_at <= now {
        return Ok(Err(TokenRefusal::Expired));
    }
    OperatorTokenRow::touch(conn, &row.id, ip, now)?;
    if write && !row.can_write {
        return Ok(Err(TokenRefusal::Forbidden));
    }
    Ok(Ok(OperatorCaller {
        token: row,
        operator,
    }))
}
