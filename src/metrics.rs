//! The server's metrics for operators, in the Prometheus text format (served
//! on `KEYWARD_METRICS_BIND` only, never on the public port), kept with the
//! `prometheus-client` crate: one registry per server, no global.
//!
//! What happens per request or per event is counted where it happens (the
//! request middleware, the credential check's answer, the mailer, the job
//! loops); what is a state (the database pool, the alert queue, the
//! verifier's cache) is read when scraped ([`Snapshot`]).

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The answer's latency buckets, in seconds: from half a millisecond (the
/// credential check) to ten seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    credential: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    backend: &'static str,
}

/// What is read when the metrics are scraped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The pool's most connections.
    pub pool_max: u32,
    /// Connections open now.
    pub pool_connections: u32,
    /// Of them, idle.
    pub pool_idle: u32,
    /// Checkouts that had to wait for a connection, since the start.
    pub pool_waits: u64,
    /// Seconds spent waiting for a connection, since the start.
    pub pool_wait_seconds: f64,
    /// Whether the last poll of the database succeeded.
    pub database_up: bool,
    /// Credential checks answered from the cache, and read from the database.
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Expiry alerts waiting to be sent, and refused for good.
    pub alerts_pending: i64,
    pub alerts_failed: i64,
    /// Request log rows dropped because the queue was full.
    pub log_dropped: u64,
    /// Requests of flooding keys counted but not logged one by one.
    pub log_capped: u64,
    /// Log lines dropped because the log writer fell behind.
    pub log_lines_dropped: u64,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    http: Family<HttpLabels, Histogram>,
    auth: Family<AuthLabels, Counter>,
    cache: Family<ResultLabels, Counter>,
    pool_max: Gauge,
    pool_connections: Gauge,
    pool_in_use: Gauge,
    pool_waits: Counter,
    pool_wait_seconds: Counter<f64, AtomicU64>,
    database_up: Gauge,
    alerts: Family<StatusLabels, Gauge>,
    mail: Family<OutcomeLabels, Counter>,
    webhooks: Family<OutcomeLabels, Counter>,
    jobs: Family<JobLabels, Counter>,
    log_dropped: Counter,
    log_capped: Counter,
    log_lines_dropped: Counter,
    /// One scrape at a time: scrape-time counters move by their difference.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// A method as a label: the standard ones, else `OTHER` (a client must not
/// grow the label set).
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

