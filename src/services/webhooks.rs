//! Webhooks: the endpoints full-access admins register, the events written
//! to the outbox in the same transaction as the change they announce, and
//! what each delivery attempt leaves behind.
//!
//! An audited change whose action has an event type ([`event_type_of`]) is
//! written as one `webhook_events` row, with one `webhook_deliveries` row
//! per active endpoint that wants it, by `services::audit` itself: if the
//! change (or its audit record) rolls back, no event is left; once it
//! commits, the event waits in the database until `jobs::webhooks` has sent
//! it, whatever happens to the process in between.

use std::cell::Cell;

use serde_json::{Value, json};
use time::Duration;

use super::{Diff, OpError, audit};
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::webhook::{
    AttemptRecord, DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent,
};
use crate::db::models::{Action, Actor, Target};
use crate::domain::webhook::{EventSet, EventType, WebhookUrl};
use crate::domain::{Description, EndpointId, OrgId};
use crate::secrets::SealingKey;

/// The version of the payload format, in every payload's `version`. A change
/// that could break a receiver (a field removed or retyped) bumps it; new
/// fields do not.
pub const PAYLOAD_VERSION: u32 = 1;
/// An endpoint failing for this long without one success is switched off.
pub const DISABLE_AFTER: Duration = Duration::hours(24);
/// The most endpoints one organization may register.
pub const MAX_ENDPOINTS: usize = 20;
/// How long events and their deliveries are kept.
pub const KEEP_EVENTS: Duration = Duration::days(30);

thread_local! {
    /// Whether a change run on this thread since the last call wrote a delivery.
    static QUEUED: Cell<bool> = const { Cell::new(false) };
}

/// Whether a change run on this thread since the last call queued a webhook
/// delivery; clears it. The runner of a change asks, after it committed, to
/// wake the delivery job at once instead of at its next poll.
pub fn take_queued() -> bool {
    QUEUED.with(|queued| queued.replace(false))
}

/// What an endpoint form or API call sets.
#[derive(Debug, Clone)]
pub struct EndpointFields {
    pub url: WebhookUrl,
    pub description: Description,
    pub events: EventSet,
    pub active: bool,
}

/// The event an audited action announces, if any.
pub fn event_type_of(action: Action) -> Option<EventType> {
    Some(match action {
        Action::KeyCreated => EventType::KeyCreated,
        Action::KeyEdited => EventType::KeyUpdated,
        Action::KeyActivated => EventType::KeyActivated,
        Action::KeyInactivated => EventType::KeyInactivated,
        Action::KeyRolled => EventType::KeyRolled,
        Action::KeyDeleted => EventType::KeyDeleted,
        Action::AppCreated => EventType::AppCreated,
        Action::AppChanged => EventType::AppUpdated,
        Action::AppActivated => EventType::AppActivated,
        Action::AppInactivated => EventType::AppInactivated,
        Action::AppDeleted => EventType::AppDeleted,
        Action::SecretGenerated => EventType::SecretRegenerated,
        Action::UserPasswordChanged => EventType::UserPasswordChanged,
        Action::TokenReuseDetected => EventType::TokenReuseDetected,
        _ => return None,
    })
}

/// The body of an event: `id`, `type`, `version`, `timestamp` (RFC 3339,
/// UTC), `organization_id` and `data`. The id is the Standard Webhooks
/// `webhook-id` of every attempt, so receivers can drop repeats.
fn payload(
    id: &str,
    organization_id: &OrgId,
    event: EventType,
    data: Value,
    now: Timestamp,
) -> String {
    json!({
        "id": id,
        "type": event.as_str(),
        "version": PAYLOAD_VERSION,
        "timestamp": clock::fmt::iso(now),
        "organization_id": organization_id,
        "data": data,
    })
    .to_string()
}

