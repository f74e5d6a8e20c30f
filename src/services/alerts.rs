//! What happens to an expiry alert that concerns the admins: a mail server that
//! refuses it for good is recorded in the audit trail, beside the key.

use serde_json::json;

use super::{OpError, audit};
use crate::db::DbConn;
use crate::db::models::alert::{self, KeyAlert};
use crate::db::models::{Action, Actor, ApiKey, App, Target};

/// Marks a claimed alert refused for good (a 5xx answer) and records it: it is
/// not retried, and the key's row shows the mail server's answer. False when
/// `worker` no longer holds the claim (nothing is recorded then).
pub fn refused(
    conn: &mut DbConn,
    row: &KeyAlert,
    worker: &str,
    error: &str,
) -> Result<bool, OpError> {
    if !alert::mark_refused(conn, &row.id, worker, error)? {
        return Ok(false);
    }
    let target = match (
        App::find(conn, &row.organization_id, &row.app_id)?,
        ApiKey::find(conn, &row.app_id, &row.key_id)?,
    ) {
        (Some(app), Some(key)) => Target::key(&app, &key),
        _ => Target::new("key", &row.key_id, row.key_id.as_str()),
    };
    audit(
        conn,
        &row.organization_id,
        &Actor::system("expiry alert"),
        Action::AlertFailed,
        target,
        json!({
            "recipient": row.recipient,
            "threshold_days": row.threshold_days,
            "error": error,
        }),
    )?;
    Ok(true)
}
