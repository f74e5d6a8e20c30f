//! Settings, read once from the environment, validated, then passed in.
//!
//! Nothing else in the crate reads environment variables: every component receives
//! the part of [`Settings`] it needs. A bad value is a [`ConfigError`] naming the
//! variable; `main` prints it on one line and exits with code 2.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::domain::{EmailAddress, Password};

/// The environment variables, as `--help` lists them.
pub const ENV_HELP: &str = "\
Environment variables:
  KEYWARD_BIND                  address to listen on [default: 127.0.0.1:8080]
  KEYWARD_PUBLIC_URL            the URL people reach the server at, used in links, for
                                Secure cookies and HSTS when https [default: http://<bind>]
  KEYWARD_DATA_DIR              folder for the SQLite database, the generated secret key
                                and the mail outbox [default: ./data]
  KEYWARD_DATABASE_URL          sqlite://<path> or postgres://user@host/db
                                [default: sqlite://<data dir>/keyward.sqlite3]
  KEYWARD_DATABASE_POOL_SIZE    connections per instance, 1-100 [default: 10]
  KEYWARD_CACHED_CREDENTIALS    verified keys and access tokens each instance keeps in
                                memory, 1000-10000000 [default: 250000]
  KEYWARD_SECRET_KEY            at least 32 characters; signs cookies and keys the API key
                                digests. Several instances must share it. When unset, one
                                is generated in the data folder on first start.
  KEYWARD_ADMIN_EMAIL           with KEYWARD_ADMIN_PASSWORD: the first full-access admin,
  KEYWARD_ADMIN_PASSWORD        created when there is no admin yet
  KEYWARD_SESSION_IDLE_MINUTES  sign out after this much inactivity [default: 30]
  KEYWARD_SESSION_MAX_HOURS     sign out this long after sign-in, active or not [default: 12]
  KEYWARD_TRUSTED_PROXIES       comma-separated IPs or CIDRs of reverse proxies whose
                                X-Forwarded-For is believed [default: none]
  KEYWARD_SMTP_URL              mail server, e.g. smtps://user:pass@smtp.example.com or
                                smtp://smtp.example.com:587?tls=required; when unset,
                                emails are written as .eml files to <data dir>/outbox
  KEYWARD_MAIL_FROM             sender of the emails [default: Keyward <keyward@localhost>]
  KEYWARD_SMTP_TIMEOUT_SECONDS  the most one email may take with the mail server, every
                                command included, 1-30 [default: 30]
  KEYWARD_ALERT_INTERVAL_MINUTES  how often the expiry alert job runs, 1-1440 [default: 10]
  KEYWARD_WORKERS               HTTP worker threads, 1-64 [default: one per core]
  KEYWARD_HASH_CONCURRENCY      password hashes at once, 1-64; keep it below the core
                                count so sign-ins leave the API a core [default: half
                                the cores, at least 1]
  KEYWARD_ARGON2_MEMORY_KIB     argon2id memory per hash [default: 19456]; raising a
  KEYWARD_ARGON2_ITERATIONS     cost renews each admin's hash at the next sign-in
  KEYWARD_ARGON2_PARALLELISM    [defaults: 2 iterations, 1 lane]
  KEYWARD_LOG                   log filter, e.g. info, keyward=debug, or
                                info,keyward::request=warn (no line per request) [default: info]
  KEYWARD_LOG_FORMAT            text or json [default: text]
  KEYWARD_LOG_BUFFER_LINES      log lines queued for the writer, 100-10000000; past them
                                lines are dropped, counted and reported [default: 128000]
  KEYWARD_API_ACCESS_LOG        which /api requests get a log line: all, refused (status
                                400 and above) or none [default: all]
  KEYWARD_USAGE                 on or off: count each key's requests and keep the request
                                log [default: on]
  KEYWARD_METRICS_BIND          address of GET /metrics (Prometheus), never the public
                                port, e.g. 127.0.0.1:9090 [default: none, no metrics]
  KEYWARD_OTLP_ENDPOINT         OpenTelemetry collector (OTLP/HTTP) to export request
                                spans to, e.g. http://127.0.0.1:4318 [default: none]
  KEYWARD_WEBHOOKS_ALLOW_LOOPBACK
                                1: webhooks may go to this machine (never to private,
                                link-local or metadata addresses) [default: 0]
  KEYWARD_WEBHOOKS_RETRY_SCHEDULE
                                delays before each webhook retry
                                [default: 5s 5m 30m 2h 5h 10h 10h]";

/// The argon2id cost, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashCost {
    /// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Which `/api` requests get a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLog {
    /// Every one (the console's always do).
    All,
    /// Only those answered with an error (status 400 and above).
    Refused,
    /// None.
    None,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The variable at fault.
    pub var: &'static str,
    /// What is wrong with it, never its value when it is a secret.
    pub message: String,
}

impl ConfigError {
    fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self {
            var,
            message: message.into(),
        }
    }
}

