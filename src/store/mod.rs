//! The log store: the one module that speaks SQL.
//!
//! Two backends share one contract (see `docs/log-store.md`): PostgreSQL for production and SQLite
//! as the embedded default. Everything above this module sees plain rows and cursors.

mod bind;
mod postgres;
pub mod reprocess;
mod sql;
mod sqlite;
pub mod types;

use std::time::Duration;

use bind::{At, Id, Json};
use chrono::{DateTime, Utc};
pub use sqlite::ts as sqlite_timestamp;
use sqlx::QueryBuilder;
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
    #[error("invalid value for {field}: {detail}")]
    Invalid { field: &'static str, detail: String },
}

impl StoreError {
    pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { op, source }
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

/// Rows per multi-row INSERT: 10 columns each stays under SQLite's 32766 bind variables (and far
/// under PostgreSQL's 65535).
const INSERT_CHUNK: usize = 3000;

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    /// How long to wait for a connection before a read counts as failed.
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions { max_connections: 4, acquire_timeout: Duration::from_secs(3) }
    }
}

/// A connection pool to the log store.
#[derive(Debug, Clone)]
pub enum Store {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

macro_rules! dispatch {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            Store::Postgres($s) => $body,
            Store::Sqlite($s) => $body,
        }
    };
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
        dispatch!(self, s => sqlx::query("SELECT 1").execute(s.pool()).await.map(|_| ()))
            .map_err(StoreError::query("ping"))
    }

    // ---- reads used by the collector -------------------------------------------------------

    /// Aggregates all history once, and returns the rows inside `since` individually, plus the
    /// cursor after which incremental reads continue.
    pub async fn bootstrap_events(&self, since: DateTime<Utc>) -> Result<EventBootstrap> {
        dispatch!(self, s => s.bootstrap_events(since).await)
    }

    /// Rows committed after `cursor`, at most `limit`, in cursor order.
    pub async fn events_after(&self, cursor: Cursor, limit: i64) -> Result<Batch<EventRow>> {
        dispatch!(self, s => s.events_after(cursor, limit).await)
    }

    /// Edge Function lifecycle events after `cursor`; with `since`, only those that occurred
    /// after it (a first read needs recent history, not all of it).
    pub async fn lifecycle_after(
        &self,
        cursor: Cursor,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Batch<LifecycleRow>> {
        dispatch!(self, s => s.lifecycle_after(cursor, since, limit).await)
    }

    pub async fn organizations(&self) -> Result<Vec<OrgRow>> {
        dispatch!(self, s => sqlx::query_as(sql::ORGANIZATIONS).fetch_all(s.pool()).await)
            .map_err(StoreError::query("reading organizations"))
    }

    pub async fn queue_stats(&self) -> Result<Vec<QueueStat>> {
        let reprocess_count = match self {
            Store::Postgres(_) => "count(*) FILTER (WHERE reprocess)",
            Store::Sqlite(_) => "sum(reprocess)",
        };
        let sql = sql::queue_stats(reprocess_count);
        dispatch!(self, s => sqlx::query_as(&sql).fetch_all(s.pool()).await)
            .map_err(StoreError::query("reading queue depth"))
    }

    pub async fn component_health(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        dispatch!(self, s => sqlx::query_as(sql::COMPONENT_HEALTH).fetch_all(s.pool()).await)
            .map_err(StoreError::query("reading component health"))
    }

    /// Records that `component` was healthy at `at`; never moves an existing time backwards.
    pub async fn record_healthy(&self, component: &str, at: DateTime<Utc>) -> Result<()> {
        let greatest = match self {
            Store::Postgres(_) => "GREATEST",
            Store::Sqlite(_) => "max",
        };
        let sql = sql::record_healthy(greatest);
        dispatch!(self, s => sqlx::query(&sql)
            .bind(component)
            .bind(At(at))
            .bind(At(Utc::now()))
            .execute(s.pool())
            .await
            .map(|_| ()))
        .map_err(StoreError::query("recording component health"))
    }

    // ---- writes, as the webhook infrastructure and the sync service make them ---------------

    pub async fn upsert_organization(&self, org: &NewOrganization) -> Result<()> {
        dispatch!(self, s => sqlx::query(sql::UPSERT_ORGANIZATION)
            .bind(&org.org_id)
            .bind(&org.display_name)
            .bind(&org.endpoint_url)
            .bind(At(org.changed_at))
            .execute(s.pool())
            .await
            .map(|_| ()))
        .map_err(StoreError::query("writing an organization"))
    }

    /// Writes the events in one transaction.
    pub async fn insert_events(&self, events: &[NewEvent]) -> Result<()> {
        dispatch!(self, s => async {
            let mut tx = s.pool().begin().await?;
            for chunk in events.chunks(INSERT_CHUNK) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO webhook_events (event_id, org_id, received_at, outcome, http_status,
                     rejection_reason, error_detail, entity_name, message_name, payload) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(Id(e.event_id))
                        .push_bind(&e.org_id)
                        .push_bind(At(e.received_at))
                        .push_bind(e.outcome)
                        .push_bind(e.http_status)
                        .push_bind(&e.rejection_reason)
                        .push_bind(&e.error_detail)
                        .push_bind(&e.entity_name)
                        .push_bind(&e.message_name)
                        .push_bind(e.payload.as_ref().map(Json));
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        .await)
        .map_err(StoreError::query("writing events"))
    }

    pub async fn insert_lifecycle(&self, events: &[NewLifecycleEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        dispatch!(self, s => {
            let mut qb = QueryBuilder::new(
                "INSERT INTO edge_function_events (occurred_at, function_name, event_type, shutdown_reason, detail) ",
            );
            qb.push_values(events, |mut b, e| {
                b.push_bind(At(e.occurred_at))
                    .push_bind(&e.function_name)
                    .push_bind(e.event_type)
                    .push_bind(e.shutdown_reason)
                    .push_bind(&e.detail);
            });
            qb.build().execute(s.pool()).await.map(|_| ())
        })
        .map_err(StoreError::query("writing lifecycle events"))
    }

    pub async fn enqueue(&self, items: &[NewQueueItem]) -> Result<()> {
        for chunk in items.chunks(INSERT_CHUNK) {
            dispatch!(self, s => {
                let mut qb =
                    QueryBuilder::new("INSERT INTO sync_queue (org_id, event_id, enqueued_at, updated_at) ");
                qb.push_values(chunk, |mut b, i| {
                    b.push_bind(&i.org_id)
                        .push_bind(Id(i.event_id))
                        .push_bind(At(i.enqueued_at))
                        .push_bind(At(i.enqueued_at));
                });
                qb.build().execute(s.pool()).await.map(|_| ())
            })
            .map_err(StoreError::query("enqueueing"))?;
        }
        Ok(())
    }

    /// The sync service's side: marks up to `limit` of the oldest pending items done.
    pub async fn work_off_queue(&self, org_id: &str, limit: i64) -> Result<u64> {
        dispatch!(self, s => s.work_off_queue(org_id, limit).await)
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
