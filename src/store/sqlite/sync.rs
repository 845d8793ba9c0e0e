//! The sync service's writes on SQLite: the statements docs/log-store.md documents in place of
//! PostgreSQL's functions, each call in one `BEGIN IMMEDIATE` transaction (SQLite's one writer).

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use super::text::{json_list, ts};
use super::SqliteStore;
use crate::domain::sync::{SyncErrorClass, SyncOutcome};
use crate::store::error::{timed, Result, StoreError};
use crate::store::work::{logged_class, logged_detail as detail, AttemptRecord, Claim, ClaimedItem, Finish};

/// The one way into `sync_attempts` (as `sync_record_attempt()`): the event's `received_at` is
/// copied for the end-to-end lag.
const RECORD: &str =
    "INSERT INTO sync_attempts (event_id, org_id, queue, item_id, attempt, reprocess, worker,
        received_at, started_at, finished_at, outcome, error_class, http_status, error_detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT received_at FROM webhook_events WHERE event_id = $1),
             min($8, $9), $9, $10, $11, $12, $13)
     RETURNING id";

async fn record(tx: &mut SqliteConnection, r: &AttemptRecord<'_>, now: DateTime<Utc>) -> sqlx::Result<i64> {
    sqlx::query_scalar(RECORD)
        .bind(r.event_id.to_string())
        .bind(r.org_id)
        .bind(r.queue)
        .bind(r.item_id)
        .bind(r.attempt.max(1))
        .bind(r.reprocess)
        .bind(r.worker)
        .bind(ts(r.started_at))
        .bind(ts(now))
        .bind(r.finish.outcome.as_str())
        .bind(logged_class(r.finish.outcome, r.finish.error_class))
        .bind(r.finish.http_status)
        .bind(detail(r.finish.error_detail.as_deref()))
        .fetch_one(tx)
        .await
}

fn check_status(status: Option<i32>) -> Result<()> {
    match status {
        Some(s) if !(100..=599).contains(&s) => Err(StoreError::Invalid {
            field: "http_status",
            detail: format!("{s} is not an HTTP status (100-599)"),
        }),
        _ => Ok(()),
    }
}

async fn immediate(s: &SqliteStore) -> sqlx::Result<Transaction<'static, Sqlite>> {
    s.pool().begin_with("BEGIN IMMEDIATE").await
}

fn chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

type QueueRow = (i64, String, String, i32, bool, Option<String>, Option<String>);

pub async fn claim(s: &SqliteStore, claim: &Claim<'_>) -> Result<Vec<ClaimedItem>> {
    if claim.worker.is_empty() || !(1..=1000).contains(&claim.limit) || claim.lease.is_zero() {
        return Err(StoreError::Invalid {
            field: "claim",
            detail: "a worker name, a limit of 1-1000 and a positive lease are required".into(),
        });
    }
    let now = Utc::now();
    timed(s.timeout, "claiming sync-queue items", async {
        let mut tx = immediate(s).await?;
        let lost: Vec<QueueRow> = sqlx::query_as(
            "SELECT id, event_id, org_id, attempts, reprocess, claimed_by, claimed_at FROM sync_queue
             WHERE state = 'processing' AND lease_until < $1 ORDER BY lease_until LIMIT 100",
        )
        .bind(ts(now))
        .fetch_all(&mut *tx)
        .await?;
        for (id, event_id, org_id, attempts, reprocess, worker, claimed_at) in lost {
            let give_up = attempts >= claim.max_attempts;
            let outcome = if give_up { SyncOutcome::GaveUp } else { SyncOutcome::Abandoned };
            let why = format!("lease of worker {} ran out", worker.as_deref().unwrap_or("?"));
            let finish = Finish::failed(outcome, SyncErrorClass::WorkerLost, None, &why);
            let started_at = claimed_at.as_deref().and_then(|t| t.parse().ok()).unwrap_or(now);
            let event_id = Uuid::parse_str(&event_id).unwrap_or_default();
            let r = AttemptRecord {
                event_id,
                org_id: &org_id,
                attempt: attempts,
                started_at,
                finish: &finish,
                worker: worker.as_deref(),
                item_id: Some(id),
                reprocess,
                queue: "sync_queue",
            };
            record(&mut tx, &r, now).await?;
            sqlx::query(
                "UPDATE sync_queue SET state = $2, lease_until = NULL, claimed_by = NULL, visible_at = NULL,
                        updated_at = $3, last_error_class = 'worker_lost', last_http_status = NULL,
                        last_error = $4
                 WHERE id = $1",
            )
            .bind(id)
            .bind(if give_up { "failed" } else { "pending" })
            .bind(ts(now))
            .bind(&why)
            .execute(&mut *tx)
            .await?;
        }
        // SQLite takes no UPDATE inside WITH: the claimed ids first, then their rows.
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE sync_queue SET state = 'processing', attempts = attempts + 1, claimed_by = $1,
                    claimed_at = $2, lease_until = $3, updated_at = $2
             WHERE id IN (SELECT id FROM sync_queue
                          WHERE state = 'pending' AND (visible_at IS NULL OR visible_at <= $2)
                          ORDER BY enqueued_at, id LIMIT $4)
             RETURNING id",
        )
        .bind(claim.worker)
        .bind(ts(now))
        .bind(ts(now + chrono(claim.lease)))
        .bind(claim.limit)
        .fetch_all(&mut *tx)
        .await?;
        let claimed: Vec<QueueRow> = sqlx::query_as(
            "SELECT q.id, q.event_id, q.org_id, q.attempts, q.reprocess, e.received_at, e.entity_name
             FROM sync_queue q LEFT JOIN webhook_events e ON e.event_id = q.event_id
             WHERE q.id IN (SELECT value FROM json_each($1))
             ORDER BY q.enqueued_at, q.id",
        )
        .bind(json_list(&ids))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    })
    .await
    .map(|rows| {
        rows.into_iter()
            .map(|(item_id, event_id, org_id, attempt, reprocess, received_at, entity_name)| ClaimedItem {
                item_id,
                event_id: Uuid::parse_str(&event_id).unwrap_or_default(),
                org_id,
                attempt,
                reprocess,
                received_at: received_at.and_then(|t| t.parse().ok()),
                entity_name,
            })
            .collect()
    })
}

