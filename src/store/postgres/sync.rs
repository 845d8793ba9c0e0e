//! The sync service's log on PostgreSQL: `sync_record_attempt` (migration 0007), whatever the
//! queue (the table's claim and finish are the queue's: `queue/table_work.rs`).

use super::PgStore;
use crate::store::error::{timed, Result};
use crate::store::work::AttemptRecord;

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
