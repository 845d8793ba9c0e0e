//! Reprocessing SQL on PostgreSQL: listing error events and selecting events to reprocess.

use sqlx::{PgConnection, PgPool, Postgres, Row};
use uuid::Uuid;

use crate::store::reprocess::{
    candidate, error_event, q, Candidate, ErrorEvent, EventFilter, ListCursor, DETAIL_CHARS,
};
use crate::store::{Result, StoreError};

/// Binds $1..$6; see [`filter_binds`].
const FILTER: &str = "e.outcome IN ('rejected', 'failed') AND e.outcome <> 'accepted'
    AND (cardinality($1::text[]) = 0 OR e.org_id = ANY($1::text[]))
    AND ($2::text IS NULL OR e.outcome = $2)
    AND (cardinality($3::text[]) = 0 OR e.rejection_reason = ANY($3::text[]))
    AND ($4::integer IS NULL OR e.http_status = $4)
    AND ($5::timestamptz IS NULL OR e.received_at >= $5)
    AND ($6::timestamptz IS NULL OR e.received_at < $6)";

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

fn filter_binds<'q>(q: PgQuery<'q>, f: &'q EventFilter) -> PgQuery<'q> {
    q.bind(&f.orgs).bind(&f.outcome).bind(&f.reasons).bind(f.status_code).bind(f.since).bind(f.until)
}

/// Rejected and failed events matching `filter`, newest first, after `cursor`.
pub async fn error_events(
    pool: &PgPool,
    filter: &EventFilter,
    cursor: Option<ListCursor>,
    limit: i64,
) -> Result<Vec<ErrorEvent>> {
    let sql = format!(
        "SELECT e.id, e.event_id, e.org_id, e.received_at, e.outcome, e.http_status,
                    e.rejection_reason, left(e.error_detail, {DETAIL_CHARS}) AS error_detail,
                    EXISTS (SELECT 1 FROM sync_queue q WHERE q.event_id = e.event_id
                            AND q.reprocess AND q.state IN ('pending', 'processing')) AS pending
             FROM webhook_events e
             WHERE {FILTER}
               AND ($7::timestamptz IS NULL OR (e.received_at, e.id) < ($7, $8))
             ORDER BY e.received_at DESC, e.id DESC LIMIT $9"
    );
    let rows = filter_binds(sqlx::query(&sql), filter)
        .bind(cursor.map(|c| c.received_at))
        .bind(cursor.map_or(0, |c| c.id))
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(StoreError::query("listing error events"))?;
    Ok(rows.iter().map(|r| error_event(r.get("event_id"), r)).collect())
}

const SELECT_IDS: &str = "SELECT e.event_id, e.org_id, e.outcome IN ('rejected', 'failed') AS eligible,
    o.org_id IS NOT NULL AS known FROM webhook_events e LEFT JOIN organizations o ON o.org_id = e.org_id AND o.active";

const SELECT_FILTER: &str = "SELECT e.event_id, e.org_id, true AS eligible, o.org_id IS NOT NULL AS known
    FROM webhook_events e LEFT JOIN organizations o ON o.org_id = e.org_id AND o.active";

pub async fn lookup_ids(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Candidate>> {
    let rows = sqlx::query(&format!("{SELECT_IDS} WHERE e.event_id = ANY($1::uuid[])"))
        .bind(ids)
        .fetch_all(tx)
        .await
        .map_err(q)?;
    Ok(rows.iter().map(|r| candidate(r.get("event_id"), r)).collect())
}

pub async fn lookup_filter(tx: &mut PgConnection, f: &EventFilter, limit: i64) -> Result<Vec<Candidate>> {
    let sql = format!("{SELECT_FILTER} WHERE {FILTER} ORDER BY e.received_at, e.id LIMIT $7");
    let rows = filter_binds(sqlx::query(&sql), f).bind(limit).fetch_all(tx).await.map_err(q)?;
    Ok(rows.iter().map(|r| candidate(r.get("event_id"), r)).collect())
}

pub async fn count_filter(tx: &mut PgConnection, f: &EventFilter) -> Result<i64> {
    let sql = format!("SELECT count(*) FROM webhook_events e WHERE {FILTER}");
    let row = filter_binds(sqlx::query(&sql), f).fetch_one(tx).await.map_err(q)?;
    Ok(row.get(0))
}