/// Where the data lives, chosen by the URL's scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file (bundled SQLite: nothing to install).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://path`, `sqlite:path` or `postgres(ql)://...`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Url::parse(raw).map_err(|e| format!("not a valid PostgreSQL URL ({e})"))?;
            return Ok(Self::Postgres(raw.to_owned()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                "expected sqlite://<path> or postgres://<user>@<host>/<database>".to_owned()
            })?;
        if path.is_empty() || path.contains(":memory:") || path.starts_with("file:") {
            return Err(
                "a SQLite URL needs a file path (an in-memory database would lose everything)"
                    .to_owned(),
            );
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// The backend's name, for logs and the readiness check.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// Everything the server needs to know, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free one (the tests do).
    pub bind: SocketAddr,
    /// Public base URL, without a trailing slash.
    pub public_url: Url,
    /// Folder for the generated secret key, the SQLite file and the outbox.
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    /// Pool size per instance.
    pub pool_size: u32,
    /// How many verified credentials each instance caches: above the number
    /// in use, or the cache evicts ones still wanted.
    pub cached_credentials: u32,
    /// The master secret, when configured; otherwise one is kept in `data_dir`.
    pub secret_key: Option<SecretString>,
    /// The first admin, created when there is none.
    pub bootstrap_admin: Option<(EmailAddress, Password)>,
    /// Idle session timeout.
    pub session_idle: Duration,
    /// Absolute session timeout.
    pub session_max: Duration,
    /// Proxies whose `X-Forwarded-For` is trusted.
    pub trusted_proxies: Vec<IpNet>,
    /// Log filter directive.
    pub log_filter: String,
    /// Emit JSON log lines instead of text.
    pub log_json: bool,
    /// Log lines queued for the writer thread before lines are dropped (and
    /// counted).
    pub log_buffer_lines: usize,
    /// HTTP worker threads; `None` is one per core.
    pub workers: Option<usize>,
    /// The mail server; `None` writes emails to the outbox folder.
    pub smtp_url: Option<SecretString>,
    /// The sender of emails.
    pub mail_from: String,
    /// How long one email may take with the mail server, every command included.
    pub smtp_timeout: Duration,
    /// How often the expiry alert job runs.
    pub alert_interval: Duration,
    /// Whether this server runs the scheduled jobs (tests call them directly).
    pub run_scheduler: bool,
    /// The argon2id cost of new password hashes; older hashes are renewed at
    /// the next sign-in.
    pub hash_cost: HashCost,
    /// Which `/api` requests are logged.
    pub api_access_log: AccessLog,
    /// Whether each key's requests are counted and the request log kept
    /// (`KEYWARD_USAGE=off` turns both off, to measure what they cost).
    pub count_usage: bool,
    /// Where `GET /metrics` is served (Prometheus text format), apart from
    /// the public port; `None` (the default): no metrics.
    pub metrics_bind: Option<SocketAddr>,
    /// The OTLP/HTTP collector request spans are exported to (its base URL);
    /// `None` (the default): none.
    pub otlp_endpoint: Option<Url>,
    /// Routes that exist for the test suite only (a handler that panics, so
    /// the answer to a panic can be checked). Never set from the environment.
    pub debug_routes: bool,
    /// Hashes running at once; below the core count, so sign-ins leave the API
    /// a core. `None`: half the cores, at least one.
    pub hash_concurrency: Option<usize>,
    /// Whether webhooks may go to this machine (`http://127.0.0.1:…`): for
    /// a receiver on the same host, and the tests. Private, link-local and
    /// metadata addresses stay refused.
    pub webhooks_allow_loopback: bool,
    /// The delay before each retry of a failed webhook delivery.
    pub webhook_retry_schedule: Vec<time::Duration>,
}

