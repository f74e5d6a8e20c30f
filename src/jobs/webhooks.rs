//! The webhook delivery job: sends what the outbox holds, off the request
//! path, on every instance at once without sending anything twice.
//!
//! A run reads the deliveries that are due (of every organization, one
//! indexed query), claims each with a conditional update (only one run on
//! any instance wins it), signs the event with the endpoint's secrets
//! (Standard Webhooks), POSTs it through [`Outbound`], and records what came
//! back. A failure is tried again on the retry schedule (by default 5 s, 5
//! min, 30 min, 2 h, 5 h, 10 h and 10 h, about a day and a quarter in all);
//! an endpoint failing for a day without a success is switched off and its
//! admins get an email.
//!
//! A crash between the receiver's answer and its record leaves the delivery
//! claimed; when its lease runs out it is sent again with the same
//! `webhook-id`, so receivers that drop repeats see it once. Nothing is lost
//! that way; never resending an uncertain delivery could lose one.

use std::sync::Arc;

use futures_util::StreamExt;
use time::Duration;

use crate::clock::{self, Timestamp};
use crate::db::models::webhook::{AttemptRecord, WebhookDelivery, WebhookEndpoint, WebhookEvent};
use crate::db::models::{Admin, Organization};
use crate::db::{Db, DbError};
use crate::email::Mailer;
use crate::email::messages::{WebhookDisabled, webhook_disabled};
use crate::outbound::Outbound;
use crate::secrets::SealingKey;
use crate::services::OpError;
use crate::services::webhooks::{self as service, Disabled};

/// How long a run owns a claimed delivery: longer than a request may take.
const LEASE: Duration = Duration::seconds(60);
/// Most deliveries one run takes; the next run takes the rest.
const BATCH: i64 = 200;
/// Deliveries sent at once by one run.
const CONCURRENCY: usize = 8;

/// What the delivery job needs.
#[derive(Debug, Clone)]
pub struct WebhookJob {
    pub db: Db,
    pub outbound: Outbound,
    pub sealing: SealingKey,
    pub mailer: Arc<Mailer>,
    /// The server's public URL, for the link in the email.
    pub public_url: String,
    /// Names this instance in the claims.
    pub worker: String,
    /// The delay before each retry.
    pub schedule: Arc<Vec<Duration>>,
    /// Counts the runs and attempts, when metrics are kept.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Deliveries the receivers took.
    pub succeeded: usize,
    /// Attempts that failed (to be retried, or failed for good).
    pub failed: usize,
    /// Endpoints switched off for failing a day.
    pub disabled: usize,
}

fn op_error(e: OpError) -> DbError {
    match e {
        OpError::Db(db) => db,
        other => DbError::Unavailable(other.to_string()),
    }
}

/// The headers of one attempt: the Standard Webhooks `webhook-id`,
/// `webhook-timestamp` (Unix seconds, now) and `webhook-signature` (one
/// `v1,…` per secret in use: the current one, and the previous one during a
/// roll's grace, separated by spaces).
pub fn signed_headers(
    endpoint: &WebhookEndpoint,
    sealing: &SealingKey,
    event: &WebhookEvent,
    now: Timestamp,
) -> Result<Vec<(&'static str, String)>, String> {
    let context = WebhookEndpoint::sealing_context(&endpoint.id);
    let mut secrets = vec![endpoint.secret_sealed.as_str()];
    if let (Some(previous), Some(until)) = (
        endpoint.previous_secret_sealed.as_deref(),
        endpoint.previous_secret_until,
    ) && until > now
    {
        secrets.push(previous);
    }
    let timestamp = now.assume_utc().unix_timestamp();
    let mut signatures = Vec::new();
    for sealed in secrets {
        let secret = sealing
            .open(sealed, &context)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(
                "the endpoint's signing secret does not open (was KEYWARD_SECRET_KEY changed?)",
            )?;
        signatures.push(
            crate::outbound::sign(&secret, &event.id, timestamp, &event.payload)
                .ok_or("the endpoint's signing secret is not a Standard Webhooks secret")?,
        );
    }
    Ok(vec![
        ("webhook-id", event.id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signatures.join(" ")),
    ])
}

/// What one delivery came to.
enum Outcome {
    Lost,
    Succeeded,
    Failed(Option<Box<Disabled>>),
}

