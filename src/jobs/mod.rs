//! Scheduled jobs. Each job is a plain `run_once(…, now)` that tests call with a
//! fixed clock; the scheduler loop here only calls it on an interval, with the
//! parts of the server it needs (never the whole shared state).

pub mod expiry_alerts;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::db::Db;
use crate::email::Mailer;

/// What the expiry alert job needs.
#[derive(Debug, Clone)]
pub struct AlertJob {
    pub db: Db,
    pub mailer: Arc<Mailer>,
    /// The server's public URL, for the links in the emails.
    pub public_url: String,
    /// Names this instance in the ledger's claims.
    pub worker: String,
    /// Counts the runs, when metrics are kept.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Runs the expiry alert job for every organization every `interval`, starting
/// now, until aborted.
pub async fn schedule_expiry_alerts(job: AlertJob, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let result = expiry_alerts::run_all(
            &job.db,
            &job.mailer,
            &job.public_url,
            &job.worker,
            clock::now(),
        )
        .await;
        if let Some(metrics) = &job.metrics {
            metrics.job_run("expiry_alerts", result.is_ok());
        }
        match result {
            Ok(report) if report != expiry_alerts::RunReport::default() => {
                tracing::info!(
                    queued = report.queued,
                    sent = report.sent,
                    failed = report.failed,
                    cancelled = report.cancelled,
                    "expiry alerts"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the expiry alert job failed; it runs again at the next interval")
            }
        }
    }
}