/// A new message id: `msg_` and a UUIDv7 (time-ordered).
fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// The active endpoints of the organization that want `event` (or only
/// `only`, if it is active).
fn wanting(
    conn: &mut DbConn,
    organization_id: &OrgId,
    event: EventType,
    only: Option<&EndpointId>,
) -> Result<Vec<EndpointId>, OpError> {
    Ok(
        WebhookEndpoint::active_subscriptions(conn, organization_id)?
            .into_iter()
            .filter(|(id, events)| match only {
                Some(only) => id == only,
                None => EventSet::from_stored(events).contains(event),
            })
            .map(|(id, _)| id)
            .collect(),
    )
}

/// Writes the event and one delivery per endpoint; false (nothing written)
/// when `dedupe` names an event written before.
fn write(
    conn: &mut DbConn,
    organization_id: &OrgId,
    event: EventType,
    data: Value,
    dedupe: Option<String>,
    endpoints: &[EndpointId],
    now: Timestamp,
) -> Result<bool, OpError> {
    let id = message_id();
    let row = WebhookEvent {
        payload: payload(&id, organization_id, event, data, now),
        id,
        organization_id: organization_id.clone(),
        event_type: event.as_str().to_owned(),
        dedupe,
        created_at: now,
    };
    if !WebhookEvent::insert(conn, &row)? {
        return Ok(false);
    }
    for endpoint in endpoints {
        WebhookDelivery::insert(conn, &WebhookDelivery::new(&row, endpoint, now))?;
    }
    if !endpoints.is_empty() {
        QUEUED.with(|queued| queued.set(true));
    }
    Ok(true)
}

/// Writes `event` to the outbox for every active endpoint of the
/// organization that wants it (or only `only`); nothing when none does.
/// Returns whether it was written.
pub fn enqueue(
    conn: &mut DbConn,
    organization_id: &OrgId,
    event: EventType,
    data: Value,
    only: Option<&EndpointId>,
    now: Timestamp,
) -> Result<bool, OpError> {
    let endpoints = wanting(conn, organization_id, event, only)?;
    if endpoints.is_empty() {
        return Ok(false);
    }
    write(conn, organization_id, event, data, None, &endpoints, now)
}

/// Called by `services::audit` for every audited change, in its transaction:
/// the event the action announces, with what the target and the changes say.
pub(crate) fn on_audit(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    action: Action,
    target: &Target,
    changes: &Value,
    now: Timestamp,
) -> Result<(), OpError> {
    let Some(event) = event_type_of(action) else {
        return Ok(());
    };
    let mut data = match &target.data {
        Some(Value::Object(map)) => map.clone(),
        _ => {
            let mut map = serde_json::Map::new();
            if let Some(kind) = target.kind {
                map.insert(
                    kind.to_owned(),
                    json!({ "id": target.id, "app_id": target.app_id }),
                );
            }
            map
        }
    };
    data.insert(
        "actor".to_owned(),
        json!({
            "type": if actor.id.is_some() { "admin" } else { "system" },
            "id": actor.id,
            "label": actor.label,
        }),
    );
    if changes.as_object().is_some_and(|c| !c.is_empty()) {
        data.insert("changes".to_owned(), changes.clone());
    }
    enqueue(conn, organization_id, event, Value::Object(data), None, now).map(|_| ())
}

/// Refuses an endpoint beyond [`MAX_ENDPOINTS`].
pub fn check_room(count: usize) -> Result<(), OpError> {
    if count >= MAX_ENDPOINTS {
        return Err(OpError::conflict(
            "endpoint_limit",
            format!(
                "An organization can register at most {MAX_ENDPOINTS} webhook endpoints. Delete one first."
            ),
        ));
    }
    Ok(())
}

/// Checks where `url` leads now (its host name resolved): the rule the
/// endpoint form and the management API both call before saving.
pub async fn check_destination(
    outbound: &crate::outbound::Outbound,
    url: &WebhookUrl,
) -> Result<(), OpError> {
    outbound.check_destination(url.url()).await.map_err(|why| {
        OpError::invalid(
            "url_not_allowed",
            "url",
            format!("This URL cannot receive webhooks: {why}."),
        )
    })
}

