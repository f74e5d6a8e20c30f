//! Webhooks: the endpoints, the events waiting in the outbox, and one delivery
//! per endpoint and event, claimed before it is sent (as the alert ledger).

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::schema::{webhook_deliveries, webhook_endpoints, webhook_events};
use crate::db::{DbConn, new_id};
use crate::domain::{EndpointId, OrgId};

/// A registered endpoint.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct WebhookEndpoint {
    pub id: EndpointId,
    pub organization_id: OrgId,
    pub url: String,
    pub description: String,
    /// Event names separated by spaces (`EventSet::from_stored`).
    pub events: String,
    pub active: bool,
    /// The signing secret, sealed (`webhook-secret:<id>`).
    pub secret_sealed: String,
    /// The secret before the last roll, still signing until
    /// `previous_secret_until`.
    pub previous_secret_sealed: Option<String>,
    pub previous_secret_until: Option<Timestamp>,
    /// The first failed attempt since the last success.
    pub failing_since: Option<Timestamp>,
    /// Why the server switched it off.
    pub disabled_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookEndpoint {
    /// The sealing context of an endpoint's secrets.
    pub fn sealing_context(id: &EndpointId) -> String {
        format!("webhook-secret:{id}")
    }

    /// Adds an endpoint.
    pub fn insert(conn: &mut DbConn, endpoint: &WebhookEndpoint) -> QueryResult<()> {
        diesel::insert_into(webhook_endpoints::table)
            .values(endpoint)
            .execute(conn)
            .map(|_| ())
    }

    /// One endpoint of the organization.
    pub fn find(
        conn: &mut DbConn,
        organization_id: &OrgId,
        id: &EndpointId,
    ) -> QueryResult<Option<Self>> {
        webhook_endpoints::table
            .filter(webhook_endpoints::organization_id.eq(organization_id))
            .filter(webhook_endpoints::id.eq(id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// The organization's endpoints, oldest first.
    pub fn list(conn: &mut DbConn, organization_id: &OrgId) -> QueryResult<Vec<Self>> {
        webhook_endpoints::table
            .filter(webhook_endpoints::organization_id.eq(organization_id))
            .order((
                webhook_endpoints::created_at.asc(),
                webhook_endpoints::id.asc(),
            ))
            .select(Self::as_select())
            .load(conn)
    }

    /// The active endpoints of the organization: their ids and events.
    pub fn active_subscriptions(
        conn: &mut DbConn,
        organization_id: &OrgId,
    ) -> QueryResult<Vec<(EndpointId, String)>> {
        webhook_endpoints::table
            .filter(webhook_endpoints::organization_id.eq(organization_id))
            .filter(webhook_endpoints::active.eq(true))
            .select((webhook_endpoints::id, webhook_endpoints::events))
            .load(conn)
    }

    /// Saves the URL, description, events and standing; switching it on
    /// again forgets why it was switched off and its failures.
    pub fn update(
        conn: &mut DbConn,
        id: &EndpointId,
        url: &str,
        description: &str,
        events: &str,
        active: bool,
        now: Timestamp,
    ) -> QueryResult<()> {
        let query = diesel::update(webhook_endpoints::table.find(id));
        if active {
            query
                .set((
                    webhook_endpoints::url.eq(url),
                    webhook_endpoints::description.eq(description),
                    webhook_endpoints::events.eq(events),
                    webhook_endpoints::active.eq(true),
                    webhook_endpoints::disabled_reason.eq(None::<String>),
                    webhook_endpoints::failing_since.eq(None::<Timestamp>),
                    webhook_endpoints::updated_at.eq(now),
                ))
                .execute(conn)
        } else {
            query
                .set((
                    webhook_endpoints::url.eq(url),
                    webhook_endpoints::description.eq(description),
                    webhook_endpoints::events.eq(events),
                    webhook_endpoints::active.eq(false),
                    webhook_endpoints::updated_at.eq(now),
                ))
                .execute(conn)
        }
        .map(|_| ())
    }

    /// Replaces the secret; the previous one signs too until `previous_until`.
    pub fn set_secret(
        conn: &mut DbConn,
        id: &EndpointId,
        sealed: &str,
        previous: Option<(&str, Timestamp)>,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(webhook_endpoints::table.find(id))
            .set((
                webhook_endpoints::secret_sealed.eq(sealed),
                webhook_endpoints::previous_secret_sealed.eq(previous.map(|(s, _)| s)),
                webhook_endpoints::previous_secret_until.eq(previous.map(|(_, t)| t)),
                webhook_endpoints::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Deletes the endpoint and its deliveries.
    pub fn delete(conn: &mut DbConn, id: &EndpointId) -> QueryResult<()> {
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id)))
            .execute(conn)?;
        diesel::delete(webhook_endpoints::table.find(id))
            .execute(conn)
            .map(|_| ())
    }

    /// Notes a failed attempt: the first since the last success starts the
    /// failing period. Returns when the period began.
    pub fn note_failure(
        conn: &mut DbConn,
        id: &EndpointId,
        now: Timestamp,
    ) -> QueryResult<Option<Timestamp>> {
        diesel::update(
            webhook_endpoints::table
                .find(id)
                .filter(webhook_endpoints::failing_since.is_null()),
        )
        .set(webhook_endpoints::failing_since.eq(Some(now)))
        .execute(conn)?;
        webhook_endpoints::table
            .find(id)
            .select(webhook_endpoints::failing_since)
            .first(conn)
            .optional()
            .map(Option::flatten)
    }

    /// Notes a success: the endpoint is no longer failing.
    pub fn note_success(conn: &mut DbConn, id: &EndpointId) -> QueryResult<()> {
        diesel::update(
            webhook_endpoints::table
                .find(id)
                .filter(webhook_endpoints::failing_since.is_not_null()),
        )
        .set(webhook_endpoints::failing_since.eq(None::<Timestamp>))
        .execute(conn)
        .map(|_| ())
    }

    /// Switches an active endpoint off with a reason; false when it was off.
    pub fn disable(
        conn: &mut DbConn,
        id: &EndpointId,
        reason: &str,
        now: Timestamp,
    ) -> QueryResult<bool> {
        let n = diesel::update(
            webhook_endpoints::table
                .find(id)
                .filter(webhook_endpoints::active.eq(true)),
        )
        .set((
            webhook_endpoints::active.eq(false),
            webhook_endpoints::disabled_reason.eq(Some(reason)),
            webhook_endpoints::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }
}

/// An event in the outbox.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_events)]
pub struct WebhookEvent {
    /// `msg_…`: the `webhook-id` of every attempt.
    pub id: String,
    pub organization_id: OrgId,
    pub event_type: String,
    /// The body every attempt sends.
    pub payload: String,
    /// Names an event found by a job, so it is written once.
    pub dedupe: Option<String>,
    pub created_at: Timestamp,
}

impl WebhookEvent {
    /// Adds the event unless one with its `dedupe` exists; true when added.
    pub fn insert(conn: &mut DbConn, event: &WebhookEvent) -> QueryResult<bool> {
        let insert = diesel::insert_into(webhook_events::table)
            .values(event)
            .on_conflict_do_nothing();
        // ON CONFLICT does not go through the two-backend connection: run it on each.
        let n = match conn {
            DbConn::Postgres(c) => insert.execute(c)?,
            DbConn::Sqlite(c) => insert.execute(c)?,
        };
        Ok(n > 0)
    }

    /// One event.
    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Self>> {
        webhook_events::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Forgets the events made before `before` and their deliveries; how many.
    pub fn prune(conn: &mut DbConn, before: Timestamp) -> QueryResult<usize> {
        let old = webhook_events::table
            .filter(webhook_events::created_at.lt(before))
            .select(webhook_events::id);
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::event_id.eq_any(old)))
            .execute(conn)?;
        diesel::delete(webhook_events::table.filter(webhook_events::created_at.lt(before)))
            .execute(conn)
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a run that is sending it.
    Sending,
    /// The receiver answered 2xx.
    Succeeded,
    /// Every attempt failed, or its endpoint was switched off.
    Failed,
}

impl DeliveryStatus {
    /// Stored value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// One event for one endpoint.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct WebhookDelivery {
    pub id: String,
    pub organization_id: OrgId,
    pub endpoint_id: EndpointId,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    pub next_attempt_at: Timestamp,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    /// The last answer's status code, when one came.
    pub last_status: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// What an attempt got, to record.
#[derive(Debug, Clone)]
pub struct AttemptRecord<'a> {
    pub at: Timestamp,
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<&'a str>,
}

impl WebhookDelivery {
    /// A new pending delivery of `event` to `endpoint`, due at `now`.
    pub fn new(event: &WebhookEvent, endpoint: &EndpointId, now: Timestamp) -> Self {
        Self {
            id: new_id(),
            organization_id: event.organization_id.clone(),
            endpoint_id: endpoint.clone(),
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            status: DeliveryStatus::Pending.as_str().to_owned(),
            attempts: 0,
            next_attempt_at: now,
            claimed_by: None,
            claimed_until: None,
            last_attempt_at: None,
            last_status: None,
            last_latency_ms: None,
            last_error: None,
            delivered_at: None,
            created_at: now,
        }
    }

    /// Adds a delivery.
    pub fn insert(conn: &mut DbConn, delivery: &WebhookDelivery) -> QueryResult<()> {
        diesel::insert_into(webhook_deliveries::table)
            .values(delivery)
            .execute(conn)
            .map(|_| ())
    }

    /// Deliveries ready to send, of every organization: pending and due, or
    /// claimed by a run whose lease ran out; their endpoints active.
    pub fn ready(conn: &mut DbConn, now: Timestamp, limit: i64) -> QueryResult<Vec<Self>> {
        webhook_deliveries::table
            .inner_join(webhook_endpoints::table)
            .filter(webhook_endpoints::active.eq(true))
            .filter(
                webhook_deliveries::status
                    .eq(DeliveryStatus::Pending.as_str())
                    .and(webhook_deliveries::next_attempt_at.le(now))
                    .or(webhook_deliveries::status
                        .eq(DeliveryStatus::Sending.as_str())
                        .and(webhook_deliveries::claimed_until.lt(now))),
            )
            .order(webhook_deliveries::next_attempt_at.asc())
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
    }

    /// When the next pending delivery is due, if any.
    pub fn next_due(conn: &mut DbConn) -> QueryResult<Option<Timestamp>> {
        webhook_deliveries::table
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
            .select(diesel::dsl::min(webhook_deliveries::next_attempt_at))
            .first(conn)
    }

    /// Claims a delivery for `worker` until `until`; false when another run
    /// has it (only one run, on any instance, wins the conditional update).
    pub fn claim(
        conn: &mut DbConn,
        id: &str,
        worker: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> QueryResult<bool> {
        let n = diesel::update(
            webhook_deliveries::table.find(id).filter(
                webhook_deliveries::status
                    .eq(DeliveryStatus::Pending.as_str())
                    .and(webhook_deliveries::next_attempt_at.le(now))
                    .or(webhook_deliveries::status
                        .eq(DeliveryStatus::Sending.as_str())
                        .and(webhook_deliveries::claimed_until.lt(now))),
            ),
        )
        .set((
            webhook_deliveries::status.eq(DeliveryStatus::Sending.as_str()),
            webhook_deliveries::claimed_by.eq(Some(worker)),
            webhook_deliveries::claimed_until.eq(Some(until)),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Records an attempt of a delivery `worker` holds: succeeded, failed
    /// for good (`retry_at` none) or to be tried again at `retry_at`. False
    /// when the claim was lost (nothing recorded then).
    pub fn record_attempt(
        conn: &mut DbConn,
        id: &str,
        worker: &str,
        attempt: &AttemptRecord<'_>,
        retry_at: Option<Timestamp>,
    ) -> QueryResult<bool> {
        let status = match (attempt.error, retry_at) {
            (None, _) => DeliveryStatus::Succeeded,
            (Some(_), Some(_)) => DeliveryStatus::Pending,
            (Some(_), None) => DeliveryStatus::Failed,
        };
        let n = diesel::update(
            webhook_deliveries::table
                .find(id)
                .filter(webhook_deliveries::status.eq(DeliveryStatus::Sending.as_str()))
                .filter(webhook_deliveries::claimed_by.eq(worker)),
        )
        .set((
            webhook_deliveries::status.eq(status.as_str()),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::last_attempt_at.eq(Some(attempt.at)),
            webhook_deliveries::last_status.eq(attempt.status),
            webhook_deliveries::last_latency_ms.eq(Some(attempt.latency_ms)),
            webhook_deliveries::last_error.eq(attempt.error),
            webhook_deliveries::next_attempt_at.eq(retry_at.unwrap_or(attempt.at)),
            webhook_deliveries::delivered_at.eq(attempt.error.is_none().then_some(attempt.at)),
            webhook_deliveries::claimed_by.eq(None::<String>),
            webhook_deliveries::claimed_until.eq(None::<Timestamp>),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// One delivery of the organization.
    pub fn find(conn: &mut DbConn, organization_id: &OrgId, id: &str) -> QueryResult<Option<Self>> {
        webhook_deliveries::table
            .filter(webhook_deliveries::organization_id.eq(organization_id))
            .filter(webhook_deliveries::id.eq(id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// An endpoint's latest deliveries, newest first.
    pub fn recent(conn: &mut DbConn, endpoint: &EndpointId, limit: i64) -> QueryResult<Vec<Self>> {
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint))
            .order((
                webhook_deliveries::created_at.desc(),
                webhook_deliveries::id.desc(),
            ))
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
    }

    /// Sends a delivery again at `now` (Resend): pending, its attempts kept;
    /// false when it is being sent right now.
    pub fn resend(conn: &mut DbConn, id: &str, now: Timestamp) -> QueryResult<bool> {
        let n = diesel::update(
            webhook_deliveries::table
                .find(id)
                .filter(webhook_deliveries::status.ne(DeliveryStatus::Sending.as_str())),
        )
        .set((
            webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()),
            webhook_deliveries::next_attempt_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Fails the waiting deliveries of an endpoint switched off; how many.
    pub fn fail_waiting(
        conn: &mut DbConn,
        endpoint: &EndpointId,
        reason: &str,
    ) -> QueryResult<usize> {
        diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::endpoint_id.eq(endpoint))
                .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str())),
        )
        .set((
            webhook_deliveries::status.eq(DeliveryStatus::Failed.as_str()),
            webhook_deliveries::last_error.eq(Some(reason)),
        ))
        .execute(conn)
    }
}
