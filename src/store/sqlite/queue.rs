//! The sync queue on SQLite (the `sync_queue` table); see `postgres/queue.rs`.

use std::collections::HashSet;

use chrono::Utc;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::reprocess::json_list;
use super::ts;
use crate::store::reprocess::q;
use crate::store::Result;

/// Which of these events have an item pending or processing (see `postgres/queue.rs`).
pub async fn pending_reprocess(tx: &mut SqliteConnection, events: &[(&str, Uuid)]) -> Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = events.iter().map(|(_, id)| *id).collect();
    let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT event_id FROM sync_queue WHERE event_id IN (SELECT value FROM json_each($1))
             AND state IN ('pending', 'processing')",
    )
    .bind(json_list(&texts))
    .fetch_all(tx)
    .await
    .map_err(q)?;
    Ok(rows.iter().filter_map(|t| Uuid::parse_str(t).ok()).collect())
}

/// One reprocess item per event unless an item of it is open; returns the events inserted.
pub async fn enqueue_reprocess(
    tx: &mut SqliteConnection,
    events: &[(&str, Uuid)],
    request_id: Uuid,
    requested_by: &str,
) -> Result<HashSet<Uuid>> {
    let pairs: Vec<(&str, String)> = events.iter().map(|(o, id)| (*o, id.to_string())).collect();
    let rows: Vec<String> = sqlx::query_scalar(
        "INSERT INTO sync_queue (org_id, event_id, state, enqueued_at, updated_at, reprocess,
                                     reprocess_request_id, requested_by)
             SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), 'pending', $2, $2, 1,
                    $3, $4
             FROM json_each($1) AS j
             WHERE NOT EXISTS (SELECT 1 FROM sync_queue o WHERE o.event_id = json_extract(j.value, '$[1]')
                               AND o.state IN ('pending', 'processing'))
             ON CONFLICT (event_id) WHERE reprocess = 1 AND state IN ('pending', 'processing')
             DO NOTHING
             RETURNING event_id",
    )
    .bind(json_list(&pairs))
    .bind(ts(Utc::now()))
    .bind(request_id.to_string())
    .bind(requested_by)
    .fetch_all(tx)
    .await
    .map_err(q)?;
    Ok(rows.iter().filter_map(|t| Uuid::parse_str(t).ok()).collect())
}