fn target(endpoint: &WebhookEndpoint) -> Target {
    Target::new("webhook", &endpoint.id, endpoint.url.clone())
}

/// Registers an endpoint with a new signing secret; returns it and the
/// secret, which is shown once.
pub fn create(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    fields: &EndpointFields,
    sealing: &SealingKey,
) -> Result<(WebhookEndpoint, String), OpError> {
    check_room(WebhookEndpoint::list(conn, organization_id)?.len())?;
    let now = clock::now();
    let id = EndpointId::generate();
    let secret = crate::outbound::new_signing_secret();
    let endpoint = WebhookEndpoint {
        secret_sealed: sealing.seal(secret.as_bytes(), &WebhookEndpoint::sealing_context(&id)),
        id,
        organization_id: organization_id.clone(),
        url: fields.url.as_str().to_owned(),
        description: fields.description.as_str().to_owned(),
        events: fields.events.to_stored(),
        active: fields.active,
        previous_secret_sealed: None,
        previous_secret_until: None,
        failing_since: None,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    WebhookEndpoint::insert(conn, &endpoint)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::WebhookCreated,
        target(&endpoint),
        json!({
            "url": endpoint.url,
            "events": endpoint.events,
            "active": endpoint.active,
        }),
    )?;
    Ok((endpoint, secret))
}

/// The organization's endpoint, or not found.
pub fn load(
    conn: &mut DbConn,
    organization_id: &OrgId,
    id: &EndpointId,
) -> Result<WebhookEndpoint, OpError> {
    WebhookEndpoint::find(conn, organization_id, id)?.ok_or(OpError::NotFound)
}

/// Saves an endpoint's URL, description, events and standing. Switching it
/// off fails its waiting deliveries; switching it on clears its failures.
pub fn update(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    id: &EndpointId,
    fields: &EndpointFields,
) -> Result<WebhookEndpoint, OpError> {
    let old = load(conn, organization_id, id)?;
    let events = fields.events.to_stored();
    let diff = Diff::default()
        .field("url", old.url.as_str(), fields.url.as_str())
        .field(
            "description",
            old.description.as_str(),
            fields.description.as_str(),
        )
        .field("events", old.events.as_str(), events.as_str())
        .field("active", old.active, fields.active);
    if diff.is_empty() {
        return Ok(old);
    }
    WebhookEndpoint::update(
        conn,
        id,
        fields.url.as_str(),
        fields.description.as_str(),
        &events,
        fields.active,
        clock::now(),
    )?;
    if old.active && !fields.active {
        WebhookDelivery::fail_waiting(conn, id, "the endpoint was switched off")?;
    }
    let new = load(conn, organization_id, id)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::WebhookChanged,
        target(&new),
        diff.into_value(),
    )?;
    Ok(new)
}

/// Deletes an endpoint and its deliveries.
pub fn delete(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    id: &EndpointId,
) -> Result<(), OpError> {
    let endpoint = load(conn, organization_id, id)?;
    WebhookEndpoint::delete(conn, id)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::WebhookDeleted,
        target(&endpoint),
        json!({ "url": endpoint.url }),
    )
}

/// The longest grace a rolled secret may keep signing.
pub const MAX_SECRET_GRACE: Duration = Duration::days(7);