/// The retries of a webhook delivery by default (the Standard Webhooks
/// specification's suggested schedule): about a day and a quarter in all.
pub const DEFAULT_WEBHOOK_RETRIES: &str = "5s 5m 30m 2h 5h 10h 10h";

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the settings through `lookup`, so tests can pass a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| -> Result<Option<String>, ConfigError> {
            match lookup(var) {
                None => Ok(None),
                Some(value) => value
                    .into_string()
                    .map(|s| if s.is_empty() { None } else { Some(s) })
                    .map_err(|_| ConfigError::new(var, "is not valid UTF-8")),
            }
        };

        let bind_raw = get("KEYWARD_BIND")?.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind: SocketAddr = bind_raw.trim().parse().map_err(|_| {
            ConfigError::new(
                "KEYWARD_BIND",
                "expected an IP address and port, such as 127.0.0.1:8080 or 0.0.0.0:8080",
            )
        })?;

        let public_url = match get("KEYWARD_PUBLIC_URL")? {
            Some(raw) => parse_public_url(&raw)
                .map_err(|message| ConfigError::new("KEYWARD_PUBLIC_URL", message))?,
            None => default_public_url(bind),
        };

        let data_dir = PathBuf::from(get("KEYWARD_DATA_DIR")?.unwrap_or_else(|| "data".to_owned()));

        let database_url = match get("KEYWARD_DATABASE_URL")? {
            Some(raw) => DatabaseUrl::parse(&raw)
                .map_err(|message| ConfigError::new("KEYWARD_DATABASE_URL", message))?,
            None => DatabaseUrl::Sqlite(data_dir.join("keyward.sqlite3")),
        };

        let pool_size = parse_number(
            get("KEYWARD_DATABASE_POOL_SIZE")?,
            "KEYWARD_DATABASE_POOL_SIZE",
            10,
            1..=100,
        )?;

        let cached_credentials = parse_number(
            get("KEYWARD_CACHED_CREDENTIALS")?,
            "KEYWARD_CACHED_CREDENTIALS",
            250_000,
            1_000..=10_000_000,
        )?;

        let secret_key = match get("KEYWARD_SECRET_KEY")? {
            Some(raw) => {
                let chars = raw.chars().count();
                if chars < 32 {
                    return Err(ConfigError::new(
                        "KEYWARD_SECRET_KEY",
                        "must be at least 32 characters (try: openssl rand -base64 48)",
                    ));
                }
                if chars > 1024 {
                    return Err(ConfigError::new(
                        "KEYWARD_SECRET_KEY",
                        "must be at most 1024 characters",
                    ));
                }
                let distinct: std::collections::BTreeSet<u8> = raw.bytes().collect();
                if distinct.len() < 16 {
                    return Err(ConfigError::new(
                        "KEYWARD_SECRET_KEY",
                        "is too regular (fewer than 16 different characters); use a random one \
                         (try: openssl rand -base64 48)",
                    ));
                }
                Some(SecretString::from(raw))
            }
            None => None,
        };

        let bootstrap_admin = match (get("KEYWARD_ADMIN_EMAIL")?, get("KEYWARD_ADMIN_PASSWORD")?) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "KEYWARD_ADMIN_PASSWORD",
                    "is required when KEYWARD_ADMIN_EMAIL is set",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "KEYWARD_ADMIN_EMAIL",
                    "is required when KEYWARD_ADMIN_PASSWORD is set",
                ));
            }
            (Some(email), Some(password)) => {
                let email = EmailAddress::parse(&email)
                    .map_err(|e| ConfigError::new("KEYWARD_ADMIN_EMAIL", e.to_string()))?;
                let password = Password::parse_for(SecretString::from(password), &[email.as_str()])
                    .map_err(|e| ConfigError::new("KEYWARD_ADMIN_PASSWORD", e.to_string()))?;
                Some((email, password))
            }
        };

        let idle_minutes = parse_number(
            get("KEYWARD_SESSION_IDLE_MINUTES")?,
            "KEYWARD_SESSION_IDLE_MINUTES",
            30,
            1..=1440,
        )?;
        let max_hours = parse_number(
            get("KEYWARD_SESSION_MAX_HOURS")?,
            "KEYWARD_SESSION_MAX_HOURS",
            12,
            1..=720,
        )?;

        let trusted_proxies = match get("KEYWARD_TRUSTED_PROXIES")? {
            None => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(parse_ip_net)
                .collect::<Result<_, _>>()
                .map_err(|message| ConfigError::new("KEYWARD_TRUSTED_PROXIES", message))?,
        };

        let workers = match get("KEYWARD_WORKERS")? {
            None => None,
            some => usize::try_from(parse_number(some, "KEYWARD_WORKERS", 1, 1..=64)?).ok(),
        };
        let smtp_url = match get("KEYWARD_SMTP_URL")? {
            None => None,
            Some(raw) => {
                let url = Url::parse(raw.trim()).map_err(|_| {
                    ConfigError::new(
                        "KEYWARD_SMTP_URL",
                        "expected a URL like smtps://user:password@smtp.example.com",
                    )
                })?;
                if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
                    return Err(ConfigError::new(
                        "KEYWARD_SMTP_URL",
                        "must start with smtp:// or smtps:// and name a host",
                    ));
                }
                Some(SecretString::from(raw.trim().to_owned()))
            }
        };
        let mail_from =
            get("KEYWARD_MAIL_FROM")?.unwrap_or_else(|| "Keyward <keyward@localhost>".to_owned());
        mail_from.parse::<lettre::message::Mailbox>().map_err(|_| {
            ConfigError::new(
                "KEYWARD_MAIL_FROM",
                "expected an address like Keyward <keys@example.com>",
            )
        })?;
        let smtp_seconds = parse_number(
            get("KEYWARD_SMTP_TIMEOUT_SECONDS")?,
            "KEYWARD_SMTP_TIMEOUT_SECONDS",
            30,
            1..=30,
        )?;
        let alert_minutes = parse_number(
            get("KEYWARD_ALERT_INTERVAL_MINUTES")?,
            "KEYWARD_ALERT_INTERVAL_MINUTES",
            10,
            1..=1440,
        )?;
        let hash_cost = HashCost {
            memory_kib: parse_number(
                get("KEYWARD_ARGON2_MEMORY_KIB")?,
                "KEYWARD_ARGON2_MEMORY_KIB",
                HashCost::default().memory_kib,
                8192..=1_048_576,
            )?,
            iterations: parse_number(
                get("KEYWARD_ARGON2_ITERATIONS")?,
                "KEYWARD_ARGON2_ITERATIONS",
                HashCost::default().iterations,
                1..=20,
            )?,
            parallelism: parse_number(
                get("KEYWARD_ARGON2_PARALLELISM")?,
                "KEYWARD_ARGON2_PARALLELISM",
                HashCost::default().parallelism,
                1..=16,
            )?,
        };
        let hash_concurrency = match get("KEYWARD_HASH_CONCURRENCY")? {
            None => None,
            some => {
                usize::try_from(parse_number(some, "KEYWARD_HASH_CONCURRENCY", 1, 1..=64)?).ok()
            }
        };
        let api_access_log = match get("KEYWARD_API_ACCESS_LOG")?.as_deref().map(str::trim) {
            None | Some("all") => AccessLog::All,
            Some("refused") => AccessLog::Refused,
            Some("none") => AccessLog::None,
            Some(_) => {
                return Err(ConfigError::new(
                    "KEYWARD_API_ACCESS_LOG",
                    "expected all, refused or none",
                ));
            }
        };
        let count_usage = match get("KEYWARD_USAGE")?.as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(_) => return Err(ConfigError::new("KEYWARD_USAGE", "expected on or off")),
        };
        let metrics_bind = match get("KEYWARD_METRICS_BIND")? {
            None => None,
            Some(raw) => {
                let addr: SocketAddr = raw.trim().parse().map_err(|_| {
                    ConfigError::new(
                        "KEYWARD_METRICS_BIND",
                        "expected an IP address and port, such as 127.0.0.1:9090",
                    )
                })?;
                if addr == bind || (addr.port() == bind.port() && addr.port() != 0) {
                    return Err(ConfigError::new(
                        "KEYWARD_METRICS_BIND",
                        "must not be the public port (KEYWARD_BIND): metrics are for operators only",
                    ));
                }
                Some(addr)
            }
        };
        let otlp_endpoint = match get("KEYWARD_OTLP_ENDPOINT")? {
            None => None,
            Some(raw) => Some(
                parse_otlp_endpoint(&raw)
                    .map_err(|message| ConfigError::new("KEYWARD_OTLP_ENDPOINT", message))?,
            ),
        };
        let webhooks_allow_loopback = match get("KEYWARD_WEBHOOKS_ALLOW_LOOPBACK")?
            .as_deref()
            .map(str::trim)
        {
            None | Some("0" | "false" | "no") => false,
            Some("1" | "true" | "yes") => true,
            Some(_) => {
                return Err(ConfigError::new(
                    "KEYWARD_WEBHOOKS_ALLOW_LOOPBACK",
                    "expected 1 or 0",
                ));
            }
        };
        let webhook_retry_schedule = parse_schedule(
            get("KEYWARD_WEBHOOKS_RETRY_SCHEDULE")?
                .as_deref()
                .unwrap_or(DEFAULT_WEBHOOK_RETRIES),
        )
        .map_err(|message| ConfigError::new("KEYWARD_WEBHOOKS_RETRY_SCHEDULE", message))?;
        let log_filter = get("KEYWARD_LOG")?.unwrap_or_else(|| "info".to_owned());
        tracing_subscriber::EnvFilter::try_new(&log_filter).map_err(|e| {
            ConfigError::new("KEYWARD_LOG", format!("not a valid log filter ({e})"))
        })?;
        let log_buffer_lines = usize::try_from(parse_number(
            get("KEYWARD_LOG_BUFFER_LINES")?,
            "KEYWARD_LOG_BUFFER_LINES",
            128_000,
            100..=10_000_000,
        )?)
        .unwrap_or(128_000);
        let log_json = match get("KEYWARD_LOG_FORMAT")?.as_deref().map(str::trim) {
            None | Some("text") => false,
            Some("json") => true,
            Some(_) => {
                return Err(ConfigError::new(
                    "KEYWARD_LOG_FORMAT",
                    "expected text or json",
                ));
            }
        };

        Ok(Self {
            bind,
            public_url,
            data_dir,
            database_url,
            pool_size,
            cached_credentials,
            secret_key,
            bootstrap_admin,
            session_idle: Duration::from_secs(u64::from(idle_minutes) * 60),
            session_max: Duration::from_secs(u64::from(max_hours) * 3600),
            trusted_proxies,
            log_filter,
            log_json,
            log_buffer_lines,
            workers,
            smtp_url,
            mail_from,
            smtp_timeout: Duration::from_secs(u64::from(smtp_seconds)),
            alert_interval: Duration::from_secs(u64::from(alert_minutes) * 60),
            run_scheduler: true,
            hash_cost,
            hash_concurrency,
            api_access_log,
            count_usage,
            metrics_bind,
            otlp_endpoint,
            debug_routes: false,
            webhooks_allow_loopback,
            webhook_retry_schedule,
        })
    }

    /// Whether the public URL is https: Secure cookies, `__Host-` names and HSTS.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The public URL of a path of this site.
    pub fn url_for(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// The public URL without a trailing slash: the server's own issuer, which
    /// each organization's is derived from (`domain::tenant::issuer`).
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// Where emails are written when no mail server is configured.
    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    /// Where the one-time setup link is written when no admin exists.
    pub fn setup_link_file(&self) -> PathBuf {
        self.data_dir.join("setup-link.txt")
    }

    /// The secret key file kept in the data folder when none is configured.
    pub fn secret_key_file(&self) -> PathBuf {
        self.data_dir.join("secret.key")
    }

    /// The configured secret, for the keys derived from it.
    pub fn secret_key_bytes(&self) -> Option<&[u8]> {
        self.secret_key
            .as_ref()
            .map(|s| s.expose_secret().as_bytes())
    }

    /// Settings for a test server: a free port on loopback, the given data folder and database.
    pub fn for_tests(data_dir: &Path, database_url: DatabaseUrl) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: default_public_url(SocketAddr::from(([127, 0, 0, 1], 0))),
            data_dir: data_dir.to_owned(),
            database_url,
            pool_size: 4,
            cached_credentials: 10_000,
            secret_key: None,
            bootstrap_admin: None,
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            trusted_proxies: Vec::new(),
            log_filter: "warn".to_owned(),
            log_json: false,
            log_buffer_lines: 128_000,
            workers: Some(2),
            smtp_url: None,
            mail_from: "Keyward <keyward@localhost>".to_owned(),
            smtp_timeout: Duration::from_secs(30),
            alert_interval: Duration::from_secs(600),
            run_scheduler: false,
            hash_cost: HashCost::default(),
            hash_concurrency: Some(2),
            api_access_log: AccessLog::All,
            count_usage: true,
            metrics_bind: None,
            otlp_endpoint: None,
            debug_routes: true,
            webhooks_allow_loopback: true,
            webhook_retry_schedule: parse_schedule(DEFAULT_WEBHOOK_RETRIES).unwrap_or_default(),
        }
    }
}

