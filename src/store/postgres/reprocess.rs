//! Reprocessing SQL on PostgreSQL: binding the filter and running the shared selections
//! (`store/reprocess/select.rs`).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Postgres, Row};
use uuid::Uuid;

use crate::store::error::{reprocessing as q, Result, StoreError};
use crate::store::queue::SyncQueue;
use crate::store::reprocess::select::{self, Dialect};
use crate::store::reprocess::types::{
    candidate, error_event, Candidate, ErrorEvent, EventFilter, ListCursor,
};

const DIALECT: Dialect = Dialect {
    param: |n, ty| format!("${n}::{ty}"),
    in_list: |expr, n| format!("(cardinality(${n}::text[]) = 0 OR {expr} = ANY(${n}::text[]))"),
    in_ids: |expr, n| format!("{expr} = ANY(${n}::uuid[])"),
    now: "now()",
};

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds $1..$10 (see `select.rs`).
fn filter_binds<'q>(q: PgQuery<'q>, f: &'q EventFilter, since: DateTime<Utc>) -> PgQuery<'q> {
    q.bind(&f.orgs)
        .bind(&f.outcome)
        .bind(&f.reasons)
        .bind(f.status_code)
        .bind(f.since)
        .bind(f.until)
        .bind(f.stage.map(|s| s.as_str()))
        .bind(&f.sync_error_classes)
        .bind(since)
        .bind(&f.unaccounted)
}

/// Rejected and failed events and sync failures matching `filter`, newest first, after `cursor`.
pub async fn error_events(
    pool: &PgPool,
    queue: &SyncQueue,
    filter: &EventFilter,
    since: DateTime<Utc>,
    cursor: Option<ListCursor>,
    limit: i64,
) -> Result<Vec<ErrorEvent>> {
    let sql = select::listing(&DIALECT, queue);
    let rows = filter_binds(sqlx::query(&sql), filter, since)
        .bind(cursor.map(|c| c.received_at))
        .bind(cursor.map_or(0, |c| c.id))
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(StoreError::query("listing error events"))?;
    Ok(rows.iter().map(|r| error_event(r.get("event_id"), r)).collect())
}

pub async fn lookup_ids(
    tx: &mut PgConnection,
    queue: &SyncQueue,
    ids: &[Uuid],
    since: DateTime<Utc>,
) -> Result<Vec<Candidate>> {
    let rows = sqlx::query(&select::lookup_ids(&DIALECT, queue, "e.event_id = ANY($1::uuid[])"))
        .bind(ids)
        .bind(since)
        .fetch_all(tx)
        .await
        .map_err(q)?;
    Ok(rows.iter().map(|r| candidate(r.get("event_id"), r)).collect())
}

pub async fn lookup_filter(
    tx: &mut PgConnection,
    queue: &SyncQueue,
    f: &EventFilter,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Candidate>> {
    let sql = select::lookup_filter(&DIALECT, queue);
    let rows = filter_binds(sqlx::query(&sql), f, since).bind(limit).fetch_all(tx).await.map_err(q)?;
    Ok(rows.iter().map(|r| candidate(r.get("event_id"), r)).collect())
}

pub async fn count_filter(
    tx: &mut PgConnection,
    queue: &SyncQueue,
    f: &EventFilter,
    since: DateTime<Utc>,
) -> Result<i64> {
    let sql = select::count_filter(&DIALECT, queue);
    let row = filter_binds(sqlx::query(&sql), f, since).fetch_one(tx).await.map_err(q)?;
    Ok(row.get(0))
}