/// Makes a new signing secret; the current one keeps signing beside it for
/// `grace` (so receivers can switch without missing an event). Returns the
/// new secret, which is shown once.
pub fn roll_secret(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    id: &EndpointId,
    grace: Duration,
    sealing: &SealingKey,
) -> Result<String, OpError> {
    if grace < Duration::ZERO || grace > MAX_SECRET_GRACE {
        return Err(OpError::invalid(
            "grace_out_of_range",
            "grace",
            "Choose a grace period between none and 7 days.",
        ));
    }
    let endpoint = load(conn, organization_id, id)?;
    let now = clock::now();
    let secret = crate::outbound::new_signing_secret();
    let sealed = sealing.seal(secret.as_bytes(), &WebhookEndpoint::sealing_context(id));
    let previous = (grace > Duration::ZERO).then(|| (endpoint.secret_sealed.as_str(), now + grace));
    WebhookEndpoint::set_secret(conn, id, &sealed, previous, now)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::WebhookSecretRolled,
        target(&endpoint),
        json!({
            "grace_seconds": grace.whole_seconds(),
            "previous_works_until": previous.map(|(_, t)| clock::fmt::iso(t)),
        }),
    )?;
    Ok(secret)
}

/// Queues a `webhook.test` event for this endpoint only (it must be active).
pub fn send_test(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    id: &EndpointId,
) -> Result<(), OpError> {
    let endpoint = load(conn, organization_id, id)?;
    if !endpoint.active {
        return Err(OpError::conflict(
            "endpoint_inactive",
            "This endpoint is switched off. Switch it on to send it events.",
        ));
    }
    let now = clock::now();
    enqueue(
        conn,
        organization_id,
        EventType::Test,
        json!({
            "endpoint": { "id": endpoint.id, "url": endpoint.url },
            "actor": { "type": "admin", "id": actor.id, "label": actor.label },
            "message": "A test event sent from the endpoint's page in Keyward.",
        }),
        Some(id),
        now,
    )?;
    audit(
        conn,
        organization_id,
        actor,
        Action::WebhookTestSent,
        target(&endpoint),
        json!({}),
    )
}

/// Sends a delivery again now (Resend), to its endpoint, which must be
/// active; its event and id are the same, so receivers can recognise it.
pub fn resend(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    endpoint_id: &EndpointId,
    delivery_id: &str,
) -> Result<(), OpError> {
    let endpoint = load(conn, organization_id, endpoint_id)?;
    let delivery = WebhookDelivery::find(conn, organization_id, delivery_id)?
        .filter(|d| &d.endpoint_id == endpoint_id)
        .ok_or(OpError::NotFound)?;
    if !endpoint.active {
        return Err(OpError::conflict(
            "endpoint_inactive",
            "This endpoint is switched off. Switch it on to send it events.",
        ));
    }
    if !WebhookDelivery::resend(conn, &delivery.id, clock::now())? {
        return Err(OpError::conflict(
            "delivery_in_progress",
            "This event is being sent right now. Look again in a few seconds.",
        ));
    }
    QUEUED.with(|queued| queued.set(true));
    audit(
        conn,
        organization_id,
        actor,
        Action::WebhookResent,
        target(&endpoint),
        json!({ "event_id": delivery.event_id, "event_type": delivery.event_type }),
    )
}

/// An endpoint the server switched off, for the email to the admins.
#[derive(Debug, Clone)]
pub struct Disabled {
    pub endpoint: WebhookEndpoint,
    /// Since when every attempt failed.
    pub failing_since: Timestamp,
    /// The last attempt's error.
    pub last_error: String,
}

/// When attempt `attempts` (counted from 1) failed, when to try again:
/// after the schedule's delay for that attempt, or never once the
/// schedule is spent.
pub fn retry_at(schedule: &[Duration], attempts: i32, now: Timestamp) -> Option<Timestamp> {
    usize::try_from(attempts - 1)
        .ok()
        .and_then(|i| schedule.get(i))
        .map(|delay| now + *delay)
}

