//! Every state change, whoever asks for it (a console form, `/api/v2`, a command,
//! later a management API), with its rules and, for admin actions, its audit
//! record, in one transaction.
//!
//! Handlers parse input into domain types, then call one function here through
//! `AppState::op`, which runs it inside [`crate::db::write_tx`]; if any statement
//! (the audit insert included) fails, the whole change rolls back and nothing is
//! shown as done. A rule lives here once: a handler that wants to show every
//! field's error at once calls the same `check_*` function the change calls.

pub mod admin_tokens;
pub mod admins;
pub mod alerts;
pub mod apps;
pub mod bookings;
pub mod guests;
pub mod hosted;
pub mod keys;
pub mod operator_tokens;
pub mod operators;
pub mod organization;
pub mod security;
pub mod sign_in;
pub mod signing_keys;
pub mod staff;
pub mod tokens;
pub mod two_factor;
pub mod usage;
pub mod users;
pub mod webhooks;

use std::cell::Cell;

use serde_json::{Map, Value, json};

use crate::db::DbError;
use crate::db::models::{Action, Actor, AuditEvent, Change, ChangeKind, NewAuditEvent, Target};
use crate::domain::OrgId;

/// Why an operation was refused. Each refusal has a stable machine-readable
/// [`code`](OpError::code) and, where one field of the input is at fault, the
/// [`field`](OpError::field): the console shows the message beside that field,
/// the JSON:API points at it, and both report the same code. Which HTTP status
/// each kind becomes is decided in one place per surface, from
/// [`OpError::kind`] (see `crate::error` and `routes::api::error`).
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// A value that does not fit its rule (a permission outside the app's
    /// scopes, an expiry beyond the key policy, an unknown service…).
    #[error("{message}")]
    Invalid {
        /// Stable code of the rule, e.g. `expiry_in_past`.
        code: &'static str,
        /// The field at fault, e.g. `expires_at`.
        field: &'static str,
        /// What to tell the person who typed it.
        message: String,
    },
    /// The input is fine, but the state of things does not allow it now.
    #[error("{message}")]
    Conflict {
        /// Stable code, e.g. `key_not_rollable`.
        code: &'static str,
        /// What to tell the person who asked.
        message: String,
    },
    /// Another app of the organization has this name.
    #[error("An app with this name exists already. Choose another name.")]
    NameTaken,
    /// The app holds the maximum number of keys.
    #[error(
        "This app already has {0} API keys, the most an app of this organization can hold. Delete an inactive key first."
    )]
    KeyLimit(i32),
    /// The organization holds the most apps its subscription allows.
    #[error(
        "This organization already has {0} apps, the most its subscription allows. Delete an app first, or ask the operator for more."
    )]
    AppLimit(i32),
    /// Only an inactive or expired key can be deleted.
    #[error("Only an inactive or expired key can be deleted. Inactivate it first.")]
    KeyActive,
    /// An app with keys cannot be deleted.
    #[error(
        "Delete this app's keys first: an app can be deleted only when it has none (inactivate a key, then delete it; an expired key can be deleted at once)."
    )]
    AppHasKeys,
    /// The form was submitted before; the id of what it made.
    #[error("This form was already submitted.")]
    AlreadySubmitted(String),
    /// A wizard step posted out of order.
    #[error("{0}")]
    WrongStep(String),
    /// The employee is booked at that time.
    #[error(
        "The employee has another appointment at that time. List available_slots for free times."
    )]
    SlotTaken,
    /// A cancelled appointment cannot change.
    #[error("A cancelled appointment cannot be changed.")]
    AppointmentCancelled,
    /// Nothing there (or not in the caller's organization).
    #[error("not found")]
    NotFound,
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Something that cannot happen with a sound configuration (a signing
    /// key that does not open): logged, answered as an internal error.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What kind of refusal an [`OpError`] is, for the surfaces to map to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The input breaks a rule: fix it and send again (HTTP 422).
    Invalid,
    /// The input is fine, but the current state does not allow it (HTTP 409).
    Conflict,
    /// No such thing for this caller (HTTP 404).
    NotFound,
    /// The database failed or is out of reach (HTTP 503 or 500).
    Database,
}