impl Metrics {
    /// Every metric, registered; `backend` names the database in the build
    /// info.
    pub fn new(backend: &'static str) -> Self {
        let mut registry = Registry::default();
        let http = Family::<HttpLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "keyward_http_request_duration_seconds",
            "HTTP requests answered, by route pattern, method and status, and how long each took",
            http.clone(),
        );
        let auth = Family::<AuthLabels, Counter>::default();
        registry.register(
            "keyward_auth_decisions",
            "Credential checks of /api requests, by credential type and outcome (allowed, or the error code)",
            auth.clone(),
        );
        let cache = Family::<ResultLabels, Counter>::default();
        registry.register(
            "keyward_verifier_cache_lookups",
            "Credentials looked up in the verifier's cache: hit, or miss (read from the database)",
            cache.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "keyward_db_pool_max_connections",
            "The most connections the database pool opens",
            pool_max.clone(),
        );
        let pool_connections = Gauge::default();
        registry.register(
            "keyward_db_pool_connections",
            "Database connections open",
            pool_connections.clone(),
        );
        let pool_in_use = Gauge::default();
        registry.register(
            "keyward_db_pool_in_use",
            "Database connections checked out now",
            pool_in_use.clone(),
        );
        let pool_waits = Counter::default();
        registry.register(
            "keyward_db_pool_waits",
            "Checkouts that waited for a free database connection",
            pool_waits.clone(),
        );
        let pool_wait_seconds = Counter::<f64, AtomicU64>::default();
        registry.register(
            "keyward_db_pool_wait_seconds",
            "Time spent waiting for a free database connection",
            pool_wait_seconds.clone(),
        );
        let database_up = Gauge::default();
        registry.register(
            "keyward_database_up",
            "1 when the last poll of the database (four times a second) succeeded, else 0",
            database_up.clone(),
        );
        let alerts = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "keyward_expiry_alerts",
            "Expiry alert emails in the ledger: pending (to send or retry) and failed (refused for good)",
            alerts.clone(),
        );
        let mail = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "keyward_emails",
            "Emails handed to the mail server or outbox: sent, rejected (refused for good) or failed (to retry)",
            mail.clone(),
        );
        let webhooks = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "keyward_webhook_attempts",
            "Webhook delivery attempts: succeeded (a 2xx answer) or failed (to retry, or failed for good)",
            webhooks.clone(),
        );
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register(
            "keyward_job_runs",
            "Runs of the scheduled jobs, by job and outcome (ok or error)",
            jobs.clone(),
        );
        let log_dropped = Counter::default();
        registry.register(
            "keyward_request_log_dropped",
            "Request log rows dropped because more were queued between two flushes than the queue holds",
            log_dropped.clone(),
        );
        let log_capped = Counter::default();
        registry.register(
            "keyward_request_log_capped",
            "Requests counted in usage but not logged one by one: their key had already logged its share between two flushes",
            log_capped.clone(),
        );
        let log_lines_dropped = Counter::default();
        registry.register(
            "keyward_log_lines_dropped",
            "Log lines dropped because the log writer fell behind and its queue was full (each drop is also reported in a warning line)",
            log_lines_dropped.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                backend,
            })
            .set(1);
        registry.register(
            "keyward_build_info",
            "Always 1; its labels name the version and the database backend",
            build,
        );
        // Every series that should exist from the start, at zero.
        for result in ["hit", "miss"] {
            drop(cache.get_or_create(&ResultLabels { result }));
        }
        for outcome in ["sent", "rejected", "failed"] {
            drop(mail.get_or_create(&OutcomeLabels { outcome }));
        }
        for outcome in ["succeeded", "failed"] {
            drop(webhooks.get_or_create(&OutcomeLabels { outcome }));
        }
        Self {
            registry,
            http,
            auth,
            cache,
            pool_max,
            pool_connections,
            pool_in_use,
            pool_waits,
            pool_wait_seconds,
            database_up,
            alerts,
            mail,
            webhooks,
            jobs,
            log_dropped,
            log_capped,
            log_lines_dropped,
            scrape: Mutex::new(()),
        }
    }

    /// One answered HTTP request.
    pub fn http_request(&self, route: String, method: &str, status: u16, seconds: f64) {
        self.http
            .get_or_create(&HttpLabels {
                route,
                method: method_label(method),
                status,
            })
            .observe(seconds);
    }

    /// One credential check's outcome: `allowed`, or the error code.
    pub fn auth_decision(&self, credential: &'static str, outcome: &'static str) {
        self.auth
            .get_or_create(&AuthLabels {
                credential,
                outcome,
            })
            .inc();
    }

    /// One email's outcome: `sent`, `rejected` or `failed`.
    pub fn email(&self, outcome: &'static str) {
        self.mail.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// One webhook delivery attempt.
    pub fn webhook_attempt(&self, succeeded: bool) {
        self.webhooks
            .get_or_create(&OutcomeLabels {
                outcome: if succeeded { "succeeded" } else { "failed" },
            })
            .inc();
    }

    /// One run of a scheduled job.
    pub fn job_run(&self, job: &'static str, ok: bool) {
        self.jobs
            .get_or_create(&JobLabels {
                job,
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
    }

    /// The text a scrape gets, with the states read now.
    pub fn render(&self, now: &Snapshot) -> Result<String, std::fmt::Error> {
        let _one = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        let gauge = |g: &Gauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        gauge(&self.pool_max, u64::from(now.pool_max));
        gauge(&self.pool_connections, u64::from(now.pool_connections));
        gauge(
            &self.pool_in_use,
            u64::from(now.pool_connections.saturating_sub(now.pool_idle)),
        );
        self.database_up.set(i64::from(now.database_up));
        follow(&self.pool_waits, now.pool_waits);
        let waited = now.pool_wait_seconds - self.pool_wait_seconds.get();
        if waited > 0.0 {
            self.pool_wait_seconds.inc_by(waited);
        }
        follow(
            &self.cache.get_or_create(&ResultLabels { result: "hit" }),
            now.cache_hits,
        );
        follow(
            &self.cache.get_or_create(&ResultLabels { result: "miss" }),
            now.cache_misses,
        );
        self.alerts
            .get_or_create(&StatusLabels { status: "pending" })
            .set(now.alerts_pending);
        self.alerts
            .get_or_create(&StatusLabels { status: "failed" })
            .set(now.alerts_failed);
        follow(&self.log_dropped, now.log_dropped);
        follow(&self.log_capped, now.log_capped);
        follow(&self.log_lines_dropped, now.log_lines_dropped);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Moves a counter up to a total kept elsewhere.
fn follow(counter: &Counter, total: u64) {
    let behind = total.saturating_sub(counter.get());
    if behind > 0 {
        counter.inc_by(behind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_metric_and_follows_the_states() {
        let metrics = Metrics::new("sqlite");
        metrics.http_request("/api/v2/services".to_owned(), "GET", 200, 0.002);
        metrics.http_request("/api/v2/services".to_owned(), "BREW", 405, 0.001);
        metrics.auth_decision("api_key", "allowed");
        metrics.email("sent");
        metrics.job_run("expiry_alerts", true);
        let snapshot = Snapshot {
            pool_max: 10,
            pool_connections: 3,
            pool_idle: 1,
            cache_hits: 7,
            ..Snapshot::default()
        };
        let text = metrics.render(&snapshot).unwrap_or_default();
        for line in [
            r#"keyward_http_request_duration_seconds_count{route="/api/v2/services",method="GET",status="200"} 1"#,
            r#"method="OTHER",status="405""#,
            r#"keyward_auth_decisions_total{credential="api_key",outcome="allowed"} 1"#,
            r#"keyward_verifier_cache_lookups_total{result="hit"} 7"#,
            "keyward_db_pool_in_use 2",
            r#"keyward_emails_total{outcome="sent"} 1"#,
            r#"keyward_job_runs_total{job="expiry_alerts",outcome="ok"} 1"#,
            r#"keyward_build_info{version=""#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        // A later scrape moves the counters by the difference only.
        let text = metrics
            .render(&Snapshot {
                cache_hits: 9,
                ..snapshot
            })
            .unwrap_or_default();
        assert!(text.contains(r#"keyward_verifier_cache_lookups_total{result="hit"} 9"#));
    }
}