/// An OTLP/HTTP collector's base URL: `http://host:4318`. Plain http only: a
/// collector runs beside the server (OpenTelemetry's agent pattern) and
/// forwards over TLS itself.
/// A retry schedule: delays such as `5s 5m 2h`, separated by spaces or
/// commas, each from 1 second to 24 hours, at most 20 of them.
fn parse_schedule(raw: &str) -> Result<Vec<time::Duration>, String> {
    const EXPECTED: &str =
        "expected delays such as \"5s 5m 30m 2h\" (s, m or h; from 1s to 24h; at most 20)";
    let delays: Vec<time::Duration> = raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let unit_start = part.char_indices().last().map_or(0, |(i, _)| i);
            let (number, unit) = part.split_at(unit_start);
            let n: i64 = number.parse().map_err(|_| EXPECTED.to_owned())?;
            let delay = match unit {
                "s" => time::Duration::seconds(n),
                "m" => time::Duration::minutes(n),
                "h" => time::Duration::hours(n),
                _ => return Err(EXPECTED.to_owned()),
            };
            if delay < time::Duration::SECOND || delay > time::Duration::DAY {
                return Err(EXPECTED.to_owned());
            }
            Ok(delay)
        })
        .collect::<Result<_, _>>()?;
    if delays.len() > 20 {
        return Err(EXPECTED.to_owned());
    }
    Ok(delays)
}

