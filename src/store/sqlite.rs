//! SQLite backend: the embedded default for demos and single-machine use.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{
    sql, Batch, ConnectOptions, Cursor, EventBootstrap, EventRow, LifecycleRow, Positioned, Result,
    StoreError,
};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Timestamps are stored as fixed-width RFC 3339 text so that text comparison is time order.
pub fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl SqliteStore {
    pub fn open_lazy(url: &str, opts: &ConnectOptions) -> Result<SqliteStore> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::query("parsing the SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(connect);
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    pub async fn bootstrap_events(&self, since: DateTime<Utc>) -> Result<EventBootstrap> {
        // One read transaction, so the aggregate, the recent rows and the cursor agree.
        let mut tx = self.pool.begin().await.map_err(StoreError::query("aggregating event history"))?;
        let max_id: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM webhook_events")
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("aggregating event history"))?;
        let totals = sqlx::query_as(&format!("{} WHERE id <= $1 {}", sql::AGGREGATE, sql::GROUP))
            .bind(max_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::query("aggregating event history"))?;
        let recent = sqlx::query_as(&format!(
            "SELECT {} FROM webhook_events WHERE id <= $1 AND received_at > $2",
            sql::EVENT_COLUMNS
        ))
        .bind(max_id)
        .bind(ts(since))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::query("reading recent events"))?;
        tx.commit().await.map_err(StoreError::query("aggregating event history"))?;
        Ok(EventBootstrap { totals, recent, next: Cursor { tx: 0, id: max_id } })
    }

    pub async fn events_after(&self, cursor: Cursor, limit: i64) -> Result<Batch<EventRow>> {
        let rows: Vec<Positioned<EventRow>> = sqlx::query_as(&format!(
            "SELECT {}, 0 AS tx, id FROM webhook_events WHERE id > $1 ORDER BY id LIMIT $2",
            sql::EVENT_COLUMNS
        ))
        .bind(cursor.id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading new events"))?;
        Ok(after_last(rows, limit, cursor))
    }

    pub async fn lifecycle_after(
        &self,
        cursor: Cursor,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Batch<LifecycleRow>> {
        let rows: Vec<Positioned<LifecycleRow>> = sqlx::query_as(
            "SELECT occurred_at, function_name, event_type, shutdown_reason, 0 AS tx, id
             FROM edge_function_events
             WHERE id > $1 AND ($3 IS NULL OR occurred_at > $3) ORDER BY id LIMIT $2",
        )
        .bind(cursor.id)
        .bind(limit)
        .bind(since.map(ts))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading edge function events"))?;
        Ok(after_last(rows, limit, cursor))
    }

    pub async fn work_off_queue(&self, org_id: &str, limit: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sync_queue SET state = 'done', attempts = attempts + 1, updated_at = $3
             WHERE id IN (SELECT id FROM sync_queue WHERE org_id = $1 AND state = 'pending'
                          ORDER BY enqueued_at LIMIT $2)",
        )
        .bind(org_id)
        .bind(limit)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("working off the queue"))?;
        Ok(done.rows_affected())
    }
}

/// Ids are commit order here, so the next read starts after the last row read.
fn after_last<T>(rows: Vec<Positioned<T>>, limit: i64, cursor: Cursor) -> Batch<T> {
    let last = rows.last().map_or(cursor, Positioned::cursor);
    Batch::from_rows(rows, limit, last, false)
}
