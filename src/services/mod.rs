//! State changes of apps and keys, each with its audit record in one transaction.
//!
//! Handlers validate input into domain types, then call one function here inside
//! [`crate::db::write_tx`]; if any statement (the audit insert included) fails, the
//! whole change rolls back and nothing is shown as done.

pub mod apps;
pub mod keys;
pub mod organization;
pub mod staff;

use serde_json::{Map, Value, json};

use crate::db::DbError;
use crate::db::models::{Action, Actor, AuditEvent, NewAuditEvent, Target};

/// Why an operation was refused, in words for the admin where it is their input.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// Another app of the organization has this name.
    #[error("An app with this name exists already. Choose another name.")]
    NameTaken,
    /// The app holds the maximum number of keys.
    #[error(
        "This app already has 20 API keys, the most an app can hold. Delete an inactive key first."
    )]
    KeyLimit,
    /// Only an inactive key can be deleted.
    #[error("Only an inactive key can be deleted. Inactivate it first.")]
    KeyActive,
    /// An app with keys cannot be deleted.
    #[error("Delete this app's keys first: an app can be deleted only when it has none.")]
    AppHasKeys,
    /// The form was submitted before; the id of what it made.
    #[error("This form was already submitted.")]
    AlreadySubmitted(String),
    /// A wizard step posted out of order.
    #[error("{0}")]
    WrongStep(String),
    /// Nothing there.
    #[error("not found")]
    NotFound,
    /// Input that does not fit the app (a permission outside its scopes, say).
    #[error("{0}")]
    Invalid(String),
    /// A key's expiry refused (in the past, or beyond the key policy).
    #[error("{0}")]
    Expiry(String),
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for OpError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<OpError> for crate::error::AppError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::NotFound => Self::NotFound,
            OpError::Db(db) => db.into(),
            other => Self::Conflict(other.to_string()),
        }
    }
}

/// Records `action` by `actor` on `target` in the current transaction. A change
/// that can alter which credentials pass also moves the organization's
/// credentials version, so all instances drop their cache of verified keys.
pub(crate) fn audit(
    conn: &mut crate::db::DbConn,
    organization_id: &str,
    actor: &Actor,
    action: Action,
    target: Target,
    changes: Value,
) -> Result<(), OpError> {
    AuditEvent::record(
        conn,
        NewAuditEvent {
            organization_id,
            actor,
            action,
            target,
            changes,
        },
        crate::clock::now(),
    )?;
    if action.affects_credentials() {
        crate::db::models::Organization::bump_credentials(conn, organization_id)?;
    }
    Ok(())
}

/// Builds a `{"field": {"from": old, "to": new}}` object of the fields that differ.
#[derive(Debug, Default)]
pub struct Diff(Map<String, Value>);

impl Diff {
    /// Notes `field` if `from` and `to` differ.
    pub fn field(mut self, field: &str, from: impl Into<Value>, to: impl Into<Value>) -> Self {
        let (from, to) = (from.into(), to.into());
        if from != to {
            self.0
                .insert(field.to_owned(), json!({ "from": from, "to": to }));
        }
        self
    }

    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The object.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}