pub async fn finish(s: &SqliteStore, item_id: i64, attempt: i32, f: &Finish) -> Result<bool> {
    if f.outcome == SyncOutcome::Abandoned {
        return Err(StoreError::Invalid {
            field: "outcome",
            detail: "finishing takes succeeded, retrying or gave_up".into(),
        });
    }
    check_status(f.http_status)?;
    let now = Utc::now();
    timed(s.timeout, "finishing a sync attempt", async {
        let mut tx = immediate(s).await?;
        let item: Option<QueueRow> = sqlx::query_as(
            "SELECT id, event_id, org_id, attempts, reprocess, claimed_by, claimed_at FROM sync_queue
             WHERE id = $1 AND state = 'processing'",
        )
        .bind(item_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, event_id, org_id, attempts, reprocess, worker, claimed_at)) = item else {
            return Ok(false);
        };
        if attempts != attempt {
            return Ok(false);
        }
        let r = AttemptRecord {
            event_id: Uuid::parse_str(&event_id).unwrap_or_default(),
            org_id: &org_id,
            attempt,
            started_at: claimed_at.as_deref().and_then(|t| t.parse().ok()).unwrap_or(now),
            finish: f,
            worker: worker.as_deref(),
            item_id: Some(id),
            reprocess,
            queue: "sync_queue",
        };
        // Logged first: the give-up trigger then knows this give-up is already recorded.
        record(&mut tx, &r, now).await?;
        let (state, visible_at) = match f.outcome {
            SyncOutcome::Succeeded => ("done", None),
            SyncOutcome::Retrying => ("pending", Some(ts(now + chrono(f.retry_in)))),
            _ => ("failed", None),
        };
        sqlx::query(
            "UPDATE sync_queue SET state = $2, visible_at = $3, lease_until = NULL, updated_at = $4,
                    last_error_class = $5, last_http_status = $6, last_error = $7
             WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(visible_at)
        .bind(ts(now))
        .bind(logged_class(f.outcome, f.error_class))
        .bind(f.http_status)
        .bind(if f.outcome == SyncOutcome::Succeeded { None } else { detail(f.error_detail.as_deref()) })
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    })
    .await
}

pub async fn record_attempt(s: &SqliteStore, r: &AttemptRecord<'_>) -> Result<i64> {
    check_status(r.finish.http_status)?;
    timed(s.timeout, "recording a sync attempt", async {
        let mut conn = s.pool().acquire().await?;
        record(&mut conn, r, Utc::now()).await
    })
    .await
}
