//! The sync queue as a Supabase Queues (pgmq) queue on PostgreSQL: the figures a refresh reads,
//! the relations the reprocessing API's selections join, and its writes.
//!
//! A queue `q` lives in `pgmq.q_q` (one row per open message: `msg_id`, `read_ct`, `enqueued_at`,
//! `last_read_at`, `vt`, `message`, `headers`). The exporter reads these fields of `message`
//! (docs/log-store.md): `event_id` (uuid text), `org_id`, `reprocess` (JSON `true` for a
//! reprocessing message; absent means false), and writes `reprocess_request_id` and
//! `requested_by` on its own messages. A message leaves the table when the sync service archives
//! or deletes it, so every row is open.
//!
//! Waiting and in flight are told apart with the attempt log: a message is **in flight** when it
//! has been read (`read_ct > 0`) and its attempt number `read_ct` is not logged yet (the worker
//! holds it); a message never read, or whose last attempt was logged (`retrying`: it waits for
//! its `vt`), is **waiting**. In flight with `vt` passed is the lease-expired analogue: the
//! worker vanished, and the next `pgmq.read` hands it out again (the reader logs the lost attempt
//! `abandoned`). The lookup follows `sync_attempts_item (item_id, attempt)`.

use std::collections::HashSet;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::store::error::{reprocessing, Result};

/// The queue's table.
pub fn table(name: &str) -> String {
    format!("pgmq.q_{name}")
}

/// Its name in `sync_attempts.queue`.
pub fn label(name: &str) -> String {
    format!("pgmq:{name}")
}

/// Whether message `m`'s current attempt is held by a worker (see the module's comment).
fn held(name: &str) -> String {
    format!(
        "(m.read_ct > 0 AND NOT EXISTS (SELECT 1 FROM sync_attempts a WHERE a.item_id = m.msg_id
              AND a.attempt = m.read_ct AND a.queue = '{label}'))",
        label = label(name)
    )
}

/// `message->>'event_id'` when it is a uuid: a malformed message must not fail a refresh.
fn event_id(m: &str) -> String {
    format!(
        "CASE WHEN {m}.message->>'event_id' ~* '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$'
              THEN ({m}.message->>'event_id')::uuid END"
    )
}

const REPROCESS: &str = "coalesce(m.message->'reprocess' = 'true'::jsonb, false)";

/// Open messages per org (the columns of `QueueStat`), exact against the queue's table.
pub fn stats_sql(name: &str, now: &str) -> String {
    format!(
        "SELECT org_id, count(CASE WHEN NOT held THEN 1 END) AS depth,
                count(CASE WHEN NOT held AND reprocess THEN 1 END) AS reprocess_depth,
                min(CASE WHEN NOT held THEN enqueued_at END) AS oldest_enqueued_at,
                count(CASE WHEN held THEN 1 END) AS in_flight,
                count(CASE WHEN held AND vt < {now} THEN 1 END) AS lease_expired
         FROM (SELECT coalesce(m.message->>'org_id', '') AS org_id, m.enqueued_at, m.vt,
                      {REPROCESS} AS reprocess, {held} AS held
               FROM {table} m) AS q
         GROUP BY org_id",
        held = held(name),
        table = table(name),
    )
}

/// The ids of events with an open message.
pub fn live_sql(name: &str) -> String {
    format!(
        "SELECT e FROM (SELECT {id} AS e FROM {table} m) AS l WHERE e IS NOT NULL",
        id = event_id("m"),
        table = table(name)
    )
}

/// Whether event `event` (an SQL expression of type uuid) has an open message; only reprocess
/// messages when `reprocess_only`. (No index on the message's event id: the queue holds the
/// handful of open messages, not history.)
pub fn open_item(name: &str, event: &str, reprocess_only: bool) -> String {
    let flag = if reprocess_only { format!("AND {REPROCESS}") } else { String::new() };
    format!(
        "EXISTS (SELECT 1 FROM {table} m WHERE m.message->>'event_id' = ({event})::text {flag})",
        table = table(name)
    )
}

