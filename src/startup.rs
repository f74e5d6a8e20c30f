//! Builds the application from [`Settings`]: keys, database (migrated), the first
//! admin or a setup link, sessions, middleware, routes and the listener. The binary
//! and the tests boot the very same [`Application`].

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_web::cookie::SameSite;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::auth::{DbSessionStore, PasswordHasher, Verifier};
use crate::clock;
use crate::config::Settings;
use crate::db::models::{
    Actor, Admin, Change, Organization, change, session as session_rows, setup_token,
};
use crate::db::{DbError, is_unique_violation};
use crate::email::Mailer;
use crate::routes;
use crate::routes::middleware;
use crate::secrets::{random_token, sha256_hex};
use crate::services::{self, OpError};
use crate::state::{AppState, OpenError, open};

/// Start-up failed; the message is for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database or the secret key file.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A query during start-up.
    #[error("database error during start-up: {0}")]
    Query(#[from] DbError),
    /// The listener.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// A built, listening server, ready to run.
pub struct Application {
    port: u16,
    server: Server,
    /// `GET /metrics` on its own address, and its port.
    metrics_server: Option<(Server, u16)>,
    signals: StopSignals,
    state: web::Data<AppState>,
    setup_link: Option<String>,
}

/// The stop signals, listened for from before the server accepts its first
/// connection: otherwise a SIGTERM sent as soon as the server answers could
/// still meet the default action and kill it mid-request.
struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for a signal: true for SIGTERM (finish requests in flight), false
    /// for SIGINT (stop now).
    async fn next(mut self) -> bool {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => {
                    tracing::info!("SIGTERM received: finishing requests in flight");
                    true
                }
                _ = self.interrupt.recv() => {
                    tracing::info!("SIGINT received: stopping");
                    false
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            false
        }
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds everything and binds the listener (port 0 picks a free port).
    pub async fn build(mut settings: Settings) -> Result<Self, StartupError> {
        let (db, master_key) = open(&settings).await?;
        let workers = settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        // Half the cores hash at most, so a flood of sign-ins leaves the API a core.
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let (cost, hashes) = (
            settings.hash_cost,
            settings.hash_concurrency.unwrap_or((cores / 2).max(1)),
        );
        let hasher = tokio::task::spawn_blocking(move || PasswordHasher::new(cost, hashes))
            .await
            .map_err(|e| StartupError::Other(e.to_string()))?
            .map_err(|e| StartupError::Other(e.to_string()))?;

        let addr = settings.bind;
        let listener = TcpListener::bind(addr).map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Other(e.to_string()))?
            .port();
        // A defaulted public URL on port 0 names the port actually bound.
        if settings.public_url.port() == Some(0) {
            let _ = settings.public_url.set_port(Some(port));
        }

        let digest_key = master_key.digest_key();
        let issuer = settings.issuer();
        let verifier = Arc::new(
            Verifier::new(
                db.clone(),
                digest_key.clone(),
                issuer.clone(),
                settings.count_usage,
                usize::try_from(settings.cached_credentials).unwrap_or(usize::MAX),
            )
            .await?,
        );
        let metrics = settings
            .metrics_bind
            .map(|_| Arc::new(crate::metrics::Metrics::new(db.backend())));
        let mailer = Arc::new(
            Mailer::from_settings(&settings)
                .map_err(|e| StartupError::Other(e.to_string()))?
                .with_metrics(metrics.clone()),
        );
        let outbound = crate::outbound::Outbound::new(settings.webhooks_allow_loopback)
            .map_err(|e| StartupError::Other(format!("the webhook client: {e}")))?;
        let passkeys =
            crate::auth::passkeys::relying_party(&settings.public_url).map(crate::state::Passkeys);
        let state = web::Data::new(AppState {
            passkeys,
            settings: Arc::new(settings),
            db,
            hasher,
            digest_key,
            sealing_key: master_key.sealing_key(),
            signers: crate::jwt::Signers::default(),
            issuer,
            verifier,
            mailer,
            instance_id: random_token::<9>(),
            refusals: crate::telemetry::Limiter::new(10, Duration::from_secs(60)),
            master_key: Arc::new(master_key),
            metrics,
            outbound,
            webhook_wake: Arc::new(tokio::sync::Notify::new()),
        });
        let setup_link = ensure_first_admin(&state).await?;
        ensure_signing_keys(&state).await?;
        let signals = StopSignals::listen().map_err(|e| StartupError::Other(e.to_string()))?;
        let server = http_server(listener, state.clone(), workers)?;
        let metrics_server = match state.settings.metrics_bind {
            Some(addr) => Some(metrics_server(addr, state.clone())?),
            None => None,
        };
        Ok(Self {
            port,
            server,
            metrics_server,
            signals,
            state,
            setup_link,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `GET /metrics` is served on, when metrics are kept.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// The one-time setup link, when the server started without any admin.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    /// The shared state (tests use its database).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT, finishing requests in flight, with the
    /// housekeeping loop beside it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (handle, signals) = (self.server.handle(), self.signals);
        let stopper = tokio::spawn(async move {
            let graceful = signals.next().await;
            handle.stop(graceful).await;
        });
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let log_drops = tokio::spawn(crate::telemetry::report_dropped_lines());
        let metrics_server = self.metrics_server.map(|(server, _)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let verifier = tokio::spawn(Arc::clone(&self.state.verifier).run_background());
        let alerts = self.state.settings.run_scheduler.then(|| {
            tokio::spawn(crate::jobs::schedule_expiry_alerts(
                crate::jobs::AlertJob {
                    db: self.state.db.clone(),
                    mailer: Arc::clone(&self.state.mailer),
                    public_url: self.state.settings.public_url.to_string(),
                    worker: self.state.instance_id.clone(),
                    metrics: self.state.metrics.clone(),
                },
                self.state.settings.alert_interval,
            ))
        });
        let webhooks = self.state.settings.run_scheduler.then(|| {
            tokio::spawn(crate::jobs::webhooks::schedule(
                crate::jobs::webhooks::WebhookJob {
                    db: self.state.db.clone(),
                    outbound: self.state.outbound.clone(),
                    sealing: self.state.sealing_key.clone(),
                    mailer: Arc::clone(&self.state.mailer),
                    public_url: self.state.settings.public_url.to_string(),
                    worker: self.state.instance_id.clone(),
                    schedule: Arc::new(self.state.settings.webhook_retry_schedule.clone()),
                    metrics: self.state.metrics.clone(),
                },
                Arc::clone(&self.state.webhook_wake),
                Duration::from_secs(1),
            ))
        });
        let result = self.server.await;
        if let Some(webhooks) = webhooks {
            webhooks.abort();
        }
        if let Some((task, handle)) = metrics_server {
            handle.stop(true).await;
            let _ = task.await;
        }
        stopper.abort();
        housekeeping.abort();
        log_drops.abort();
        verifier.abort();
        if let Some(alerts) = alerts {
            alerts.abort();
        }
        crate::telemetry::report_dropped_now();
        // Requests served since the last flush still count as uses.
        if let Err(e) = self.state.verifier.flush_usage().await {
            tracing::warn!(error = %e, "could not record the last key uses");
        }
        result
    }
}

/// `keyward serve`: builds the application and serves until SIGTERM or SIGINT.
pub fn serve(settings: Settings) -> std::process::ExitCode {
    actix_web::rt::System::new().block_on(async move {
        let app = match Application::build(settings).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("keyward: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let state = app.state();
        tracing::info!(
            url = %state.settings.public_url,
            bind = %state.settings.bind,
            database = state.db.backend(),
            "Keyward is serving"
        );
        match app.run_until_stopped().await {
            Ok(()) => {
                tracing::info!("stopped");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("keyward: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}

/// Creates the first admin from the settings, or prints a one-time setup link,
/// when no admin exists yet.
/// Every organization gets its token signing key at first start.
async fn ensure_signing_keys(state: &web::Data<AppState>) -> Result<(), StartupError> {
    let sealing = state.sealing_key.clone();
    state
        .op(move |conn| {
            for org in crate::db::models::Organization::list_ids(conn)? {
                crate::services::signing_keys::ensure(conn, &org, &sealing)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| StartupError::Other(format!("token signing keys: {e}")))
}

async fn ensure_first_admin(state: &web::Data<AppState>) -> Result<Option<String>, StartupError> {
    let count = state.read(Admin::count).await?;
    if count > 0 {
        if state.settings.bootstrap_admin.is_some() {
            tracing::info!("KEYWARD_ADMIN_EMAIL is ignored: admins exist already");
        }
        return Ok(None);
    }
    if let Some((email, password)) = state.settings.bootstrap_admin.clone() {
        let hash = state
            .hasher
            .hash(password.expose())
            .await
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let created = state
            .op(move |conn| {
                // The installation's first organization: the one a new server makes.
                let org = Organization::the_one(conn)?;
                let actor = Actor::system("KEYWARD_ADMIN_EMAIL");
                services::admins::create_first(conn, &org.id, &email, &hash, &actor)
            })
            .await;
        match created {
            Ok(Some(_)) => tracing::info!("created the first admin from KEYWARD_ADMIN_EMAIL"),
            Ok(None) => {}
            // Another instance created it at the same moment.
            Err(OpError::Db(DbError::Query(e))) if is_unique_violation(&e) => {}
            Err(OpError::Db(e)) => return Err(e.into()),
            Err(e) => return Err(StartupError::Other(e.to_string())),
        }
        return Ok(None);
    }
    let token = random_token::<32>();
    let hash = sha256_hex(token.as_bytes());
    state
        .db
        .run(move |conn| setup_token::insert(conn, &hash, clock::now()).map_err(DbError::from))
        .await?;
    let link = state.settings.url_for(&format!("/setup?token={token}"));
    // The link is a credential: into a file only its owner can read, never into
    // the log, which collectors copy elsewhere.
    let file = state.settings.setup_link_file();
    write_private(&file, &format!("{link}\n"))
        .map_err(|e| StartupError::Other(format!("cannot write {}: {e}", file.display())))?;
    tracing::warn!(
        file = %file.display(),
        "no admin exists yet: the one-time setup link (valid for an hour) is in this file; \
         or set KEYWARD_ADMIN_EMAIL and KEYWARD_ADMIN_PASSWORD, or run `keyward admin create`"
    );
    eprintln!(
        "\n  No admin exists yet. The one-time setup link that creates the first one\n  \
         (valid for an hour) is in {}\n",
        file.display()
    );
    Ok(Some(link))
}

/// Writes `text` to a new file at `path` that only its owner can read (0600).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Periodic cleanup: lapsed sessions, the sign-in throttle's leftovers, the
/// tokens' leftovers.
async fn housekeeping(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        let max = state.settings.session_max;
        let result = state
            .db
            .run(move |conn| {
                let now = clock::now();
                session_rows::delete_expired(conn, now, now - max).map_err(DbError::from)
            })
            .await;
        match &result {
            Ok(n) if *n > 0 => tracing::debug!(removed = n, "removed lapsed sessions"),
            Ok(_) => {}
            Err(e) => crate::warn_limited!("session_cleanup", error = %e, "session cleanup failed"),
        }
        // Refusals not yet summarised in the audit trail, and idle throttle rows.
        let tidied = state
            .op(|conn| crate::services::sign_in::tidy(conn, clock::now()))
            .await;
        if let Err(e) = tidied {
            tracing::warn!(error = %e, "sign-in throttle cleanup failed");
        }
        // Sealed successors past their grace, lapsed revocations, old sign-ins.
        let tidied = state
            .op(|conn| crate::services::tokens::tidy(conn, clock::now()))
            .await;
        if let Err(e) = tidied {
            tracing::warn!(error = %e, "token cleanup failed");
        }
        // Authorization codes past any replay, hosted sessions long over.
        let tidied = state
            .op(|conn| crate::services::hosted::tidy(conn, clock::now()))
            .await;
        if let Err(e) = tidied {
            tracing::warn!(error = %e, "hosted sign-in cleanup failed");
        }
        // Retired keys past the organization's retention.
        match state
            .op(|conn| crate::services::keys::forget_retired(conn, clock::now()))
            .await
        {
            Ok(n) if n > 0 => {
                tracing::info!(forgotten = n, "retired keys past their retention forgotten")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retired key cleanup failed"),
        }
        // Usage buckets and request log rows past their retention or cap.
        let pruned = state
            .op(|conn| crate::services::usage::prune(conn, clock::now()))
            .await;
        match &pruned {
            Ok(n) if *n > 0 => tracing::debug!(forgotten = n, "old usage and log rows forgotten"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "usage and request log cleanup failed"),
        }
        // Answers kept for Idempotency-Key retries, after a day.
        if let Err(e) = state
            .op(|conn| crate::services::admin_tokens::prune_idempotency(conn, clock::now()))
            .await
        {
            tracing::warn!(error = %e, "idempotency key cleanup failed");
        }
        // Admin links used or lapsed a week ago, WebAuthn ceremonies never finished.
        if let Err(e) = state
            .op(|conn| crate::services::admins::tidy(conn, clock::now()))
            .await
        {
            tracing::warn!(error = %e, "admin link cleanup failed");
        }
        // Change feed rows every instance has long read: one that could not
        // read them in time finds the gap and drops its whole cache.
        let feed = state
            .db
            .run(|conn| {
                Change::prune(conn, clock::now() - change::RETENTION).map_err(DbError::from)
            })
            .await;
        if let Err(e) = feed {
            tracing::warn!(error = %e, "change feed cleanup failed");
        }
        // Webhook events and deliveries older than 30 days.
        match state
            .op(|conn| crate::services::webhooks::prune(conn, clock::now()))
            .await
        {
            Ok(n) if n > 0 => tracing::debug!(forgotten = n, "old webhook events forgotten"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook event cleanup failed"),
        }
        if let Some(metrics) = &state.metrics {
            metrics.job_run("housekeeping", pruned.is_ok() && result.is_ok());
        }
    }
}

/// The operators' server: `GET /metrics` and nothing else, one worker, on
/// its own address.
fn metrics_server(
    addr: std::net::SocketAddr,
    state: web::Data<AppState>,
) -> Result<(Server, u16), StartupError> {
    let listener = TcpListener::bind(addr).map_err(|source| StartupError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| StartupError::Other(e.to_string()))?
        .port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(routes::metrics::metrics))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(2)
    .listen(listener)
    .map_err(|source| StartupError::Bind {
        addr: addr.to_string(),
        source,
    })?
    .run();
    Ok((server, port))
}

fn http_server(
    listener: TcpListener,
    state: web::Data<AppState>,
    workers: usize,
) -> Result<Server, StartupError> {
    let settings = Arc::clone(&state.settings);
    let https = settings.is_https();
    let debug_routes = settings.debug_routes;
    let cookie_key = state.master_key.cookie_key();
    let store = DbSessionStore::new(state.db.clone(), settings.session_max);
    let idle = actix_web::cookie::time::Duration::seconds(
        i64::try_from(settings.session_idle.as_secs()).unwrap_or(1800),
    );
    let cookie_name = if https {
        "__Host-keyward_session"
    } else {
        "keyward_session"
    };

    let server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(store.clone(), cookie_key.clone())
            .cookie_name(cookie_name.to_owned())
            .cookie_secure(https)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".to_owned())
            .cookie_content_security(CookieContentSecurity::Signed)
            .session_lifecycle(
                BrowserSession::default()
                    .state_ttl(idle)
                    .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
            )
            .build();
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(middleware::MAX_FORM_BYTES))
            .wrap(from_fn(middleware::every_response))
            // The API first: its requests are the hot path, matched before any
            // pattern with a regex.
            .service(
                web::scope("/api")
                    .configure(|cfg| {
                        if debug_routes {
                            cfg.route("/__debug/panic", web::get().to(routes::health::debug_panic));
                        }
                    })
                    .configure(routes::api::configure)
                    .default_service(web::to(routes::api::not_found)),
            )
            .configure(routes::public)
            .configure(|cfg| {
                if debug_routes {
                    cfg.route("/__debug/panic", web::get().to(routes::health::debug_panic));
                }
            })
            .service(
                web::scope("")
                    .wrap(from_fn(middleware::guard_console_requests))
                    .wrap(sessions)
                    .wrap(from_fn(middleware::session_store_outage))
                    .configure(routes::console)
                    .default_service(web::to(routes::not_found)),
            )
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(10)
    .client_request_timeout(Duration::from_secs(10))
    .listen(listener)
    .map_err(|source| StartupError::Bind {
        addr: "listener".to_owned(),
        source,
    })?
    .run();
    Ok(server)
}
