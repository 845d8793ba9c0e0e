//! PostgreSQL backend: the production log store (Supabase-style Postgres).

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{sql, Batch, ConnectOptions, Cursor, EventBootstrap, EventRow, LifecycleRow, Result, StoreError};

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// Rows of one table after a `(tx_id, id)` cursor and below the horizon, in cursor order.
const NEW_ROWS: &str = "FROM webhook_events
     WHERE (tx_id, id) > ($1::bigint::text::xid8, $2) AND tx_id < $3::bigint::text::xid8
     ORDER BY tx_id, id LIMIT $4";

/// The snapshot's xmin: every transaction id below it has committed or aborted.
/// With the next transaction id: a horizon below it means a write transaction is still open.
const SAFE_HORIZON: &str = "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint
     FROM pg_current_snapshot() AS s";

impl PgStore {
    pub fn open_lazy(url: &str, opts: &ConnectOptions) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy(url)
            .map_err(StoreError::query("connect"))?;
        Ok(PgStore { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    /// The horizon, and whether an open write transaction holds it back.
    async fn horizon(&self) -> Result<(i64, bool)> {
        let (xmin, xmax): (i64, i64) = sqlx::query_as(SAFE_HORIZON)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("reading the snapshot horizon"))?;
        Ok((xmin, xmin < xmax))
    }

    pub async fn bootstrap_events(&self, since: DateTime<Utc>) -> Result<EventBootstrap> {
        let (horizon, _) = self.horizon().await?;
        let totals = sqlx::query_as(&format!(
            "{} WHERE tx_id < $1::bigint::text::xid8 {}",
            sql::AGGREGATE,
            sql::GROUP
        ))
        .bind(horizon)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("aggregating event history"))?;
        // Streamed, not fetched whole: a day of history can be hundreds of thousands of rows, and
        // holding every wire row next to its decoded copy doubled the exporter's peak memory.
        let recent = sqlx::query_as(&format!(
            "SELECT {} FROM webhook_events WHERE tx_id < $1::bigint::text::xid8 AND received_at > $2",
            sql::EVENT_COLUMNS
        ))
        .bind(horizon)
        .bind(since)
        .fetch(&self.pool)
        .try_collect()
        .await
        .map_err(StoreError::query("reading recent events"))?;
        Ok(EventBootstrap { totals, recent, next: Cursor { tx: horizon, id: 0 } })
    }

    pub async fn events_after(&self, cursor: Cursor, limit: i64) -> Result<Batch<EventRow>> {
        let (horizon, held_back) = self.horizon().await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {}, tx_id::text::bigint AS tx, id {NEW_ROWS}",
            sql::EVENT_COLUMNS
        ))
        .bind(cursor.tx)
        .bind(cursor.id)
        .bind(horizon)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading new events"))?;
        Ok(Batch::from_rows(rows, limit, Cursor { tx: horizon, id: 0 }, held_back))
    }

    pub async fn lifecycle_after(
        &self,
        cursor: Cursor,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Batch<LifecycleRow>> {
        let (horizon, held_back) = self.horizon().await?;
        let rows = sqlx::query_as(
            "SELECT occurred_at, function_name, event_type, shutdown_reason, tx_id::text::bigint AS tx, id
             FROM edge_function_events
             WHERE (tx_id, id) > ($1::bigint::text::xid8, $2) AND tx_id < $3::bigint::text::xid8
               AND ($5::timestamptz IS NULL OR occurred_at > $5)
             ORDER BY tx_id, id LIMIT $4",
        )
        .bind(cursor.tx)
        .bind(cursor.id)
        .bind(horizon)
        .bind(limit)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading edge function events"))?;
        Ok(Batch::from_rows(rows, limit, Cursor { tx: horizon, id: 0 }, held_back))
    }

    pub async fn work_off_queue(&self, org_id: &str, limit: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sync_queue SET state = 'done', attempts = attempts + 1, updated_at = now()
             WHERE id IN (SELECT id FROM sync_queue WHERE org_id = $1 AND state = 'pending'
                          ORDER BY enqueued_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(org_id)
        .bind(limit)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("working off the queue"))?;
        Ok(done.rows_affected())
    }
}
