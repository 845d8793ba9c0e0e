//! Sync-failure fixtures: accepted events whose queue items are left in the states a sync service
//! leaves them in, written by plain statements (the same SQL on both backends), as a sync service
//! that does not use the claim and finish functions, or a person, would write them.

use chrono::{Duration, Utc};
use serde_json::Value;
use uuid::Uuid;
use webhook_health_exporter::store::{sqlite_timestamp, NewQueueItem, Store};

use super::{event, exec, get, Answer, ADMIN_TOKEN};
use crate::support::Exporter;

/// An accepted event of `org`, received `minutes_ago`, with its (pending) queue item.
pub async fn accepted(store: &Store, org: &str, minutes_ago: i64) -> Uuid {
    let event = event(org, minutes_ago, "accepted", 202, None);
    store.insert_events(std::slice::from_ref(&event)).await.unwrap();
    let item = NewQueueItem { org_id: org.into(), event_id: event.event_id, enqueued_at: event.received_at };
    store.enqueue(&[item]).await.unwrap();
    event.event_id
}

/// `UPDATE sync_queue SET <assignments>` on the items of `event` (`which` narrows them, e.g.
/// `AND reprocess`).
pub async fn update_items(store: &Store, event: Uuid, assignments: &str, which: &str) {
    let sql = format!("UPDATE sync_queue SET {assignments} WHERE event_id = '{event}' {which}");
    exec(store, &sql, &sql).await;
}

/// A time as both backends take it in a literal.
pub fn at(minutes_from_now: i64) -> String {
    sqlite_timestamp(Utc::now() + Duration::minutes(minutes_from_now))
}

/// The item of `event` synced: `done`, with its logged success.
pub async fn synced(store: &Store, event: Uuid, org: &str) {
    update_items(store, event, "state = 'done', attempts = 1", "").await;
    let t = at(0);
    let sql = format!(
        "INSERT INTO sync_attempts (event_id, org_id, item_id, attempt, started_at, finished_at, outcome)
         VALUES ('{event}', '{org}', (SELECT max(id) FROM sync_queue WHERE event_id = '{event}'), 1,
                 '{t}', '{t}', 'succeeded')"
    );
    exec(store, &sql, &sql).await;
}

/// One text column of a query's rows.
pub async fn strings(store: &Store, pg: &str, sqlite: &str) -> Vec<String> {
    match store {
        Store::Postgres(s) => sqlx::query_scalar(pg).fetch_all(s.pool()).await.unwrap(),
        Store::Sqlite(s) => sqlx::query_scalar(sqlite).fetch_all(s.pool()).await.unwrap(),
    }
}

/// Every event of a listing, page after page.
pub async fn list_all(exporter: &Exporter, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut path = format!("/api/v1/events?limit=3&{query}");
    loop {
        let a: Answer = get(exporter, Some(ADMIN_TOKEN), &path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        events.extend(a.body["events"].as_array().unwrap().iter().cloned());
        match a.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/events?limit=3&{query}&cursor={c}"),
            None => return events,
        }
    }
}

/// The listed event of this id.
pub fn listed(events: &[Value], id: Uuid) -> Option<&Value> {
    events.iter().find(|e| e["event_id"] == id.to_string())
}