/// Records an attempt of a claimed delivery. A failure notes the endpoint
/// failing; one failing for [`DISABLE_AFTER`] without a success is switched
/// off (its waiting deliveries failed, the change audited) and returned, so
/// the admins can be told. Nothing is recorded when `worker` lost the claim.
pub fn record_attempt(
    conn: &mut DbConn,
    delivery: &WebhookDelivery,
    worker: &str,
    attempt: &AttemptRecord<'_>,
    schedule: &[Duration],
) -> Result<Option<Disabled>, OpError> {
    let retry = attempt
        .error
        .and_then(|_| retry_at(schedule, delivery.attempts + 1, attempt.at));
    if !WebhookDelivery::record_attempt(conn, &delivery.id, worker, attempt, retry)? {
        return Ok(None);
    }
    let Some(error) = attempt.error else {
        WebhookEndpoint::note_success(conn, &delivery.endpoint_id)?;
        return Ok(None);
    };
    let Some(since) = WebhookEndpoint::note_failure(conn, &delivery.endpoint_id, attempt.at)?
    else {
        return Ok(None);
    };
    if attempt.at - since < DISABLE_AFTER {
        return Ok(None);
    }
    let reason = format!(
        "Every delivery failed for more than {} hours; the last error: {error}",
        DISABLE_AFTER.whole_hours()
    );
    if !WebhookEndpoint::disable(conn, &delivery.endpoint_id, &reason, attempt.at)? {
        return Ok(None);
    }
    WebhookDelivery::fail_waiting(conn, &delivery.endpoint_id, "the endpoint was switched off")?;
    let endpoint = load(conn, &delivery.organization_id, &delivery.endpoint_id)?;
    audit(
        conn,
        &delivery.organization_id,
        &Actor::system("webhooks"),
        Action::WebhookDisabled,
        target(&endpoint),
        json!({ "failing_since": clock::fmt::iso(since), "last_error": error }),
    )?;
    Ok(Some(Disabled {
        endpoint,
        failing_since: since,
        last_error: error.to_owned(),
    }))
}

/// Forgets the events older than [`KEEP_EVENTS`] and their deliveries.
pub fn prune(conn: &mut DbConn, now: Timestamp) -> Result<usize, OpError> {
    Ok(WebhookEvent::prune(conn, now - KEEP_EVENTS)?)
}

/// Whether a delivery's stored status is one that is finished.
pub fn is_finished(status: &str) -> bool {
    status == DeliveryStatus::Succeeded.as_str() || status == DeliveryStatus::Failed.as_str()
}

/// Announces that `key` reached an expiry alert threshold (`key.expiring`,
/// `threshold_days` days or fewer left) or expired (`key.expired`,
/// threshold 0), once per key, threshold and expiry: the expiry alert job
/// calls it from the same planning as its emails. The event is kept as a
/// marker even when no endpoint wants it, so an endpoint added later is not
/// told about an old threshold.
pub fn announce_expiry(
    conn: &mut DbConn,
    app: &crate::db::models::App,
    key: &crate::db::models::ApiKey,
    threshold_days: i32,
    now: Timestamp,
) -> Result<bool, OpError> {
    let Some(expires_at) = key.expires_at else {
        return Ok(false);
    };
    let event = if threshold_days == 0 {
        EventType::KeyExpired
    } else {
        EventType::KeyExpiring
    };
    let mut data = match Target::key(app, key).data {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    if threshold_days > 0 {
        data.insert("threshold_days".to_owned(), json!(threshold_days));
    }
    data.insert("expires_at".to_owned(), json!(clock::fmt::iso(expires_at)));
    let dedupe = format!(
        "{}:{}:{threshold_days}:{}",
        event.as_str(),
        key.id,
        expires_at.assume_utc().unix_timestamp()
    );
    let organization_id = key.organization_id.clone();
    let endpoints = wanting(conn, &organization_id, event, None)?;
    write(
        conn,
        &organization_id,
        event,
        Value::Object(data),
        Some(dedupe),
        &endpoints,
        now,
    )
}

/// Whether the organization has an active endpoint (else the expiry job
/// announces nothing).
pub fn has_endpoints(conn: &mut DbConn, organization_id: &OrgId) -> Result<bool, OpError> {
    Ok(!WebhookEndpoint::active_subscriptions(conn, organization_id)?.is_empty())
}
