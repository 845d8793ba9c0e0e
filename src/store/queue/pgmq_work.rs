//! pgmq as its writers work it: the Edge Function's sends, a sync service's reads and finishes,
//! and the simulator's history written in bulk. Used by the simulator, the demo and the tests
//! (the reference Edge Function and sync worker do the same in TypeScript), never by the
//! exporter's read path.
//!
//! A sync service on pgmq: `pgmq.read(queue, vt, qty)` hands out messages for `vt` seconds and
//! counts the read in `read_ct`, which is the attempt number; each attempt is logged through
//! `sync_record_attempt(..., queue => 'pgmq:<name>')` in the transaction that archives the
//! message (succeeded, gave up) or hides it until its retry (`pgmq.set_vt`). A message read again
//! whose previous attempt was never logged lost its worker: the reader logs that attempt
//! `abandoned` (`gave_up` at the attempt limit, and archives it), as `sync_claim` does. The reader
//! names itself in the message's `headers` (`{"worker": ...}`), so that the attempt it finishes,
//! or abandons, is logged with its worker.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use super::pgmq::{label, table};
use crate::domain::sync::SyncOutcome;
use crate::store::error::{timed, Result};
use crate::store::history::{ItemState, QueuedItem};
use crate::store::work::{Claim, ClaimedItem, Finish};

/// Whole seconds of a lease as `pgmq.read` takes them; under a second reads as 0 (visible again
/// at once), which only tests of lost workers ask for.
fn vt_seconds(lease: Duration) -> i32 {
    if lease < Duration::from_secs(1) {
        0
    } else {
        i32::try_from(lease.as_millis().div_ceil(1000)).unwrap_or(i32::MAX)
    }
}

type ReadRow = (
    i64,
    i32,
    Option<Uuid>,
    Option<String>,
    bool,
    bool,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// Creates queue `name` unless it exists (`pgmq.create` is idempotent), for the demo and the
/// simulator; a database without pgmq is an error saying so.
pub async fn create(pool: &PgPool, timeout: Duration, name: &str) -> Result<()> {
    let installed: bool = timed(
        timeout,
        "looking for pgmq",
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'pgmq')")
            .fetch_one(pool),
    )
    .await?;
    if !installed {
        return Err(crate::store::error::StoreError::Invalid {
            field: "--sync-queue",
            detail: format!(
                "pgmq:{name}: pgmq is not installed in this database (Supabase Queues, or pgmq's SQL)"
            ),
        });
    }
    timed(timeout, "creating the pgmq queue", sqlx::query("SELECT pgmq.create($1)").bind(name).execute(pool))
        .await
        .map(|_| ())
}

/// Reads up to `claim.limit` visible messages for `claim.lease`; logs the lost attempts of
/// messages read again (see the module's comment).
pub async fn claim(
    pool: &PgPool,
    timeout: Duration,
    name: &str,
    claim: &Claim<'_>,
) -> Result<Vec<ClaimedItem>> {
    const READ: &str = "WITH m AS (SELECT * FROM pgmq.read($1, $2, $3)),
              r AS (SELECT m.*, CASE WHEN m.message->>'event_id' ~* '^[0-9a-f-]{36}$'
                                     THEN (m.message->>'event_id')::uuid END AS event_id FROM m)
         SELECT r.msg_id, r.read_ct, r.event_id, r.message->>'org_id',
                coalesce(r.message->'reprocess' = 'true'::jsonb, false),
                r.read_ct > 1 AND NOT EXISTS (SELECT 1 FROM sync_attempts a WHERE a.queue = $4
                    AND a.item_id = r.msg_id AND a.attempt = r.read_ct - 1),
                r.headers->>'worker', e.received_at, e.entity_name
         FROM r LEFT JOIN webhook_events e ON e.event_id = r.event_id ORDER BY r.msg_id";
    let queue = label(name);
    timed(timeout, "reading pgmq messages", async {
        let mut tx = pool.begin().await?;
        let rows: Vec<ReadRow> = sqlx::query_as(READ)
            .bind(name)
            .bind(vt_seconds(claim.lease))
            .bind(claim.limit as i32)
            .bind(&queue)
            .fetch_all(&mut *tx)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let named = format!(
            "UPDATE {} SET headers = coalesce(headers, '{{}}') || jsonb_build_object('worker', $2::text)
             WHERE msg_id = ANY($1)",
            table(name)
        );
        sqlx::query(&named).bind(&ids).bind(claim.worker).execute(&mut *tx).await?;
        for (msg_id, read_ct, event_id, org_id, reprocess, lost, worker, received_at, entity_name) in rows {
            let (Some(event_id), Some(org_id)) = (event_id, org_id) else { continue };
            if lost {
                // The lost attempt was number read_ct - 1: at the limit, it is the last.
                let gave_up = read_ct > claim.max_attempts;
                let outcome = if gave_up { SyncOutcome::GaveUp } else { SyncOutcome::Abandoned };
                sqlx::query(
                    "SELECT sync_record_attempt($1, $2, $3, now(), $4, 'worker_lost', NULL,
                         'its worker did not finish the read before its visibility timeout', $8, $5, $6, $7)",
                )
                .bind(event_id)
                .bind(&org_id)
                .bind(read_ct - 1)
                .bind(outcome.as_str())
                .bind(msg_id)
                .bind(reprocess)
                .bind(&queue)
                .bind(worker)
                .execute(&mut *tx)
                .await?;
                if gave_up {
                    sqlx::query("SELECT pgmq.archive($1, $2)")
                        .bind(name)
                        .bind(msg_id)
                        .execute(&mut *tx)
                        .await?;
                    continue;
                }
            }
            items.push(ClaimedItem {
                item_id: msg_id,
                event_id,
                org_id,
                attempt: read_ct,
                reprocess,
                received_at,
                entity_name,
            });
        }
        tx.commit().await?;
        Ok(items)
    })
    .await
}

