//! Writes as the webhook infrastructure and the sync service make them: used by the simulator,
//! the demo and the tests, never by the exporter's read path. Lifecycle events are the exception:
//! the simulator and the demo post theirs to the ingestion endpoint (`store/ingest.rs` writes
//! them), and `insert_lifecycle` is left for tests that need exact rows.

use sqlx::QueryBuilder;

use super::bind::{At, Id, Json};
use super::{sql, NewEvent, NewLifecycleEvent, NewOrganization, NewQueueItem, Result, Store, StoreError};

/// Rows per multi-row INSERT: 10 columns each stays under SQLite's 32766 bind variables (and far
/// under PostgreSQL's 65535).
const INSERT_CHUNK: usize = 3000;

impl Store {
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

    /// Lifecycle rows as another writer would leave them (no source, no source id): tests only.
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
        match self {
            Store::Postgres(s) => super::postgres::queue::work_off(s.pool(), org_id, limit).await,
            Store::Sqlite(s) => super::sqlite::queue::work_off(s.pool(), org_id, limit).await,
        }
    }
}