/// Sends one ready delivery, if this run wins its claim.
async fn deliver(
    job: &WebhookJob,
    delivery: WebhookDelivery,
    now: Timestamp,
) -> Result<Outcome, DbError> {
    let (id, worker) = (delivery.id.clone(), job.worker.clone());
    let (event_id, endpoint_id, org) = (
        delivery.event_id.clone(),
        delivery.endpoint_id.clone(),
        delivery.organization_id.clone(),
    );
    let claimed = job
        .db
        .run(move |conn| {
            if !WebhookDelivery::claim(conn, &id, &worker, now, now + LEASE)? {
                return Ok::<_, DbError>(None);
            }
            Ok(Some((
                WebhookEvent::find(conn, &event_id)?,
                WebhookEndpoint::find(conn, &org, &endpoint_id)?,
            )))
        })
        .await?;
    let (event, endpoint) = match claimed {
        None => return Ok(Outcome::Lost),
        Some((Some(event), Some(endpoint))) => (event, endpoint),
        Some(_) => return Ok(Outcome::Lost),
    };
    let url = url::Url::parse(&endpoint.url);
    let sent_at = clock::now();
    let attempt = match (
        url,
        signed_headers(&endpoint, &job.sealing, &event, sent_at),
    ) {
        (Ok(url), Ok(headers)) => {
            let headers: Vec<(&str, String)> = headers.into_iter().collect();
            job.outbound
                .post(&url, &headers, event.payload.clone())
                .await
        }
        (Err(_), _) => crate::outbound::Attempt {
            status: None,
            latency: std::time::Duration::ZERO,
            error: Some("the endpoint's URL does not parse".to_owned()),
        },
        (_, Err(why)) => crate::outbound::Attempt {
            status: None,
            latency: std::time::Duration::ZERO,
            error: Some(why),
        },
    };
    if let Some(metrics) = &job.metrics {
        metrics.webhook_attempt(attempt.succeeded());
    }
    let (worker, schedule) = (job.worker.clone(), Arc::clone(&job.schedule));
    let succeeded = attempt.succeeded();
    let error = attempt.error.clone();
    if let Some(error) = &error {
        tracing::info!(delivery = %delivery.id, endpoint = %delivery.endpoint_id, error = %error, "webhook attempt failed");
    }
    // The attempt is recorded at the run's clock plus the time it took, so a
    // test's fixed clock decides the retries and the switch-off.
    let at = now + Duration::try_from(attempt.latency).unwrap_or(Duration::ZERO);
    let disabled = job
        .db
        .run(move |conn| {
            let record = AttemptRecord {
                at,
                status: attempt.status.map(i32::from),
                latency_ms: i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX),
                error: error.as_deref(),
            };
            crate::db::write_tx(conn, |conn| {
                service::record_attempt(conn, &delivery, &worker, &record, &schedule)
            })
            .map_err(op_error)
        })
        .await?;
    Ok(if succeeded {
        Outcome::Succeeded
    } else {
        Outcome::Failed(disabled.map(Box::new))
    })
}

/// Tells the organization's full-access admins that an endpoint was
/// switched off.
async fn tell_admins(job: &WebhookJob, disabled: &Disabled) {
    let org_id = disabled.endpoint.organization_id.clone();
    let found = job
        .db
        .run(move |conn| {
            Ok::<_, DbError>((
                Organization::find_by_id(conn, &org_id)?,
                Admin::full_access_emails(conn, &org_id)?,
            ))
        })
        .await;
    let (org, admins) = match found {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "could not tell the admins a webhook endpoint was switched off");
            return;
        }
    };
    let base = job.public_url.trim_end_matches('/');
    let details = WebhookDisabled {
        organization: org.name,
        url: disabled.endpoint.url.clone(),
        failing_since: clock::fmt::timestamp(disabled.failing_since),
        last_error: disabled.last_error.clone(),
        link: format!("{base}/settings/webhooks/{}", disabled.endpoint.id),
    };
    for admin in admins {
        match webhook_disabled(&details, &admin) {
            Ok(email) => {
                if let Err(e) = job.mailer.send(&email).await {
                    tracing::warn!(error = %e, "could not email an admin that a webhook endpoint was switched off");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the webhook email could not be rendered"),
        }
    }
}

/// One run: sends every delivery due at `now`, a few at a time.
pub async fn run_once(job: &WebhookJob, now: Timestamp) -> Result<RunReport, DbError> {
    let ready = job
        .db
        .run(move |conn| WebhookDelivery::ready(conn, now, BATCH).map_err(DbError::from))
        .await?;
    let started = std::time::Instant::now();
    let at = move || now + Duration::try_from(started.elapsed()).unwrap_or(Duration::ZERO);
    let outcomes: Vec<Result<Outcome, DbError>> = futures_util::stream::iter(ready)
        .map(|delivery| deliver(job, delivery, at()))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut report = RunReport::default();
    for outcome in outcomes {
        match outcome? {
            Outcome::Lost => {}
            Outcome::Succeeded => report.succeeded += 1,
            Outcome::Failed(None) => report.failed += 1,
            Outcome::Failed(Some(disabled)) => {
                report.failed += 1;
                report.disabled += 1;
                tracing::warn!(endpoint = %disabled.endpoint.id, "a webhook endpoint failed for a day and was switched off");
                tell_admins(job, &disabled).await;
            }
        }
    }
    Ok(report)
}

/// Runs the delivery job until aborted: at once when `wake` is notified (a
/// change on this instance queued a delivery), else every `poll`.
pub async fn schedule(job: WebhookJob, wake: Arc<tokio::sync::Notify>, poll: std::time::Duration) {
    loop {
        let result = run_once(&job, clock::now()).await;
        if let Some(metrics) = &job.metrics {
            metrics.job_run("webhooks", result.is_ok());
        }
        match result {
            Ok(report) if report != RunReport::default() => {
                tracing::debug!(
                    succeeded = report.succeeded,
                    failed = report.failed,
                    disabled = report.disabled,
                    "webhook deliveries"
                );
                // More may be due already (a full batch): go on at once.
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the webhook delivery job failed; it runs again at the next poll")
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}
