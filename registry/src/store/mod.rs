//! The metadata store: diesel over SQLite or PostgreSQL through one `MultiConnection`.
//!
//! Owns the schema, the connection pool, migrations and every query. Functions here take
//! a `&mut DbConn` and know nothing of HTTP or object storage. Blocking diesel calls run
//! on tokio's blocking pool through [`Db::read`] and [`Db::write`], never on async workers.

pub mod aliases;
/// Picks the id of the first row a query selects, locking it with `FOR UPDATE SKIP LOCKED`
/// on PostgreSQL (see `batch`'s header); the queues of `batch` and `batch_chunks` use it.
macro_rules! pick_skip_locked {
    ($conn:expr, $query:expr) => {
        match $conn {
            DbConn::Postgres(pg) => $query.for_update().skip_locked().first(pg).optional(),
            DbConn::Sqlite(sqlite) => $query.first(sqlite).optional(),
        }
    };
}

pub mod batch;
pub mod batch_chunks;
pub mod batch_rows;
pub mod batch_schedules;
pub mod datasets;
pub mod deployments;
pub mod events;
pub mod mlflow_artifacts;
pub mod models;
pub mod promotions;
pub mod relay;
pub mod rows;
pub mod schema;
pub mod stages;
pub mod tokens;
pub mod versions;
pub mod webhook_rows;
pub mod webhooks;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// What a query failed with. diesel's error is classified here, once: callers match on
/// `NotFound` and `UniqueViolation`, never on diesel's error kinds.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row a query needed does not exist.
    #[error("the row does not exist")]
    NotFound,
    /// A write would have broken a unique constraint (another writer got there first).
    #[error("unique constraint violated: {detail}")]
    UniqueViolation {
        /// The constraint's name, when the database reports it (PostgreSQL does).
        constraint: Option<String>,
        detail: String,
    },
    /// A stored value the wire types cannot represent (an unknown status or kind, …).
    #[error("stored data is invalid: {0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Diesel(diesel::result::Error),
    #[error("database connection pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// The connection broke or the server is restarting or shutting down: the request
    /// may succeed if made again.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database's disk (or SQLite's file system) is full: nothing was written.
    #[error("database storage is full: {0}")]
    Full(String),
    #[error("stored JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("unsupported database URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("database task panicked or was cancelled")]
    TaskJoin,
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::UniqueViolation {
                    constraint: info.constraint_name().map(str::to_owned),
                    detail: info.message().to_owned(),
                }
            }
            Error::DeserializationError(cause) => StoreError::Invalid(cause.to_string()),
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(_, info) if is_full(info.message()) => {
                StoreError::Full(info.message().to_owned())
            }
            Error::DatabaseError(_, info) if is_unavailable(info.message()) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            other => StoreError::Diesel(other),
        }
    }
}

/// SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full` (53100) and a failed write to disk.
fn is_full(message: &str) -> bool {
    [
        "database or disk is full",
        "No space left on device",
        "could not extend file",
    ]
    .iter()
    .any(|marker| message.contains(marker))
}

/// What PostgreSQL (libpq) says when its server goes away or is not yet back: a
/// terminated or lost connection, a shutdown (57P01..57P03), a refused connection.
fn is_unavailable(message: &str) -> bool {
    [
        "terminating connection",
        "server closed the connection",
        "connection to server",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "no connection to the server",
        "Connection refused",
        "could not receive data from server",
        "could not send data to server",
        "SSL SYSCALL error",
    ]
    .iter()
    .any(|marker| message.contains(marker))
}

