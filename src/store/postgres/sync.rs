//! The sync service's writes on PostgreSQL: calls of migration 0007's functions.

use chrono::{DateTime, Utc};
use sqlx::postgres::types::PgInterval;
use uuid::Uuid;

use super::PgStore;
use crate::store::error::{timed, Result, StoreError};
use crate::store::work::{AttemptRecord, Claim, ClaimedItem, Finish};

fn interval(d: std::time::Duration) -> Result<PgInterval> {
    PgInterval::try_from(d).map_err(|e| StoreError::Invalid { field: "interval", detail: e.to_string() })
}

type ClaimRow = (i64, Uuid, String, i32, bool, Option<DateTime<Utc>>, Option<String>);

pub async fn claim(s: &PgStore, claim: &Claim<'_>) -> Result<Vec<ClaimedItem>> {
    let q = sqlx::query_as::<_, ClaimRow>(
        "SELECT item_id, event_id, org_id, attempt, reprocess, received_at, entity_name
         FROM sync_claim($1, $2::int, $3, $4)",
    )
    .bind(claim.worker)
    .bind(claim.limit)
    .bind(interval(claim.lease)?)
    .bind(claim.max_attempts);
    let rows = timed(s.timeout, "claiming sync-queue items", q.fetch_all(&s.pool)).await?;
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

pub async fn finish(s: &PgStore, item_id: i64, attempt: i32, f: &Finish) -> Result<bool> {
    let q = sqlx::query_scalar("SELECT sync_finish($1, $2, $3, $4, $5, $6, $7)")
        .bind(item_id)
        .bind(attempt)
        .bind(f.outcome.as_str())
        .bind(f.error_class.map(|c| c.as_str()))
        .bind(f.http_status)
        .bind(f.error_detail.as_deref())
        .bind(interval(f.retry_in)?);
    timed(s.timeout, "finishing a sync attempt", q.fetch_one(&s.pool)).await
}

pub async fn record_attempt(s: &PgStore, r: &AttemptRecord<'_>) -> Result<i64> {
    let q =
        sqlx::query_scalar("SELECT sync_record_attempt($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
            .bind(r.event_id)
            .bind(r.org_id)
            .bind(r.attempt)
            .bind(r.started_at)
            .bind(r.finish.outcome.as_str())
            .bind(r.finish.error_class.map(|c| c.as_str()))
            .bind(r.finish.http_status)
            .bind(r.finish.error_detail.as_deref())
            .bind(r.worker)
            .bind(r.item_id)
            .bind(r.reprocess)
            .bind(r.queue);
    timed(s.timeout, "recording a sync attempt", q.fetch_one(&s.pool)).await
}
