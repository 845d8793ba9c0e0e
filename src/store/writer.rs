//! Writes as the webhook infrastructure and the sync service make them: used by the simulator,
//! the demo and the tests, never by the exporter's read path. Lifecycle events are the exception:
//! the simulator and the demo post theirs to the ingestion endpoint (`store/ingest.rs` writes
//! them), and `insert_lifecycle` is left for tests that need exact rows.

use std::collections::HashMap;

use sqlx::QueryBuilder;

use super::bind::{At, Id, Json};
use super::error::{Result, StoreError};
use super::handle::Store;
use super::history::{LoggedAttempt, QueuedItem};
use super::postgres::PgStore;
use super::sql;
use super::sqlite::SqliteStore;
use super::types::{NewEvent, NewLifecycleEvent, NewOrganization, NewQueueItem};

/// Rows per multi-row INSERT of `columns` bound columns: under SQLite's 32766 bind variables
/// (and far under PostgreSQL's 65535).
const fn chunk_of(columns: usize) -> usize {
    30_000 / columns
}

type Ids = std::result::Result<HashMap<String, i64>, sqlx::Error>;

/// What a bulk write does differently per backend. Its settings (the simulator's history, a
/// million rows or more): PostgreSQL does not wait for the WAL at commit; SQLite gets a page
/// cache that holds a batch's random index pages, and statement journals in memory (the
/// connection keeps both, which later reads only gain from). And where queue items go when the
/// store's queue is not the `sync_queue` table.
trait Bulk {
    type Db: sqlx::Database;
    const SETTINGS: &'static [&'static str];

    /// Writes the items to the store's queue when it is not the table (`None`: it is), returning
    /// their ids by event id.
    async fn other_queue(
        &self,
        tx: &mut sqlx::Transaction<'static, Self::Db>,
        items: &[QueuedItem],
    ) -> Option<Ids>;
}

impl Bulk for PgStore {
    type Db = sqlx::Postgres;
    const SETTINGS: &'static [&'static str] = &["SET LOCAL synchronous_commit = off"];

    async fn other_queue(
        &self,
        tx: &mut sqlx::Transaction<'static, Self::Db>,
        items: &[QueuedItem],
    ) -> Option<Ids> {
        self.queue().insert_items_pg(tx, items).await
    }
}

impl Bulk for SqliteStore {
    type Db = sqlx::Sqlite;
    const SETTINGS: &'static [&'static str] = &["PRAGMA cache_size = -65536", "PRAGMA temp_store = memory"];

    async fn other_queue(
        &self,
        _: &mut sqlx::Transaction<'static, Self::Db>,
        _: &[QueuedItem],
    ) -> Option<Ids> {
        None
    }
}

fn bulk_settings<S: Bulk>(_: &S) -> &'static [&'static str] {
    S::SETTINGS
}

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
        self.insert_traffic(events, &[]).await
    }

    /// Writes events, their queue items and the attempts logged for those in one transaction, as
    /// the Edge Function (events and items) and, for history, the sync service left them, into
    /// the store's queue.
    pub async fn insert_traffic(&self, events: &[NewEvent], items: &[QueuedItem]) -> Result<()> {
        let attempts: Vec<(&QueuedItem, &LoggedAttempt)> =
            items.iter().flat_map(|i| i.log.iter().map(move |a| (i, a))).collect();
        let queue = self.queue().label();
        dispatch!(self, s => async {
            let mut tx = s.pool().begin().await?;
            for setting in bulk_settings(s) {
                sqlx::query(setting).execute(&mut *tx).await?;
            }
            for chunk in events.chunks(chunk_of(10)) {
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
            // The ids of items with attempts, for their attempts to name.
            let mut ids: HashMap<String, i64> = HashMap::new();
            let table_items = match s.other_queue(&mut tx, items).await {
                Some(written) => {
                    ids = written?;
                    &[][..]
                }
                None => items,
            };
            for chunk in table_items.chunks(chunk_of(13)) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO sync_queue (org_id, event_id, state, enqueued_at, updated_at, attempts,
                     claimed_by, claimed_at, lease_until, visible_at, last_error_class, last_http_status,
                     last_error) ",
                );
                qb.push_values(chunk, |mut b, i| {
                    b.push_bind(&i.org_id)
                        .push_bind(Id(i.event_id))
                        .push_bind(i.state.as_str())
                        .push_bind(At(i.enqueued_at))
                        .push_bind(At(i.updated_at))
                        .push_bind(i.attempts)
                        .push_bind(&i.claimed_by)
                        .push_bind(i.claimed_at.map(At))
                        .push_bind(i.lease_until.map(At))
                        .push_bind(i.visible_at.map(At))
                        .push_bind(i.last_error_class)
                        .push_bind(i.last_http_status)
                        .push_bind(&i.last_error);
                });
                if chunk.iter().all(|i| i.log.is_empty()) {
                    qb.build().execute(&mut *tx).await?;
                } else {
                    qb.push(" RETURNING id, CAST(event_id AS TEXT)");
                    let rows: Vec<(i64, String)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                    ids.extend(rows.into_iter().map(|(id, event)| (event, id)));
                }
            }
            for chunk in attempts.chunks(chunk_of(13)) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO sync_attempts (event_id, org_id, queue, item_id, attempt, worker, received_at,
                     started_at, finished_at, outcome, error_class, http_status, error_detail) ",
                );
                qb.push_values(chunk, |mut b, (i, a)| {
                    b.push_bind(Id(i.event_id))
                        .push_bind(&i.org_id)
                        .push_bind(&queue)
                        .push_bind(ids.get(&i.event_id.to_string()).copied())
                        .push_bind(a.attempt)
                        .push_bind(&a.worker)
                        .push_bind(i.received_at.map(At))
                        .push_bind(At(a.started_at))
                        .push_bind(At(a.finished_at))
                        .push_bind(a.outcome.as_str())
                        .push_bind(a.error_class)
                        .push_bind(a.http_status)
                        .push_bind(&a.error_detail);
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

    /// Pending items, as the Edge Function enqueues accepted events.
    pub async fn enqueue(&self, items: &[NewQueueItem]) -> Result<()> {
        let items: Vec<QueuedItem> =
            items.iter().map(|i| QueuedItem::enqueued(&i.org_id, i.event_id, i.enqueued_at)).collect();
        self.insert_traffic(&[], &items).await
    }
}
