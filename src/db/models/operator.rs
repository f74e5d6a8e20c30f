//! Operators (the people who run the server and its organizations), their
//! own audit trail, and their API tokens.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::{operator_events, operator_tokens, operators};
use crate::domain::{OperatorId, OrgId};

/// An operator as stored.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = operators)]
pub struct Operator {
    pub id: OperatorId,
    /// Lower-cased email, the sign-in name.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When the password last changed: sessions from before it stop working.
    pub password_changed_at: Timestamp,
    /// Last successful sign-in.
    pub last_sign_in_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Operator {
    /// By id.
    pub fn find_by_id(conn: &mut DbConn, id: &OperatorId) -> QueryResult<Option<Operator>> {
        operators::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// By (lower-cased) email.
    pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<Operator>> {
        operators::table
            .filter(operators::email.eq(email))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Adds one.
    pub fn insert(conn: &mut DbConn, operator: &Operator) -> QueryResult<()> {
        diesel::insert_into(operators::table)
            .values(operator)
            .execute(conn)
            .map(|_| ())
    }

    /// Replaces the stored hash of the same password (sessions stay valid).
    pub fn set_password_hash(conn: &mut DbConn, id: &OperatorId, hash: &str) -> QueryResult<()> {
        diesel::update(operators::table.find(id))
            .set(operators::password_hash.eq(hash))
            .execute(conn)
            .map(|_| ())
    }

    /// Records a successful sign-in.
    pub fn touch_sign_in(conn: &mut DbConn, id: &OperatorId, now: Timestamp) -> QueryResult<()> {
        diesel::update(operators::table.find(id))
            .set(operators::last_sign_in_at.eq(Some(now)))
            .execute(conn)
            .map(|_| ())
    }
}

/// One record of the operators' trail.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = operator_events)]
pub struct OperatorEvent {
    pub id: String,
    pub occurred_at: Timestamp,
    /// The operator, when one acted (not a command or a refused sign-in).
    pub operator_id: Option<OperatorId>,
    /// The operator's email, the command, or the email typed.
    pub actor_label: String,
    /// The stored name of the action (`Action::as_str`).
    pub action: String,
    /// The organization it concerned, if one.
    pub organization_id: Option<OrgId>,
    /// Its name then.
    pub organization_label: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `{"field": {"from": …, "to": …}}` or the facts of the action.
    pub changes: String,
    /// The operator API token it came through.
    pub via: Option<String>,
}

impl OperatorEvent {
    /// Adds a record of `action` by `actor` (and the operator `operator`,
    /// when one acted), about `org` (its id and name) if any.
    pub fn record(
        conn: &mut DbConn,
        operator: Option<&OperatorId>,
        actor: &super::audit_event::Actor,
        action: super::audit_event::Action,
        org: Option<(&OrgId, &str)>,
        changes: &serde_json::Value,
        now: Timestamp,
    ) -> QueryResult<()> {
        let clip = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let event = OperatorEvent {
            id: uuid::Uuid::now_v7().to_string(),
            occurred_at: now,
            operator_id: operator.cloned(),
            actor_label: clip(&actor.label, 254),
            action: action.as_str().to_owned(),
            organization_id: org.map(|(id, _)| id.clone()),
            organization_label: org.map(|(_, name)| clip(name, 254)),
            ip: actor.ip.clone(),
            user_agent: actor.user_agent.as_deref().map(|ua| clip(ua, 256)),
            changes: changes.to_string(),
            via: actor.via.clone(),
        };
        diesel::insert_into(operator_events::table)
            .values(&event)
            .execute(conn)
            .map(|_| ())
    }

    /// The newest records first, a page of `limit` before the cursor
    /// `(occurred_at, id)`, optionally of one organization.
    pub fn page(
        conn: &mut DbConn,
        organization: Option<&OrgId>,
        before: Option<(Timestamp, String)>,
        limit: i64,
    ) -> QueryResult<Vec<OperatorEvent>> {
        let mut query = operator_events::table
            .select(Self::as_select())
            .order((
                operator_events::occurred_at.desc(),
                operator_events::id.desc(),
            ))
            .limit(limit)
            .into_boxed();
        if let Some(org) = organization {
            query = query.filter(operator_events::organization_id.eq(org.clone()));
        }
        if let Some((at, id)) = before {
            query = query.filter(
                operator_events::occurred_at
                    .lt(at)
                    .or(operator_events::occurred_at
                        .eq(at)
                        .and(operator_events::id.lt(id))),
            );
        }
        query.load(conn)
    }
}

/// An operator API token as stored (never its text: a keyed digest of its
/// secret).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = operator_tokens)]
pub struct OperatorTokenRow {
    pub id: String,
    pub operator_id: OperatorId,
    pub name: String,
    /// Finds the row from a presented token.
    pub public_id: String,
    /// HMAC digest of the secret part.
    pub secret_digest: String,
    /// Whether it may change organizations, or only read them.
    pub can_write: bool,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl OperatorTokenRow {
    /// Adds one.
    pub fn insert(conn: &mut DbConn, row: &OperatorTokenRow) -> QueryResult<()> {
        diesel::insert_into(operator_tokens::table)
            .values(row)
            .execute(conn)
            .map(|_| ())
    }

    /// The token with this public id.
    pub fn find_by_public_id(conn: &mut DbConn, public_id: &str) -> QueryResult<Option<Self>> {
        operator_tokens::table
            .filter(operator_tokens::public_id.eq(public_id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// One of an operator's tokens.
    pub fn find_for_operator(
        conn: &mut DbConn,
        operator_id: &OperatorId,
        id: &str,
    ) -> QueryResult<Option<Self>> {
        operator_tokens::table
            .filter(operator_tokens::operator_id.eq(operator_id))
            .filter(operator_tokens::id.eq(id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// An operator's tokens, newest first.
    pub fn list_for_operator(
        conn: &mut DbConn,
        operator_id: &OperatorId,
    ) -> QueryResult<Vec<Self>> {
        operator_tokens::table
            .filter(operator_tokens::operator_id.eq(operator_id))
            .order((
                operator_tokens::created_at.desc(),
                operator_tokens::id.desc(),
            ))
            .select(Self::as_select())
            .load(conn)
    }

    /// How many unrevoked, unexpired tokens an operator holds.
    pub fn count_live(
        conn: &mut DbConn,
        operator_id: &OperatorId,
        now: Timestamp,
    ) -> QueryResult<i64> {
        operator_tokens::table
            .filter(operator_tokens::operator_id.eq(operator_id))
            .filter(operator_tokens::revoked_at.is_null())
            .filter(operator_tokens::expires_at.gt(now))
            .count()
            .get_result(conn)
    }

    /// Revokes a token; false when it was revoked already.
    pub fn revoke(conn: &mut DbConn, id: &str, now: Timestamp) -> QueryResult<bool> {
        let n = diesel::update(
            operator_tokens::table
                .find(id)
                .filter(operator_tokens::revoked_at.is_null()),
        )
        .set(operator_tokens::revoked_at.eq(Some(now)))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Notes a use, at most once a minute per token.
    pub fn touch(conn: &mut DbConn, id: &str, ip: Option<&str>, now: Timestamp) -> QueryResult<()> {
        diesel::update(
            operator_tokens::table.find(id).filter(
                operator_tokens::last_used_at
                    .is_null()
                    .or(operator_tokens::last_used_at.lt(now - time::Duration::minutes(1))),
            ),
        )
        .set((
            operator_tokens::last_used_at.eq(Some(now)),
            operator_tokens::last_used_ip.eq(ip),
        ))
        .execute(conn)
        .map(|_| ())
    }
}
