//! The database: one connection type over SQLite and PostgreSQL, its pool, its
//! migrations, and the helpers every query goes through.
//!
//! Queries are written once against [`DbConn`] (Diesel's `MultiConnection`); the rare
//! statement that differs per backend matches on the variant explicitly. Errors here
//! are [`DbError`]; the web layer turns them into pages or JSON.

pub mod models;
pub mod schema;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::result::{ConnectionError, DatabaseErrorKind};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;

/// The SQLite migrations, embedded in the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// The PostgreSQL migrations: the same versions as [`SQLITE_MIGRATIONS`].
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long a request waits for a pooled connection before answering 503.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(2);

/// One connection to either backend. PostgreSQL comes first: Diesel tries the
/// variants in order when establishing from a URL.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// A PostgreSQL connection.
    Postgres(PgConnection),
    /// A SQLite connection, with WAL, foreign keys and a busy timeout set.
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for DbConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Postgres(_) => "DbConn::Postgres",
            Self::Sqlite(_) => "DbConn::Sqlite",
        })
    }
}

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection within [`CHECKOUT_TIMEOUT`]: the database is down or saturated.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed")]
    TaskFailed,
}

impl DbError {
    /// True for the errors that mean "try again later" rather than "this is wrong".
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Query(diesel::result::Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                _,
            )) => true,
            Self::Query(diesel::result::Error::DatabaseError(_, info)) => {
                // SQLite's "database is locked" after the busy timeout.
                info.message().contains("database is locked")
            }
            _ => false,
        }
    }
}

/// Opening a database failed; the message is meant for the operator.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The first connection failed.
    #[error("cannot connect to the {backend} database: {message}")]
    Connect {
        /// sqlite or postgres.
        backend: &'static str,
        /// Why.
        message: String,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// The pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
}

/// Makes connections for r2d2, chosen by the URL's scheme.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

/// Why the pool could not make or keep a connection.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// Establishing failed.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// A setup statement or health check failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 1500;";

impl ConnectionManager {
    /// A manager for `url`.
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }

    /// Opens one connection, configured as the pool would.
    pub fn establish(&self) -> Result<DbConn, ManagerError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => Ok(DbConn::Postgres(PgConnection::establish(
                &with_connect_timeout(url),
            )?)),
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path)?;
                conn.batch_execute(SQLITE_PRAGMAS)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

/// libpq waits for the OS's TCP timeout (minutes) on an unreachable host unless told.
fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&connect_timeout=2")
    } else {
        format!("{url}?connect_timeout=2")
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = ManagerError;

    fn connect(&self) -> Result<DbConn, ManagerError> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ManagerError> {
        conn.batch_execute("SELECT 1").map_err(ManagerError::from)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        <DbConn as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

/// The pool, and which backend it talks to. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<ConnectionManager>,
    backend: &'static str,
    waits: Arc<PoolWaits>,
}

/// How often, and how long, checkouts waited for a free connection.
#[derive(Debug, Default)]
struct PoolWaits {
    count: AtomicU64,
    micros: AtomicU64,
}

/// The pool as the metrics read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// The most connections it opens.
    pub max: u32,
    /// Connections open now.
    pub connections: u32,
    /// Of them, idle.
    pub idle: u32,
    /// Checkouts that waited more than a millisecond, since the start.
    pub waits: u64,
    /// Their waiting, in microseconds.
    pub wait_micros: u64,
}

/// A checkout slower than this waited for a connection.
const WAITED: Duration = Duration::from_millis(1);

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// A connection checked out of the pool.
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

