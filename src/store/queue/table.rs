//! The sync queue as the `sync_queue` table (migrations 0001, 0002, 0007, 0009), on both backends:
//! the figures a refresh reads, the relations the reprocessing API's selections join, and its
//! writes. The Edge Function enqueues with an INSERT, the sync service works it through migration
//! 0007's functions (`store/sync.rs`).

use std::collections::HashSet;

use chrono::Utc;
use sqlx::{PgConnection, SqliteConnection};
use uuid::Uuid;

use crate::domain::sync::SyncErrorClass;
use crate::store::error::{reprocessing, Result};
use crate::store::sqlite::text::{json_list, ts};

/// Open items per org (the columns of `QueueStat`), as rows to be summed per org (an org has a
/// row per part it appears in); `now` is the backend's current time (leases that ran out before
/// it). Each part is the predicate of a partial index (migrations 0001 and 0007), so the read
/// follows the open items, not the queue's history, and the waiting items are counted from
/// `sync_queue_waiting (org_id, enqueued_at)` alone, in its order: 0.3 ms for 2,100 items where
/// one grouping of all open items' rows took 2.4 ms (run 9's profile).
pub fn stats_sql(now: &str) -> String {
    format!(
        "SELECT org_id, count(*) AS depth, 0 AS reprocess_depth, min(enqueued_at) AS oldest_enqueued_at,
                0 AS in_flight, 0 AS lease_expired
         FROM sync_queue WHERE state = 'pending' GROUP BY org_id
         UNION ALL
         SELECT org_id, 0, count(*), NULL, 0, 0
         FROM sync_queue WHERE reprocess AND state = 'pending' GROUP BY org_id
         UNION ALL
         SELECT org_id, 0, 0, NULL, count(*), count(CASE WHEN lease_until < {now} THEN 1 END)
         FROM sync_queue WHERE state = 'processing' GROUP BY org_id"
    )
}

/// The ids of events with an open item (waiting or in flight), one branch per state as above.
pub const LIVE_SQL: &str = "SELECT event_id FROM sync_queue WHERE state = 'pending'
     UNION ALL SELECT event_id FROM sync_queue WHERE state = 'processing'";

/// Whether event `event` (an SQL expression) has an open item; only reprocess items when
/// `reprocess_only`.
pub fn open_item(event: &str, reprocess_only: bool) -> String {
    let flag = if reprocess_only { "AND p.reprocess" } else { "" };
    format!(
        "EXISTS (SELECT 1 FROM sync_queue p WHERE p.event_id = {event} {flag}
                 AND p.state IN ('pending', 'processing'))"
    )
}

/// Sync failures, one row per event at most (the columns `sync_failure::columns` reads): an
/// event's latest item, an open reprocess of it left aside, when that item is `failed` (given
/// up), or `processing` with a lease that ran out (its worker vanished; the next `sync_claim`
/// returns it to the queue or gives it up). Leaving the open reprocess aside keeps a reprocessed
/// failure listed, flagged pending, until the reprocess succeeds or fails. A give-up's time is
/// that of its logged `gave_up` attempt: a writer that sets `state = 'failed'` by hand rarely
/// moves `updated_at`, but the log's trigger records the attempt all the same. The error class
/// is folded into the vocabulary as the attempt log folds it.
pub fn failures(now: &str) -> String {
    let known: Vec<String> = SyncErrorClass::ALL.iter().map(|c| format!("'{c}'")).collect();
    format!(
        "(SELECT f.id, f.event_id, f.state,
                 CASE WHEN f.state = 'processing' THEN 'worker_lost'
                      WHEN f.last_error_class IN ({known}) THEN f.last_error_class ELSE 'other' END AS error_class,
                 CASE WHEN f.state = 'failed' AND f.last_http_status BETWEEN 100 AND 599
                      THEN f.last_http_status END AS http_status,
                 f.attempts,
                 CASE WHEN f.state = 'failed' THEN f.last_error END AS last_error,
                 CASE WHEN f.state = 'failed' THEN coalesce(
                     (SELECT max(a.finished_at) FROM sync_attempts a
                      WHERE a.item_id = f.id AND a.queue = 'sync_queue' AND a.outcome = 'gave_up'),
                     f.updated_at) END AS given_up_at,
                 CASE WHEN f.state = 'processing' THEN f.lease_until END AS lease_expired_at,
                 f.claimed_by AS worker
          FROM sync_queue f
          WHERE (f.state = 'failed' OR (f.state = 'processing' AND NOT f.reprocess AND f.lease_until < {now}))
            AND NOT EXISTS (SELECT 1 FROM sync_queue l WHERE l.event_id = f.event_id AND l.id > f.id
                            AND NOT (l.reprocess AND l.state IN ('pending', 'processing'))))",
        known = known.join(", ")
    )
}

/// Which of these events have an item pending or processing: a reprocess, or a sync the sync
/// service has not finished (retrying, or in flight).
pub async fn pending_pg(tx: &mut PgConnection, events: &[(&str, Uuid)]) -> Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = events.iter().map(|(_, id)| *id).collect();
    let rows: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT event_id FROM sync_queue WHERE event_id = ANY($1::uuid[])
             AND state IN ('pending', 'processing')",
    )
    .bind(&ids)
    .fetch_all(tx)
    .await
    .map_err(reprocessing)?;
    Ok(rows.into_iter().collect())
}

/// One reprocess item per event unless an item of it is open; returns the events inserted.
/// Between concurrent reprocess requests (on any replica) the partial unique index
/// `sync_queue_one_open_reprocess` decides: the second writer waits for the first, then inserts
/// nothing.
pub async fn enqueue_reprocess_pg(
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
    .map_err(reprocessing)?;
    Ok(rows.into_iter().collect())
}

/// [`pending_pg`] on SQLite.
pub async fn pending_sqlite(tx: &mut SqliteConnection, events: &[(&str, Uuid)]) -> Result<HashSet<Uuid>> {
    let texts: Vec<String> = events.iter().map(|(_, id)| id.to_string()).collect();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT event_id FROM sync_queue WHERE event_id IN (SELECT value FROM json_each($1))
             AND state IN ('pending', 'processing')",
    )
    .bind(json_list(&texts))
    .fetch_all(tx)
    .await
    .map_err(reprocessing)?;
    Ok(rows.iter().filter_map(|t| Uuid::parse_str(t).ok()).collect())
}

/// [`enqueue_reprocess_pg`] on SQLite (whose writers are serialized by `BEGIN IMMEDIATE`).
pub async fn enqueue_reprocess_sqlite(
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
    .map_err(reprocessing)?;
    Ok(rows.iter().filter_map(|t| Uuid::parse_str(t).ok()).collect())
}
