//! The sync queue on PostgreSQL (the `sync_queue` table): the sync service's side, and the
//! reprocessing API's writes. Depth and age are read with the rest of a refresh (`read.rs`,
//! `sql::queue_stats`). A queue on another implementation (pgmq) replaces this file; see
//! docs/architecture.md.

use std::collections::HashSet;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::store::reprocess::q;
use crate::store::{Result, StoreError};

/// The sync service's side: marks up to `limit` of the oldest pending items done.
pub async fn work_off(pool: &PgPool, org_id: &str, limit: i64) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sync_queue SET state = 'done', attempts = attempts + 1, updated_at = now()
         WHERE id IN (SELECT id FROM sync_queue WHERE org_id = $1 AND state = 'pending'
                      ORDER BY enqueued_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(org_id)
    .bind(limit)
    .execute(pool)
    .await
    .map_err(StoreError::query("working off the queue"))?;
    Ok(done.rows_affected())
}

/// Which of these events have a reprocess pending or processing.
pub async fn pending_reprocess(tx: &mut PgConnection, events: &[(&str, Uuid)]) -> Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = events.iter().map(|(_, id)| *id).collect();
    let rows: Vec<Uuid> = sqlx::query_scalar(
        "SELECT event_id FROM sync_queue WHERE event_id = ANY($1::uuid[])
             AND reprocess AND state IN ('pending', 'processing')",
    )
    .bind(&ids)
    .fetch_all(tx)
    .await
    .map_err(q)?;
    Ok(rows.into_iter().collect())
}

/// One reprocess item per event unless one is already open (the partial unique index decides,
/// also between replicas); returns the events inserted.
pub async fn enqueue_reprocess(
    tx: &mut PgConnection,
    events: &[(&str, Uuid)],
    request_id: Uuid,
    requested_by: &str,
) -> Result<HashSet<Uuid>> {
    let orgs: Vec<&str> = events.iter().map(|(o, _)| *o).collect();
    let ids: Vec<Uuid> = events.iter().map(|(_, id)| *id).collect();
    let rows: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO sync_queue (org_id, event_id, state, enqueued_at, updated_at, reprocess,
                                     reprocess_request_id, requested_by)
             SELECT t.org_id, t.event_id, 'pending', now(), now(), true, $3, $4
             FROM unnest($1::text[], $2::uuid[]) WITH ORDINALITY AS t(org_id, event_id, n)
             ORDER BY t.n
             ON CONFLICT (event_id) WHERE reprocess AND state IN ('pending', 'processing') DO NOTHING
             RETURNING event_id",
    )
    .bind(&orgs)
    .bind(&ids)
    .bind(request_id)
    .bind(requested_by)
    .fetch_all(tx)
    .await
    .map_err(q)?;
    Ok(rows.into_iter().collect())
}
