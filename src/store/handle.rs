//! The store handle: one enum arm per backend, opened from a URL, and the few reads and writes
//! that belong to no room of their own.

use chrono::{DateTime, Utc};

use super::bind::At;
use super::error::{timed, Result, StoreError};
use super::options::{Backend, ConnectOptions};
use super::postgres::PgStore;
use super::queue::SyncQueue;
use super::read::ReadTx;
use super::sql;
use super::sqlite::SqliteStore;
use super::types::ReadFrom;

/// Runs the same code on either backend's store (the handle's own copy of `store::dispatch!`).
macro_rules! each {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            Store::Postgres($s) => $body,
            Store::Sqlite($s) => $body,
        }
    };
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
            opts.queue.check_sqlite()?;
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

    /// The sync queue this store reads and writes.
    pub fn queue(&self) -> &SyncQueue {
        static TABLE: SyncQueue = SyncQueue::Table;
        match self {
            Store::Postgres(s) => s.queue(),
            Store::Sqlite(_) => &TABLE,
        }
    }

    /// Accepted events received since this moment count as unaccounted for when nothing became of
    /// them (see `ConnectOptions::unaccounted_horizon`).
    pub fn unaccounted_since(&self) -> chrono::DateTime<chrono::Utc> {
        let horizon = each!(self, s => s.unaccounted_horizon());
        chrono::Duration::from_std(horizon)
            .ok()
            .and_then(|h| chrono::Utc::now().checked_sub_signed(h))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Postgres(_) => Backend::Postgres,
            Store::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        each!(self, s => s.migrate().await)
    }

    pub async fn ping(&self) -> Result<()> {
        each!(self, s => timed(s.timeout(), "ping", sqlx::query("SELECT 1").execute(s.pool())).await.map(|_| ()))
    }

    // ---- reads used by the collector -------------------------------------------------------

    /// Starts a refresh's reads: one transaction, one snapshot of the store.
    pub async fn begin_read(&self, from: &ReadFrom<'_>) -> Result<ReadTx> {
        match self {
            Store::Postgres(s) => s.begin_read(from).await.map(|tx| ReadTx::Postgres(Box::new(tx))),
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
        each!(self, s => timed(
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
        each!(self, s => {
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
    fn pgmq_on_sqlite_is_refused_naming_the_option() {
        let opts = ConnectOptions { queue: SyncQueue::Pgmq("q".into()), ..ConnectOptions::default() };
        let msg = Store::open_lazy("sqlite://x.db", &opts).unwrap_err().to_string();
        assert!(msg.contains("--sync-queue") && msg.contains("PostgreSQL"), "{msg}");
    }

    #[test]
    fn unknown_schemes_are_refused_by_name() {
        let err = Store::open_lazy("mysql://u:pw@h/db", &ConnectOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("mysql://") && !msg.contains("pw"), "{msg}");
    }
}