fn parse_otlp_endpoint(raw: &str) -> Result<Url, String> {
    if !cfg!(feature = "otlp") {
        return Err("this build has no OTLP export (built without the otlp feature)".to_owned());
    }
    let url = Url::parse(raw.trim())
        .map_err(|_| "expected a collector's URL such as http://127.0.0.1:4318".to_owned())?;
    if url.scheme() != "http" {
        return Err(
            "expected http:// (a collector beside the server; it forwards over TLS)".to_owned(),
        );
    }
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err("expected a collector's base URL such as http://127.0.0.1:4318".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".to_owned());
    }
    Ok(url)
}

fn parse_public_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim())
        .map_err(|_| "expected an absolute URL such as https://keys.example.com".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must start with http:// or https://".to_owned());
    }
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err("must be a plain http(s) URL with a host and no query or fragment".to_owned());
    }
    if url.path() != "/" {
        return Err(
            "serving under a sub-path is not supported; use the site's root URL".to_owned(),
        );
    }
    Ok(url)
}

fn default_public_url(bind: SocketAddr) -> Url {
    let host = if bind.ip().is_unspecified() {
        "localhost".to_owned()
    } else if bind.is_ipv6() {
        format!("[{}]", bind.ip())
    } else {
        bind.ip().to_string()
    };
    let fallback = Url::parse("http://localhost:8080/");
    match Url::parse(&format!("http://{host}:{}/", bind.port())) {
        Ok(url) => url,
        #[expect(clippy::expect_used, reason = "a fixed literal URL")]
        Err(_) => fallback.expect("literal URL parses"),
    }
}