impl Db {
    /// Connects, migrates, then builds the pool. Blocking: call it before serving
    /// or from a blocking task.
    pub fn open(url: &DatabaseUrl, pool_size: u32) -> Result<Self, SetupError> {
        if matches!(url, DatabaseUrl::Postgres(_)) {
            // libpq speaks TLS through OpenSSL, whose exit handler frees its state
            // while a pool thread may still be connecting: a one-shot command
            // (`alerts run` from cron, `admin create`) then ended in SIGSEGV now
            // and then. Initialised first this way, OpenSSL registers no such
            // handler (OPENSSL_INIT_NO_ATEXIT); see diesel-rs/diesel#3441.
            openssl_sys::init();
        }
        if let DatabaseUrl::Sqlite(path) = url
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|e| SetupError::Connect {
                backend: "sqlite",
                message: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        let manager = ConnectionManager::new(url.clone());
        // One plain connection first: r2d2 would only report a timeout.
        let mut conn = manager.establish().map_err(|e| SetupError::Connect {
            backend: url.backend(),
            message: e.to_string(),
        })?;
        run_migrations(&mut conn)?;
        drop(conn);
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| SetupError::Pool(e.to_string()))?;
        Ok(Self {
            pool,
            backend: url.backend(),
            waits: Arc::default(),
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Checks out a connection, waiting at most [`CHECKOUT_TIMEOUT`]. Blocking.
    pub fn get(&self) -> Result<PooledConn, DbError> {
        let started = std::time::Instant::now();
        let conn = self.pool.get();
        let waited = started.elapsed();
        if waited > WAITED {
            self.waits.count.fetch_add(1, Ordering::Relaxed);
            let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
            self.waits.micros.fetch_add(micros, Ordering::Relaxed);
        }
        conn.map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// The pool's size, use and waits now.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            max: self.pool.max_size(),
            connections: state.connections,
            idle: state.idle_connections,
            waits: self.waits.count.load(Ordering::Relaxed),
            wait_micros: self.waits.micros.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` with a connection on the blocking thread pool, never on an async
    /// worker: Diesel is synchronous.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        match tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            f(&mut conn)
        })
        .await
        {
            Ok(result) => result,
            Err(_) => Err(E::from(DbError::TaskFailed)),
        }
    }
    /// Runs `f`, a short read (one bounded page in index order, or one row by
    /// its key), on the calling thread when the database is SQLite and a
    /// connection is idle; otherwise as [`Db::run`] does.
    ///
    /// On SQLite such a read takes microseconds from the page cache, less
    /// than handing it to the blocking pool and back (two thread wake-ups),
    /// and in WAL mode it never waits for a writer: a reader sees the last
    /// commit and takes no lock a writer holds. No checkpoint here ever runs
    /// in a mode that blocks readers. PostgreSQL is a round trip to another
    /// process, so its reads are always handed off.
    pub async fn run_short<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        if self.backend == "sqlite"
            && let Some(mut conn) = self.pool.try_get()
        {
            return f(&mut conn);
        }
        self.run(f).await
    }
}

/// Runs the pending migrations of the connection's backend. On PostgreSQL an
/// advisory lock keeps instances that start together from migrating twice.
pub fn run_migrations(conn: &mut DbConn) -> Result<(), SetupError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| SetupError::Migrate(e.to_string());
    match conn {
        DbConn::Sqlite(c) => {
            c.run_pending_migrations(SQLITE_MIGRATIONS).map_err(err)?;
        }
        DbConn::Postgres(c) => {
            const LOCK: &str = "SELECT pg_advisory_lock(4242170001)";
            const UNLOCK: &str = "SELECT pg_advisory_unlock(4242170001)";
            c.batch_execute(LOCK)
                .map_err(|e| SetupError::Migrate(e.to_string()))?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|_| ())
                .map_err(err);
            c.batch_execute(UNLOCK)
                .map_err(|e| SetupError::Migrate(e.to_string()))?;
            result?;
        }
    }
    Ok(())
}

/// Runs `f` in a write transaction. On SQLite the transaction starts with
/// `BEGIN IMMEDIATE`, so concurrent read-then-write transactions wait for the lock
/// instead of failing with "database is locked" when they upgrade.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    type Tm = <DbConn as Connection>::TransactionManager;
    match f(conn) {
        Ok(value) => {
            Tm::commit_transaction(conn)?;
            Ok(value)
        }
        Err(user_error) => match Tm::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(user_error),
            Err(rollback_error) => Err(rollback_error.into()),
        },
    }
}

/// Asks the database for nothing: it answers when it is up (the readiness check).
pub fn ping(conn: &mut DbConn) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}

/// True when `e` is a unique-constraint violation (a duplicate name, say).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// A new random id for a row: a UUIDv7, time-ordered so indexes stay compact and
/// keyset pagination by id follows creation order.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(dir: &tempfile::TempDir, pool_size: u32) -> Db {
        Db::open(
            &DatabaseUrl::Sqlite(dir.path().join("keyward.sqlite3")),
            pool_size,
        )
        .expect("the database opens")
    }

    fn count_orgs(conn: &mut DbConn) -> Result<(i64, std::thread::ThreadId), DbError> {
        use diesel::dsl::count_star;
        let n = crate::db::schema::organizations::table
            .select(count_star())
            .get_result(conn)
            .map_err(DbError::from)?;
        Ok((n, std::thread::current().id()))
    }

    #[test]
    fn a_short_read_on_sqlite_runs_where_it_is_asked_when_a_connection_is_idle() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = sqlite(&dir, 2);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let here = std::thread::current().id();
        let (orgs, ran_on) = runtime
            .block_on(db.run_short(count_orgs))
            .expect("the read");
        // The migrations make the first organization.
        assert_eq!(orgs, 1);
        assert_eq!(ran_on, here, "read on the calling thread");
        // A plain read is always handed to the blocking pool.
        let (_, handed) = runtime.block_on(db.run(count_orgs)).expect("the read");
        assert_ne!(handed, here, "read on a blocking thread");
    }

    #[test]
    fn a_short_read_waits_for_a_connection_off_the_calling_thread_when_none_is_idle() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = sqlite(&dir, 1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let held = db.get().expect("the only connection");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        });
        let here = std::thread::current().id();
        let (orgs, ran_on) = runtime
            .block_on(db.run_short(count_orgs))
            .expect("the read, once the connection is back");
        releaser.join().expect("the releasing thread");
        assert_eq!(orgs, 1);
        assert_ne!(ran_on, here, "the wait is not on the calling thread");
    }
}