impl OpError {
    /// A value that breaks the rule `code`, in `field`.
    pub fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            field,
            message: message.into(),
        }
    }

    /// A refusal of the current state, `code`, explained by `message`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// The stable machine-readable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } | Self::Conflict { code, .. } => code,
            Self::NameTaken => "name_taken",
            Self::KeyLimit(_) => "key_limit",
            Self::AppLimit(_) => "app_limit",
            Self::KeyActive => "key_active",
            Self::AppHasKeys => "app_has_keys",
            Self::AlreadySubmitted(_) => "already_submitted",
            Self::WrongStep(_) => "wrong_step",
            Self::SlotTaken => "slot_taken",
            Self::AppointmentCancelled => "appointment_cancelled",
            Self::NotFound => "not_found",
            Self::Db(_) => "database_error",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The field of the input the refusal concerns, if one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::NameTaken => Some("name"),
            Self::SlotTaken => Some("starts_at"),
            _ => None,
        }
    }

    /// What kind of refusal this is.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Invalid { .. } => Kind::Invalid,
            Self::Conflict { .. }
            | Self::NameTaken
            | Self::KeyLimit(_)
            | Self::AppLimit(_)
            | Self::KeyActive
            | Self::AppHasKeys
            | Self::AlreadySubmitted(_)
            | Self::WrongStep(_)
            | Self::SlotTaken
            | Self::AppointmentCancelled => Kind::Conflict,
            Self::NotFound => Kind::NotFound,
            Self::Db(_) | Self::Internal(_) => Kind::Database,
        }
    }
}

impl From<diesel::result::Error> for OpError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

thread_local! {
    /// Whether a change run on this thread appended to the change feed (see [`take_moved`]).
    static MOVED: Cell<bool> = const { Cell::new(false) };
}

/// Whether a change run on this thread since the last call appended to the
/// change feed; clears it. The runner of a
/// change asks this on the thread that ran it, to refresh its credential
/// cache only when something that passes `/api` may have changed.
pub fn take_moved() -> bool {
    MOVED.with(|moved| moved.replace(false))
}

/// Records `action` by `actor` on `target` in the current transaction. A change
/// that can alter which credentials pass also appends to the change feed what
/// it changed, so every instance forgets what it cached of that;
/// one that has a webhook event writes it to the outbox
/// (`webhooks::on_audit`), so the event exists if and only if the change
/// and its record commit.
pub(crate) fn audit(
    conn: &mut crate::db::DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    action: Action,
    target: Target,
    changes: Value,
) -> Result<(), OpError> {
    let now = crate::clock::now();
    webhooks::on_audit(conn, organization_id, actor, action, &target, &changes, now)?;
    if let Some(kind) = action.changes() {
        let subject = change_subject(organization_id, kind, &target)?;
        Change::append(conn, organization_id, kind, &subject, now)?;
        MOVED.with(|moved| moved.set(true));
    }
    AuditEvent::record(
        conn,
        NewAuditEvent {
            organization_id,
            actor,
            action,
            target,
            changes,
        },
        now,
    )?;
    Ok(())
}

/// What the change feed names for a change of `kind` recorded on `target`.
fn change_subject(org: &OrgId, kind: ChangeKind, target: &Target) -> Result<String, OpError> {
    let id = || {
        target.id.clone().ok_or_else(|| {
            OpError::Internal(format!("a {} change has no target id", kind.as_str()))
        })
    };
    Ok(match kind {
        ChangeKind::Organization | ChangeKind::SigningKeys => org.to_string(),
        ChangeKind::App => match &target.app_id {
            Some(app) => app.to_string(),
            None => id()?,
        },
        ChangeKind::Key => id()?,
        // The user's subject, as their access tokens name it.
        ChangeKind::User => format!("{}:{}", target.kind.unwrap_or_default(), id()?),
    })
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
