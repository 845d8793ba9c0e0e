//! Reprocessing SQL on SQLite: binding the filter and running the shared selections
//! (`store/reprocess/select.rs`). Lists are bound as JSON arrays (`json_each`), ids and times as
//! text.

use chrono::{DateTime, Utc};
use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::text::{json_list, ts};
use crate::store::error::{reprocessing as q, Result, StoreError};
use crate::store::queue::SyncQueue;
use crate::store::reprocess::select::{self, Dialect};
use crate::store::reprocess::types::{
    candidate, error_event, Candidate, ErrorEvent, EventFilter, ListCursor,
};

/// SQLite's queue is always the table.
const QUEUE: SyncQueue = SyncQueue::Table;

const DIALECT: Dialect = Dialect {
    param: |n, _| format!("${n}"),
    in_list: |expr, n| {
        format!("(json_array_length(${n}) = 0 OR {expr} IN (SELECT value FROM json_each(${n})))")
    },
    in_ids: |expr, n| format!("{expr} IN (SELECT value FROM json_each(${n}))"),
    // The store's fixed-width form (`ts`), to the microsecond.
    now: "(strftime('%Y-%m-%dT%H:%M:%S', 'now') || substr(strftime('%f', 'now'), 3) || '000Z')",
};

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds $1..$10 (see `select.rs`).
fn filter_binds<'q>(q: SqliteQuery<'q>, f: &'q EventFilter, since: DateTime<Utc>) -> SqliteQuery<'q> {
    q.bind(json_list(&f.orgs))
        .bind(f.outcome.clone())
        .bind(json_list(&f.reasons))
        .bind(f.status_code)
        .bind(f.since.map(ts))
        .bind(f.until.map(ts))
        .bind(f.stage.map(|s| s.as_str()))
        .bind(json_list(&f.sync_error_classes))
        .bind(ts(since))
        .bind(json_list(&f.unaccounted))
}

pub(super) fn uuid_column(r: &sqlx::sqlite::SqliteRow, column: &'static str) -> Result<Uuid> {
    let text: String = r.get(column);
    Uuid::parse_str(&text).map_err(|e| StoreError::Invalid {
        field: "webhook_events.event_id",
        detail: format!("{text:?}: {e}"),
    })
}

/// Rejected and failed events and sync failures matching `filter`, newest first, after `cursor`.
pub async fn error_events(
    pool: &SqlitePool,
    filter: &EventFilter,
    since: DateTime<Utc>,
    cursor: Option<ListCursor>,
    limit: i64,
) -> Result<Vec<ErrorEvent>> {
    let sql = select::listing(&DIALECT, &QUEUE);
    let rows = filter_binds(sqlx::query(&sql), filter, since)
        .bind(cursor.map(|c| ts(c.received_at)))
        .bind(cursor.map_or(0, |c| c.id))
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(StoreError::query("listing error events"))?;
    rows.iter().map(|r| Ok(error_event(uuid_column(r, "event_id")?, r))).collect()
}

pub async fn lookup_ids(
    tx: &mut SqliteConnection,
    ids: &[Uuid],
    since: DateTime<Utc>,
) -> Result<Vec<Candidate>> {
    let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let sql = select::lookup_ids(&DIALECT, &QUEUE, "e.event_id IN (SELECT value FROM json_each($1))");
    let rows = sqlx::query(&sql).bind(json_list(&texts)).bind(ts(since)).fetch_all(tx).await.map_err(q)?;
    rows.iter().map(|r| Ok(candidate(uuid_column(r, "event_id")?, r))).collect()
}

pub async fn lookup_filter(
    tx: &mut SqliteConnection,
    f: &EventFilter,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Candidate>> {
    let sql = select::lookup_filter(&DIALECT, &QUEUE);
    let rows = filter_binds(sqlx::query(&sql), f, since).bind(limit).fetch_all(tx).await.map_err(q)?;
    rows.iter().map(|r| Ok(candidate(uuid_column(r, "event_id")?, r))).collect()
}

pub async fn count_filter(tx: &mut SqliteConnection, f: &EventFilter, since: DateTime<Utc>) -> Result<i64> {
    let sql = select::count_filter(&DIALECT, &QUEUE);
    let row = filter_binds(sqlx::query(&sql), f, since).fetch_one(tx).await.map_err(q)?;
    Ok(row.get(0))
}
