//! Scheduled jobs. Each job is a plain `run_once(…, now)` that tests call with a
//! fixed clock; the scheduler loop here only calls it on an interval.

pub mod expiry_alerts;

use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::startup::AppState;

/// Runs the expiry alert job every `interval`, starting now, until aborted.
pub async fn schedule_expiry_alerts(state: actix_web::web::Data<AppState>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mailer = Arc::clone(&state.mailer);
        let url = state.settings.public_url.to_string();
        match expiry_alerts::run_once(
            &state.db,
            &mailer,
            &state.organization_id,
            &url,
            &state.instance_id,
            clock::now(),
        )
        .await
        {
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
