//! `GET /metrics` for Prometheus, on its own address (`KEYWARD_METRICS_BIND`),
//! never on the public port: what the middleware, the credential check, the
//! mailer and the jobs counted, and the states read now (the database pool,
//! the alert queue, the verifier's cache).

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::db::models::alert;
use crate::metrics::Snapshot;
use crate::state::AppState;

/// The text exposition format's media type (version 0.0.4).
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let Some(metrics) = state.metrics.clone() else {
        return HttpResponse::NotFound().finish();
    };
    // A database that does not answer is a metric, not a failed scrape.
    let (alerts_pending, alerts_failed) = match state.read(alert::queue_counts).await {
        Ok(counts) => counts,
        Err(e) => {
            crate::warn_limited!("metrics_alerts", error = %e, "the alert queue could not be read for the metrics");
            (0, 0)
        }
    };
    let pool = state.db.pool_state();
    let (cache_hits, cache_misses) = state.verifier.cache_stats();
    let snapshot = Snapshot {
        pool_max: pool.max,
        pool_connections: pool.connections,
        pool_idle: pool.idle,
        pool_waits: pool.waits,
        pool_wait_seconds: pool.wait_micros as f64 / 1e6,
        database_up: state.verifier.database_up(),
        cache_hits,
        cache_misses,
        alerts_pending,
        alerts_failed,
        log_dropped: state.verifier.usage().map_or(0, |u| u.dropped()),
        log_capped: state.verifier.usage().map_or(0, |u| u.capped()),
        log_lines_dropped: crate::telemetry::dropped_lines(),
    };
    match metrics.render(&snapshot) {
        Ok(text) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, TEXT_FORMAT))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