/// Ends attempt `attempt` of message `msg_id`: logs it, then archives the message (succeeded,
/// gave up) or hides it until its retry. False, changing nothing, when the message was read
/// again since (another attempt holds it), ended, or this attempt is logged already.
pub async fn finish(
    pool: &PgPool,
    timeout: Duration,
    name: &str,
    msg_id: i64,
    attempt: i32,
    f: &Finish,
) -> Result<bool> {
    let held = format!(
        "SELECT m.message->>'event_id', m.message->>'org_id',
                coalesce(m.message->'reprocess' = 'true'::jsonb, false), coalesce(m.last_read_at, now()),
                m.headers->>'worker'
         FROM {table} m WHERE m.msg_id = $1 AND m.read_ct = $2
           AND NOT EXISTS (SELECT 1 FROM sync_attempts a WHERE a.queue = $3 AND a.item_id = m.msg_id
                           AND a.attempt = m.read_ct)
         FOR UPDATE",
        table = table(name)
    );
    let queue = label(name);
    timed(timeout, "finishing a pgmq message", async {
        let mut tx = pool.begin().await?;
        type Held = (Option<String>, Option<String>, bool, DateTime<Utc>, Option<String>);
        let row: Option<Held> =
            sqlx::query_as(&held).bind(msg_id).bind(attempt).bind(&queue).fetch_optional(&mut *tx).await?;
        let Some((Some(event_id), Some(org_id), reprocess, started_at, worker)) = row else {
            return Ok(false);
        };
        let event_id = Uuid::parse_str(&event_id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        sqlx::query("SELECT sync_record_attempt($1, $2, $3, $4, $5, $6, $7, $8, $12, $9, $10, $11)")
            .bind(event_id)
            .bind(&org_id)
            .bind(attempt)
            .bind(started_at)
            .bind(f.outcome.as_str())
            .bind(f.error_class.map(|c| c.as_str()))
            .bind(f.http_status)
            .bind(f.error_detail.as_deref())
            .bind(msg_id)
            .bind(reprocess)
            .bind(&queue)
            .bind(worker)
            .execute(&mut *tx)
            .await?;
        if f.outcome == SyncOutcome::Retrying {
            let retry = chrono::Duration::from_std(f.retry_in).unwrap_or(chrono::Duration::zero());
            sqlx::query("SELECT pgmq.set_vt($1, $2, clock_timestamp() + $3)")
                .bind(name)
                .bind(msg_id)
                .bind(retry)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("SELECT pgmq.archive($1, $2)").bind(name).bind(msg_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    })
    .await
}

/// The simulator's queue items as messages, in the caller's transaction: every item is written
/// to the queue's table as its life left it (`read_ct` its attempts, `vt` its lease or retry
/// time), then the ended ones (done, failed) are archived. Returns each item's `msg_id` by event
/// id, for its logged attempts to name.
pub async fn insert_items(
    tx: &mut PgConnection,
    name: &str,
    items: &[QueuedItem],
) -> std::result::Result<HashMap<String, i64>, sqlx::Error> {
    let mut ids = HashMap::new();
    let mut ended = Vec::new();
    // Six bound columns a row: far under PostgreSQL's 65535 parameters.
    for chunk in items.chunks(10_000) {
        let mut qb = QueryBuilder::new(format!(
            "INSERT INTO {} (read_ct, enqueued_at, last_read_at, vt, message, headers) ",
            table(name)
        ));
        qb.push_values(chunk, |mut b, i| {
            let vt = match i.state {
                ItemState::Processing => i.lease_until,
                _ => i.visible_at,
            };
            b.push_bind(i.attempts)
                .push_bind(i.enqueued_at)
                .push_bind(i.claimed_at)
                .push_bind(vt.unwrap_or(i.enqueued_at))
                .push_bind(
                    serde_json::json!({"event_id": i.event_id, "org_id": i.org_id, "reprocess": false}),
                )
                .push_bind(i.claimed_by.as_ref().map(|w| serde_json::json!({ "worker": w })));
        });
        qb.push(" RETURNING msg_id, message->>'event_id'");
        let rows: Vec<(i64, String)> = qb.build_query_as().fetch_all(&mut *tx).await?;
        let closed: std::collections::HashSet<String> = chunk
            .iter()
            .filter(|i| matches!(i.state, ItemState::Done | ItemState::Failed))
            .map(|i| i.event_id.to_string())
            .collect();
        for (msg_id, event) in rows {
            if closed.contains(&event) {
                ended.push(msg_id);
            }
            ids.insert(event, msg_id);
        }
    }
    if !ended.is_empty() {
        sqlx::query("SELECT pgmq.archive($1, $2::bigint[])")
            .bind(name)
            .bind(&ended)
            .execute(&mut *tx)
            .await?;
    }
    Ok(ids)
}