/// A write transaction's outcome before it reaches the caller: the caller's own error
/// (a failed rule), or diesel's (BEGIN/COMMIT), which the caller only sees as a
/// [`StoreError`].
enum TransactionError<E> {
    Caller(E),
    Database(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for TransactionError<E> {
    fn from(error: diesel::result::Error) -> Self {
        TransactionError::Database(error)
    }
}

/// Which backend a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite://") || url.starts_with("file:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// diesel wants a path for SQLite; `sqlite://` is ours.
fn connection_string(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

/// Per-connection pragmas: WAL so readers never block the writer, a busy timeout instead
/// of immediate `SQLITE_BUSY`, and enforced foreign keys.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(conn) = conn {
            conn.batch_execute(
                "PRAGMA busy_timeout = 15000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// A write transaction on SQLite, begun with `BEGIN IMMEDIATE`: it takes the database's
/// write lock before its first read, so a writer in another process (a batch worker, a
/// second replica on the file) makes it wait out `busy_timeout`. A plain `BEGIN` fails at
/// once when its read turns into a write after the other committed (`SQLITE_BUSY` on the
/// upgrade, which no busy timeout covers).
fn sqlite_write<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&mut DbConn) -> Result<T, E>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    fn sqlite(conn: &mut DbConn) -> &mut SqliteConnection {
        match conn {
            DbConn::Sqlite(sqlite) => sqlite,
            DbConn::Postgres(_) => unreachable!("sqlite_write is called on SQLite only"),
        }
    }
    let failed = |error: diesel::result::Error| E::from(StoreError::from(error));
    AnsiTransactionManager::begin_transaction_sql(sqlite(conn), "BEGIN IMMEDIATE")
        .map_err(failed)?;
    match f(conn) {
        Ok(value) => {
            if let Err(error) = AnsiTransactionManager::commit_transaction(sqlite(conn)) {
                let _ = AnsiTransactionManager::rollback_transaction(sqlite(conn));
                return Err(failed(error));
            }
            Ok(value)
        }
        Err(error) => {
            AnsiTransactionManager::rollback_transaction(sqlite(conn)).map_err(failed)?;
            Err(error)
        }
    }
}

/// The connection pool plus, for SQLite, the lock that serialises this process's write
/// transactions (SQLite has one writer: taking turns here spares them SQLite's busy-wait
/// polling; writers in other processes are waited for by [`sqlite_write`]).
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<DbConn>>,
    backend: Backend,
    write_lock: Option<Arc<Mutex<()>>>,
}

impl Db {
    /// Connects, and runs the backend's pending migrations.
    pub fn connect(url: &str, pool_size: u32) -> StoreResult<Self> {
        let backend = Backend::of_url(url)?;
        let manager = ConnectionManager::<DbConn>::new(connection_string(url));
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(SqlitePragmas))
            .build(manager)?;
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let db = Self {
            pool,
            backend,
            write_lock,
        };
        db.run_migrations()?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn run_migrations(&self) -> StoreResult<()> {
        let mut conn = self.pool.get()?;
        let migrations = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        conn.run_pending_migrations(migrations)
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(())
    }

    /// Runs `f` on a pooled connection on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            f(&mut conn)
        })
        .await
        .map_err(|_| E::from(StoreError::TaskJoin))?
    }

    /// Runs `f` in a write transaction on the blocking pool. `E` lets callers return
    /// their own errors (a failed rule rolls the transaction back like a failed query).
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        let write_lock = self.write_lock.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            // A poisoned lock only means another writer panicked; the data is in SQLite.
            let _turn = write_lock
                .as_ref()
                .map(|lock| lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            if matches!(*conn, DbConn::Sqlite(_)) {
                return sqlite_write(&mut conn, f);
            }
            conn.transaction(|conn| f(conn).map_err(TransactionError::Caller))
                .map_err(|error| match error {
                    TransactionError::Caller(error) => error,
                    TransactionError::Database(error) => E::from(StoreError::from(error)),
                })
        })
        .await
        .map_err(|_| E::from(StoreError::TaskJoin))?
    }

    /// `SELECT 1`: the readiness probe.
    pub async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| {
            conn.batch_execute("SELECT 1")?;
            Ok::<_, StoreError>(())
        })
        .await
    }
}

/// Runs every migration down and up again (used by the migration test).
pub fn redo_all_migrations(url: &str) -> StoreResult<()> {
    let backend = Backend::of_url(url)?;
    let mut conn = DbConn::establish(connection_string(url))
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    let migrations = || match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    };
    let migrate =
        |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    conn.run_pending_migrations(migrations()).map_err(migrate)?;
    conn.revert_all_migrations(migrations()).map_err(migrate)?;
    conn.run_pending_migrations(migrations()).map_err(migrate)?;
    Ok(())
}

/// A condition on the rows of `QS`, built at run time.
pub type Predicate<QS> =
    Box<dyn diesel::BoxableExpression<QS, MultiBackend, SqlType = diesel::sql_types::Bool>>;

/// `column LIKE p1 ESCAPE '\' OR column LIKE p2 ESCAPE '\' …` (no pattern: false): the rows
/// whose model a token limited to some models may see, with the patterns as
/// `domain::access::ModelScope::like_patterns` writes them.
pub fn like_any<QS, C>(column: C, patterns: &[String]) -> Predicate<QS>
where
    QS: 'static,
    C: diesel::ExpressionMethods
        + diesel::TextExpressionMethods
        + diesel::Expression<SqlType = diesel::sql_types::Text>
        + diesel::SelectableExpression<QS>
        + diesel::expression::ValidGrouping<(), IsAggregate = diesel::expression::is_aggregate::No>
        + diesel::query_builder::QueryFragment<MultiBackend>
        + Clone
        + Send
        + 'static,
{
    use diesel::dsl::sql;
    use diesel::{BoolExpressionMethods, EscapeExpressionMethods};
    let mut predicate: Predicate<QS> = Box::new(sql::<diesel::sql_types::Bool>("1 = 0"));
    for pattern in patterns {
        let like = column.clone().like(pattern.clone()).escape('\\');
        predicate = Box::new(predicate.or(like));
    }
    predicate
}
