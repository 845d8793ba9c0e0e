//! The log store: the one module that speaks SQL.
//!
//! Two backends share one contract (see `docs/log-store.md`): PostgreSQL for production and SQLite
//! as the embedded default. Everything above this module sees plain rows and cursors.

/// Runs the same code on either backend's store; defined before the submodules so that they
/// can use it too.
macro_rules! dispatch {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            Store::Postgres($s) => $body,
            Store::Sqlite($s) => $body,
        }
    };
}

mod bind;
pub mod history;
mod ingest;
mod postgres;
mod read;
pub mod reprocess;
mod sql;
mod sqlite;
pub mod sync;
pub mod types;
mod writer;

use std::time::Duration;

use std::future::Future;

use bind::At;
use chrono::{DateTime, Utc};
pub use read::ReadTx;
pub use sqlite::ts as sqlite_timestamp;
pub use types::*;

use postgres::PgStore;
use sqlite::SqliteStore;

/// Errors from the log store, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL scheme in {0:?}: expected postgres://, postgresql:// or sqlite://")]
    UnsupportedUrl(String),
    #[error("log store {op} failed: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("applying log-store migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("log store {op} did not answer within {after:?}")]
    Timeout { op: &'static str, after: Duration },
    #[error("invalid value for {field}: {detail}")]
    Invalid { field: &'static str, detail: String },
}

impl StoreError {
    pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { op, source }
    }
}

/// Runs one store operation with a client-side time limit: a path that goes silent without
/// closing the connection must fail the operation, not hang it.
pub(crate) async fn timed<T>(
    limit: Duration,
    op: &'static str,
    operation: impl Future<Output = std::result::Result<T, sqlx::Error>>,
) -> Result<T> {
    match tokio::time::timeout(limit, operation).await {
        Ok(result) => result.map_err(StoreError::query(op)),
        Err(_) => Err(StoreError::Timeout { op, after: limit }),
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    /// How long to wait for a connection before a read counts as failed.
    pub acquire_timeout: Duration,
    /// How long one statement may take, on the client and (PostgreSQL) on the server.
    pub timeout: Duration,
    /// PostgreSQL `application_name`, unless the URL sets one.
    pub application_name: String,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            application_name: "webhook-health-exporter".into(),
        }
    }
}

/// A connection pool to the log store.
#[derive(Debug, Clone)]
pub enum Store {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl Store {
    /// Opens a pool lazily: an unreachable database is not an error here, so the exporter can start
    /// and report `webhook_store_up 0` until the store comes back.
    pub fn open_lazy(url: &str, opts: &ConnectOptions) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(PgStore::open_lazy(url, opts)?))
        } else if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(SqliteStore::open_lazy(url, opts)?))
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Opens the store and applies the bundled migrations.
    pub async fn open_and_migrate(url: &str, opts: &ConnectOptions) -> Result<Store> {
        let store = Store::open_lazy(url, opts)?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Postgres(_) => Backend::Postgres,
            Store::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        dispatch!(self, s => s.migrate().await)
    }

    pub async fn ping(&self) -> Result<()> {
        dispatch!(self, s => timed(s.timeout(), "ping", sqlx::query("SELECT 1").execute(s.pool())).await.map(|_| ()))
    }

    // ---- reads used by the collector -------------------------------------------------------

    /// Starts a refresh's reads: one transaction, one snapshot of the store.
    pub async fn begin_read(&self, from: &ReadFrom<'_>) -> Result<ReadTx> {
        match self {
            Store::Postgres(s) => s.begin_read(from).await.map(ReadTx::Postgres),
            Store::Sqlite(s) => s.begin_read().await.map(ReadTx::Sqlite),
        }
    }

    /// Folds the event-totals rollup (PostgreSQL appends a row per writing statement); returns
    /// how many rows it wrote. SQLite keeps one row per group already.
    pub async fn compact_event_totals(&self) -> Result<u64> {
        match self {
            Store::Postgres(s) => s.compact_event_totals().await,
            Store::Sqlite(_) => Ok(0),
        }
    }

    pub async fn component_health(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        dispatch!(self, s => timed(
            s.timeout(),
            "reading component health",
            sqlx::query_as(sql::COMPONENT_HEALTH).fetch_all(s.pool()),
        )
        .await)
    }

    /// Records that `component` was healthy at `at`; never moves an existing time backwards.
    pub async fn record_healthy(&self, component: &str, at: DateTime<Utc>) -> Result<()> {
        let greatest = match self {
            Store::Postgres(_) => "GREATEST",
            Store::Sqlite(_) => "max",
        };
        let sql = sql::record_healthy(greatest);
        let now = Utc::now();
        dispatch!(self, s => {
            let query = sqlx::query(&sql).bind(component).bind(At(at)).bind(At(now));
            timed(s.timeout(), "recording component health", query.execute(s.pool())).await.map(|_| ())
        })
    }
}

/// Hides the password of a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => url.split('@').next_back().unwrap_or("").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert!(!redact_url("mysql://u:secret@h/db").contains("secret"));
    }

    #[test]
    fn unknown_schemes_are_refused_by_name() {
        let err = Store::open_lazy("mysql://u:pw@h/db", &ConnectOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("mysql://") && !msg.contains("pw"), "{msg}");
    }
}
