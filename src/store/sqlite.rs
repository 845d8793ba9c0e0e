//! SQLite backend: the embedded default for demos and single-machine use.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::QueryBuilder;

use super::{
    sql, Batch, ConnectOptions, Cursor, EventBootstrap, EventRow, LifecycleRow, NewEvent, NewLifecycleEvent,
    NewOrganization, NewQueueItem, Positioned, Result, StoreError,
};

/// Rows per multi-row INSERT: under SQLite's default 32766 bind variables.
const INSERT_CHUNK: usize = 3000;

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

    pub async fn record_healthy(&self, component: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO component_health (component, last_healthy_at, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (component) DO UPDATE
             SET last_healthy_at = max(component_health.last_healthy_at, excluded.last_healthy_at),
                 updated_at = excluded.updated_at",
        )
        .bind(component)
        .bind(ts(at))
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("recording component health"))?;
        Ok(())
    }

    pub async fn upsert_organization(&self, org: &NewOrganization) -> Result<()> {
        sqlx::query(
            "INSERT INTO organizations (org_id, display_name, endpoint_url, endpoint_url_changed_at, created_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (org_id) DO UPDATE SET
               display_name = excluded.display_name,
               endpoint_url = excluded.endpoint_url,
               endpoint_url_changed_at = CASE WHEN organizations.endpoint_url = excluded.endpoint_url
                 THEN organizations.endpoint_url_changed_at ELSE excluded.endpoint_url_changed_at END",
        )
        .bind(&org.org_id)
        .bind(&org.display_name)
        .bind(&org.endpoint_url)
        .bind(ts(org.changed_at))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("writing an organization"))?;
        Ok(())
    }

    pub async fn insert_events(&self, events: &[NewEvent]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(StoreError::query("writing events"))?;
        for chunk in events.chunks(INSERT_CHUNK) {
            let mut qb = QueryBuilder::new(
                "INSERT INTO webhook_events (event_id, org_id, received_at, outcome, http_status,
                 rejection_reason, error_detail, entity_name, message_name, payload) ",
            );
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(e.event_id.to_string())
                    .push_bind(&e.org_id)
                    .push_bind(ts(e.received_at))
                    .push_bind(e.outcome)
                    .push_bind(e.http_status)
                    .push_bind(&e.rejection_reason)
                    .push_bind(&e.error_detail)
                    .push_bind(&e.entity_name)
                    .push_bind(&e.message_name)
                    .push_bind(e.payload.as_ref().map(|p| p.to_string()));
            });
            qb.build().execute(&mut *tx).await.map_err(StoreError::query("writing events"))?;
        }
        tx.commit().await.map_err(StoreError::query("writing events"))
    }

    pub async fn insert_lifecycle(&self, events: &[NewLifecycleEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut qb = QueryBuilder::new(
            "INSERT INTO edge_function_events (occurred_at, function_name, event_type, shutdown_reason, detail) ",
        );
        qb.push_values(events, |mut b, e| {
            b.push_bind(ts(e.occurred_at))
                .push_bind(&e.function_name)
                .push_bind(e.event_type)
                .push_bind(e.shutdown_reason)
                .push_bind(&e.detail);
        });
        qb.build().execute(&self.pool).await.map_err(StoreError::query("writing lifecycle events"))?;
        Ok(())
    }

    pub async fn enqueue(&self, items: &[NewQueueItem]) -> Result<()> {
        for chunk in items.chunks(INSERT_CHUNK) {
            let mut qb =
                QueryBuilder::new("INSERT INTO sync_queue (org_id, event_id, enqueued_at, updated_at) ");
            qb.push_values(chunk, |mut b, i| {
                b.push_bind(&i.org_id)
                    .push_bind(i.event_id.to_string())
                    .push_bind(ts(i.enqueued_at))
                    .push_bind(ts(i.enqueued_at));
            });
            qb.build().execute(&self.pool).await.map_err(StoreError::query("enqueueing"))?;
        }
        Ok(())
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
    Batch::from_rows(rows, limit, last)
}
