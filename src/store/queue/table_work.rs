//! The `sync_queue` table as a sync service works it on PostgreSQL: calls of migration 0007's
//! `sync_claim` and `sync_finish` (SQLite runs the same statements: `sqlite/sync.rs`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::types::PgInterval;
use sqlx::PgPool;
use uuid::Uuid;

use crate::store::error::{timed, Result, StoreError};
use crate::store::work::{Claim, ClaimedItem, Finish};

fn interval(d: Duration) -> Result<PgInterval> {
    PgInterval::try_from(d).map_err(|e| StoreError::Invalid { field: "interval", detail: e.to_string() })
}

type ClaimRow = (i64, Uuid, String, i32, bool, Option<DateTime<Utc>>, Option<String>);

pub async fn claim(pool: &PgPool, timeout: Duration, claim: &Claim<'_>) -> Result<Vec<ClaimedItem>> {
    let q = sqlx::query_as::<_, ClaimRow>(
        "SELECT item_id, event_id, org_id, attempt, reprocess, received_at, entity_name
         FROM sync_claim($1, $2::int, $3, $4)",
    )
    .bind(claim.worker)
    .bind(claim.limit)
    .bind(interval(claim.lease)?)
    .bind(claim.max_attempts);
    let rows = timed(timeout, "claiming sync-queue items", q.fetch_all(pool)).await?;
    Ok(rows
        .into_iter()
        .map(|(item_id, event_id, org_id, attempt, reprocess, received_at, entity_name)| ClaimedItem {
            item_id,
            event_id,
            org_id,
            attempt,
            reprocess,
            received_at,
            entity_name,
        })
        .collect())
}

pub async fn finish(
    pool: &PgPool,
    timeout: Duration,
    item_id: i64,
    attempt: i32,
    f: &Finish,
) -> Result<bool> {
    let q = sqlx::query_scalar("SELECT sync_finish($1, $2, $3, $4, $5, $6, $7)")
        .bind(item_id)
        .bind(attempt)
        .bind(f.outcome.as_str())
        .bind(f.error_class.map(|c| c.as_str()))
        .bind(f.http_status)
        .bind(f.error_detail.as_deref())
        .bind(interval(f.retry_in)?);
    timed(timeout, "finishing a sync attempt", q.fetch_one(pool)).await
}