/// Sync failures, one row per event (the columns `sync_failure::columns` reads): an event whose
/// latest final attempt (`succeeded` or `gave_up`, on any queue) is a give-up logged for this
/// queue (the message itself was archived), or whose non-reprocess message is in flight past its
/// `vt` (the worker vanished). A reprocess's `retrying` attempts are not final, so a reprocessed
/// failure stays listed, flagged pending, until the reprocess succeeds or gives up.
pub fn failures(name: &str, now: &str) -> String {
    format!(
        "(SELECT a.id, a.event_id, 'failed' AS state, a.error_class, a.http_status, a.attempt AS attempts,
                 a.error_detail AS last_error, a.finished_at AS given_up_at,
                 CAST(NULL AS timestamptz) AS lease_expired_at, a.worker
          FROM sync_attempts a
          WHERE a.queue = '{label}' AND a.outcome = 'gave_up'
            AND NOT EXISTS (SELECT 1 FROM sync_attempts l WHERE l.event_id = a.event_id AND l.id > a.id
                            AND l.outcome IN ('succeeded', 'gave_up'))
          UNION ALL
          SELECT m.msg_id, {id}, 'processing', 'worker_lost', CAST(NULL AS integer), m.read_ct,
                 CAST(NULL AS text), CAST(NULL AS timestamptz), m.vt, CAST(NULL AS text)
          FROM {table} m
          WHERE {held} AND m.vt < {now} AND NOT {REPROCESS} AND {id} IS NOT NULL)",
        label = label(name),
        table = table(name),
        held = held(name),
        id = event_id("m"),
    )
}

/// Which of these events have an open message.
pub async fn pending(tx: &mut PgConnection, name: &str, events: &[(&str, Uuid)]) -> Result<HashSet<Uuid>> {
    let ids: Vec<String> = events.iter().map(|(_, id)| id.to_string()).collect();
    let sql = format!(
        "SELECT DISTINCT m.message->>'event_id' FROM {table} m WHERE m.message->>'event_id' = ANY($1::text[])",
        table = table(name)
    );
    let rows: Vec<String> = sqlx::query_scalar(&sql).bind(&ids).fetch_all(tx).await.map_err(reprocessing)?;
    Ok(rows.iter().filter_map(|t| Uuid::parse_str(t).ok()).collect())
}

/// One reprocess message per event unless a message of it is open; returns the events sent.
///
/// At most one open reprocess message per event, across exporter replicas, without a unique index
/// (a pgmq table has none on the message): each request takes a transaction-scoped advisory lock
/// per event (in key order, so that two requests never wait on each other in a circle), then
/// checks the queue's table in a statement of its own, then sends. Under READ COMMITTED that
/// check sees every message committed before the lock was granted, and a concurrent request for
/// the same event holds the lock until it commits: the second request finds the first one's
/// message and sends nothing. Locks end with the transaction, also when it fails.
pub async fn enqueue_reprocess(
    tx: &mut PgConnection,
    name: &str,
    events: &[(&str, Uuid)],
    request_id: Uuid,
    requested_by: &str,
) -> Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = events.iter().map(|(_, id)| *id).collect();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(k) FROM (
             SELECT DISTINCT hashtextextended('webhook-health-exporter reprocess ' || id::text, 0) AS k
             FROM unnest($1::uuid[]) AS id ORDER BY k) AS keys",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(reprocessing)?;
    let open = pending(&mut *tx, name, events).await?;
    let fresh: Vec<&(&str, Uuid)> = events.iter().filter(|(_, id)| !open.contains(id)).collect();
    if fresh.is_empty() {
        return Ok(HashSet::new());
    }
    let orgs: Vec<&str> = fresh.iter().map(|(o, _)| *o).collect();
    let fresh_ids: Vec<Uuid> = fresh.iter().map(|(_, id)| *id).collect();
    sqlx::query(
        "SELECT pgmq.send_batch($1, ARRAY(
             SELECT jsonb_build_object('event_id', t.event_id, 'org_id', t.org_id, 'reprocess', true,
                                       'reprocess_request_id', $4::uuid, 'requested_by', $5::text)
             FROM unnest($2::text[], $3::uuid[]) WITH ORDINALITY AS t(org_id, event_id, n) ORDER BY t.n))",
    )
    .bind(name)
    .bind(&orgs)
    .bind(&fresh_ids)
    .bind(request_id)
    .bind(requested_by)
    .fetch_all(&mut *tx)
    .await
    .map_err(reprocessing)?;
    Ok(fresh_ids.into_iter().collect())
}
