//! Reprocessing SQL on SQLite: listing error events and selecting events to reprocess. Lists are
//! bound as JSON arrays (`json_each`), ids and times as text.

use serde::Serialize;
use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::ts;
use crate::store::reprocess::{
    candidate, error_event, q, Candidate, ErrorEvent, EventFilter, ListCursor, DETAIL_CHARS,
};
use crate::store::{Result, StoreError};

/// The same filter on SQLite, lists bound as JSON arrays.
const FILTER: &str = "e.outcome IN ('rejected', 'failed') AND e.outcome <> 'accepted'
    AND (json_array_length($1) = 0 OR e.org_id IN (SELECT value FROM json_each($1)))
    AND ($2 IS NULL OR e.outcome = $2)
    AND (json_array_length($3) = 0 OR e.rejection_reason IN (SELECT value FROM json_each($3)))
    AND ($4 IS NULL OR e.http_status = $4)
    AND ($5 IS NULL OR e.received_at >= $5)
    AND ($6 IS NULL OR e.received_at < $6)";

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn filter_binds<'q>(q: SqliteQuery<'q>, f: &'q EventFilter) -> SqliteQuery<'q> {
    q.bind(json_list(&f.orgs))
        .bind(f.outcome.clone())
        .bind(json_list(&f.reasons))
        .bind(f.status_code)
        .bind(f.since.map(ts))
        .bind(f.until.map(ts))
}

pub(super) fn json_list<T: Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).expect("a list of strings serializes")
}

pub(super) fn uuid_column(r: &sqlx::sqlite::SqliteRow, column: &'static str) -> Result<Uuid> {
    let text: String = r.get(column);
    Uuid::parse_str(&text).map_err(|e| StoreError::Invalid {
        field: "webhook_events.event_id",
        detail: format!("{text:?}: {e}"),
    })
}

/// Rejected and failed events matching `filter`, newest first, after `cursor`.
pub async fn error_events(
    pool: &SqlitePool,
    filter: &EventFilter,
    cursor: Option<ListCursor>,
    limit: i64,
) -> Result<Vec<ErrorEvent>> {
    let sql = format!(
        "SELECT e.id, e.event_id, e.org_id, e.received_at, e.outcome, e.http_status,
                    e.rejection_reason, substr(e.error_detail, 1, {DETAIL_CHARS}) AS error_detail,
                    EXISTS (SELECT 1 FROM sync_queue q WHERE q.event_id = e.event_id
                            AND q.reprocess = 1 AND q.state IN ('pending', 'processing')) AS pending
             FROM webhook_events e
             WHERE {FILTER}
               AND ($7 IS NULL OR (e.received_at, e.id) < ($7, $8))
             ORDER BY e.received_at DESC, e.id DESC LIMIT $9"
    );
    let rows = filter_binds(sqlx::query(&sql), filter)
        .bind(cursor.map(|c| ts(c.received_at)))
        .bind(cursor.map_or(0, |c| c.id))
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(StoreError::query("listing error events"))?;
    rows.iter().map(|r| Ok(error_event(uuid_column(r, "event_id")?, r))).collect()
}

const SELECT_IDS: &str = "SELECT e.event_id, e.org_id, e.outcome IN ('rejected', 'failed') AS eligible,
    o.org_id IS NOT NULL AS known FROM webhook_events e LEFT JOIN organizations o ON o.org_id = e.org_id AND o.active";

const SELECT_FILTER: &str = "SELECT e.event_id, e.org_id, true AS eligible, o.org_id IS NOT NULL AS known
    FROM webhook_events e LEFT JOIN organizations o ON o.org_id = e.org_id AND o.active";

pub async fn lookup_ids(tx: &mut SqliteConnection, ids: &[Uuid]) -> Result<Vec<Candidate>> {
    let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let rows = sqlx::query(&format!("{SELECT_IDS} WHERE e.event_id IN (SELECT value FROM json_each($1))"))
        .bind(json_list(&texts))
        .fetch_all(tx)
        .await
        .map_err(q)?;
    rows.iter().map(|r| Ok(candidate(uuid_column(r, "event_id")?, r))).collect()
}

pub async fn lookup_filter(tx: &mut SqliteConnection, f: &EventFilter, limit: i64) -> Result<Vec<Candidate>> {
    let sql = format!("{SELECT_FILTER} WHERE {FILTER} ORDER BY e.received_at, e.id LIMIT $7");
    let rows = filter_binds(sqlx::query(&sql), f).bind(limit).fetch_all(tx).await.map_err(q)?;
    rows.iter().map(|r| Ok(candidate(uuid_column(r, "event_id")?, r))).collect()
}

pub async fn count_filter(tx: &mut SqliteConnection, f: &EventFilter) -> Result<i64> {
    let sql = format!("SELECT count(*) FROM webhook_events e WHERE {FILTER}");
    let row = filter_binds(sqlx::query(&sql), f).fetch_one(tx).await.map_err(q)?;
    Ok(row.get(0))
}
