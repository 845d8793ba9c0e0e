//! The sync queue on PostgreSQL (the `sync_queue` table): the reprocessing API's writes (the
//! sync service works the queue through migration 0007's functions, `sync.rs`). Depth and age are read with the rest of a refresh (`read.rs`,
//! `sql::queue_stats`). A queue on another implementation (pgmq) replaces this file; see
//! docs/architecture.md.

use std::collections::HashSet;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::store::reprocess::q;
use crate::store::Result;

/// Which of these events have an item pending or processing: a reprocess, or a sync the sync
/// service has not finished (retrying, or in flight).
pub async fn pending_reprocess(tx: &mut PgConnection, events: &[(&str, Uuid)]) -> Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = events.iter().map(|(_, id)| *id).collect();
    let rows: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT event_id FROM sync_queue WHERE event_id = ANY($1::uuid[])
             AND state IN ('pending', 'processing')",
    )
    .bind(&ids)
    .fetch_all(tx)
    .await
    .map_err(q)?;
    Ok(rows.into_iter().collect())
}

/// One reprocess item per event unless an item of it is open (between reprocess requests the
/// partial unique index decides, also across replicas); returns the events inserted.
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
             WHERE NOT EXISTS (SELECT 1 FROM sync_queue o WHERE o.event_id = t.event_id
                               AND o.state IN ('pending', 'processing'))
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