fn parse_number(
    raw: Option<String>,
    var: &'static str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    let value: u32 = raw.trim().parse().map_err(|_| {
        ConfigError::new(
            var,
            format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )
    })?;
    if !range.contains(&value) {
        return Err(ConfigError::new(
            var,
            format!("must be from {} to {}", range.start(), range.end()),
        ));
    }
    Ok(value)
}

fn parse_ip_net(raw: &str) -> Result<IpNet, String> {
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{raw}' is not an IP address or CIDR range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn webhook_retry_schedules_are_parsed_or_refused_by_name() {
        let default = parse_schedule(DEFAULT_WEBHOOK_RETRIES).unwrap();
        assert_eq!(default.len(), 7);
        assert_eq!(default[0], time::Duration::seconds(5));
        assert_eq!(default[6], time::Duration::hours(10));
        assert_eq!(
            parse_schedule("1s, 2s").unwrap(),
            vec![time::Duration::seconds(1), time::Duration::seconds(2)]
        );
        assert!(parse_schedule("").unwrap().is_empty());
        for bad in ["5", "5d", "0s", "25h", "xs", "5é", "-1s"] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
        let err = settings(&[("KEYWARD_WEBHOOKS_RETRY_SCHEDULE", "5x")]).unwrap_err();
        assert!(err.to_string().contains("KEYWARD_WEBHOOKS_RETRY_SCHEDULE"));
        let err = settings(&[("KEYWARD_WEBHOOKS_ALLOW_LOOPBACK", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("KEYWARD_WEBHOOKS_ALLOW_LOOPBACK"));
        assert!(!settings(&[]).unwrap().webhooks_allow_loopback);
    }

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(*v)))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_variable() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            s.database_url,
            DatabaseUrl::Sqlite(PathBuf::from("data/keyward.sqlite3"))
        );
        assert!(!s.is_https());
        assert!(s.bootstrap_admin.is_none());
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (var, value) in [
            ("KEYWARD_BIND", "localhost"),
            ("KEYWARD_PUBLIC_URL", "ftp://x"),
            ("KEYWARD_PUBLIC_URL", "https://x/sub"),
            ("KEYWARD_DATABASE_URL", "mysql://x"),
            ("KEYWARD_DATABASE_URL", "sqlite://:memory:"),
            ("KEYWARD_DATABASE_POOL_SIZE", "0"),
            ("KEYWARD_CACHED_CREDENTIALS", "10"),
            ("KEYWARD_SECRET_KEY", "short"),
            ("KEYWARD_SECRET_KEY", &"a".repeat(64)),
            ("KEYWARD_SECRET_KEY", &"abcdefgh".repeat(8)),
            ("KEYWARD_SESSION_IDLE_MINUTES", "many"),
            ("KEYWARD_TRUSTED_PROXIES", "10.0.0.1,not-an-ip"),
            ("KEYWARD_LOG_FORMAT", "xml"),
            ("KEYWARD_API_ACCESS_LOG", "some"),
            ("KEYWARD_WORKERS", "0"),
            ("KEYWARD_SMTP_URL", "http://mail.example.com"),
            ("KEYWARD_MAIL_FROM", "not an address"),
            ("KEYWARD_ALERT_INTERVAL_MINUTES", "0"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn the_admin_needs_both_variables_and_a_good_password() {
        assert_eq!(
            settings(&[("KEYWARD_ADMIN_EMAIL", "a@b.example")])
                .unwrap_err()
                .var,
            "KEYWARD_ADMIN_PASSWORD"
        );
        assert_eq!(
            settings(&[("KEYWARD_ADMIN_PASSWORD", "long enough password")])
                .unwrap_err()
                .var,
            "KEYWARD_ADMIN_EMAIL"
        );
        let err = settings(&[
            ("KEYWARD_ADMIN_EMAIL", "a@b.example"),
            ("KEYWARD_ADMIN_PASSWORD", "short"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "KEYWARD_ADMIN_PASSWORD");
        assert!(
            !err.to_string().contains("short"),
            "the password is never echoed"
        );
        let s = settings(&[
            ("KEYWARD_ADMIN_EMAIL", "Admin@B.example"),
            ("KEYWARD_ADMIN_PASSWORD", "long enough password"),
        ])
        .unwrap();
        assert_eq!(s.bootstrap_admin.unwrap().0.as_str(), "admin@b.example");
    }

    #[test]
    fn an_https_public_url_turns_on_secure_cookies() {
        let s = settings(&[("KEYWARD_PUBLIC_URL", "https://keys.example.com")]).unwrap();
        assert!(s.is_https());
        assert_eq!(s.url_for("/apps"), "https://keys.example.com/apps");
    }

    /// The variables named in `text`: every `KEYWARD_…` word.
    fn variables(text: &str) -> std::collections::BTreeSet<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("KEYWARD_") && w.len() > "KEYWARD_".len())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn help_and_the_readme_table_list_every_variable_the_settings_read() {
        // What `from_lookup` reads: each `get("KEYWARD_…")` of this file.
        let source = include_str!("config.rs");
        let read: std::collections::BTreeSet<String> = source
            .split("get(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|v| {
                v.starts_with("KEYWARD_")
                    && v.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .map(str::to_owned)
            .collect();
        assert!(read.len() > 10, "{read:?}");
        assert_eq!(variables(ENV_HELP), read, "--help");
        let readme = include_str!("../README.md");
        let table = readme
            .split("## Configuration")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or_default();
        let rows: String = table
            .lines()
            .filter(|l| l.starts_with("| `KEYWARD_"))
            .collect::<Vec<_>>()
            .join("\n");
        let in_table: std::collections::BTreeSet<String> = rows
            .lines()
            .flat_map(|row| variables(row.split('|').nth(1).unwrap_or_default()))
            .collect();
        assert_eq!(in_table, read, "README's configuration table");
    }

    #[test]
    fn postgres_and_sqlite_urls_pick_their_backend() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap().backend(),
            "postgres"
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(),
            "postgres"
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/k.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("/var/lib/k.db"))
        );
    }
}
