//! Accepted events that are unaccounted for (the exporter's `webhook_sync_window_events_unaccounted`,
//! alert `WebhookSyncEventsUnaccounted`) are listed under the stage `unaccounted` and reprocessed
//! like sync failures, so that the runbook's fix can be followed: on every queue, through the real
//! binary, the listing agreeing with the figure, events older than the figure's horizon left alone.

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use uuid::Uuid;
use webhook_health_exporter::store::{Store, SyncQueue};

use crate::api_support::sync::*;
use crate::api_support::*;
use crate::support::{self, receive_accepted};

/// Takes the event's open item out of the queue without a logged result, as a sync service that
/// deletes what it worked (or a person) would.
async fn drop_item(store: &Store, event: Uuid) {
    let sql = match store.queue() {
        SyncQueue::Table => format!("DELETE FROM sync_queue WHERE event_id = '{event}'"),
        SyncQueue::Pgmq(q) => format!("DELETE FROM pgmq.q_{q} WHERE message->>'event_id' = '{event}'"),
    };
    exec(store, &sql, &sql).await;
}

/// Logs an attempt of `event` by `worker`, as `sync_record_attempt` would.
async fn attempt(store: &Store, event: Uuid, outcome: &str, detail: &str, worker: &str) {
    let t = at(-1);
    let sql = format!(
        "INSERT INTO sync_attempts (event_id, org_id, attempt, started_at, finished_at, outcome,
                                    error_class, error_detail, worker)
         VALUES ('{event}', 'contoso', 1, '{t}', '{t}', '{outcome}',
                 CASE WHEN '{outcome}' = 'succeeded' THEN NULL ELSE 'timeout' END, '{detail}', '{worker}')"
    );
    exec(store, &sql, &sql).await;
}

fn unaccounted_figure(page: &str) -> Option<f64> {
    support::metric(page, "webhook_sync_window_events_unaccounted{org=\"contoso\",window=\"24h\"}")
}

async fn listing_and_reprocessing(url: String, store: Store) {
    seed(&store).await;
    let recent = Utc::now() - Duration::minutes(5);
    let never_queued = receive_accepted(&store, "contoso", 1, recent, false).await[0];
    let deleted = receive_accepted(&store, "contoso", 1, recent, true).await[0];
    drop_item(&store, deleted).await;
    let retried = receive_accepted(&store, "contoso", 1, recent, true).await[0];
    attempt(&store, retried, "retrying", "portal timed out", "worker-3").await;
    drop_item(&store, retried).await;
    // Older than the figure's horizon (24 h, the longest default window): not unaccounted here.
    let old = receive_accepted(&store, "contoso", 1, Utc::now() - Duration::hours(30), false).await[0];
    let waiting = receive_accepted(&store, "contoso", 1, recent, true).await[0];
    let synced = receive_accepted(&store, "contoso", 1, recent, true).await[0];
    attempt(&store, synced, "succeeded", "", "worker-3").await;
    drop_item(&store, synced).await;
    let given_up = receive_accepted(&store, "contoso", 1, recent, true).await[0];
    attempt(&store, given_up, "gave_up", "portal refused", "worker-3").await;
    drop_item(&store, given_up).await;

    let exporter = start_q(&store, &url, &[]);
    let lost = [never_queued, deleted, retried];
    let page = exporter.scrape_until("three unaccounted", |p| unaccounted_figure(p) == Some(3.0)).await;
    assert_eq!(unaccounted_figure(&page), Some(3.0));

    let listed_ids = |events: &[Value]| {
        let mut ids: Vec<Uuid> =
            events.iter().map(|e| e["event_id"].as_str().unwrap().parse().unwrap()).collect();
        ids.sort();
        ids
    };
    let mut want = lost.to_vec();
    want.sort();
    let events = list_all(&exporter, "stage=unaccounted").await;
    assert_eq!(listed_ids(&events), want, "the events the figure counts: {events:?}");
    for e in &events {
        assert_eq!((&e["outcome"], &e["reprocess_pending"]), (&json!("accepted"), &json!(false)), "{e}");
        let f = &e["sync_failure"];
        assert_eq!(
            (&f["state"], &f["error_class"], &f["http_status"]),
            (&json!("unaccounted"), &Value::Null, &Value::Null)
        );
    }
    let r = &listed(&events, retried).unwrap()["sync_failure"];
    assert_eq!(
        (&r["attempts"], &r["last_error"], &r["worker"]),
        (&json!(1), &json!("portal timed out"), &json!("worker-3"))
    );
    assert_eq!(listed(&events, never_queued).unwrap()["sync_failure"]["attempts"], 0);
    // Only when asked for by name; other filters narrow them as any event.
    let everything = list_all(&exporter, "").await;
    assert!(lost.iter().all(|id| listed(&everything, *id).is_none()));
    assert!(list_all(&exporter, "stage=unaccounted&org=fabrikam").await.is_empty());
    assert!(list_all(&exporter, "stage=unaccounted&sync_error_class=timeout").await.is_empty());

    // By ids: the lost one enqueued, the old and the synced not eligible, the waiting one pending.
    let a = post(
        &exporter,
        Some(ADMIN_TOKEN),
        None,
        &json!({ "event_ids": ids_json(&[never_queued, old, synced, waiting]) }),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let got: Vec<(String, String)> = results(&a);
    let want_results: Vec<(String, String)> = [
        (never_queued, "enqueued"),
        (old, "not_eligible"),
        (synced, "not_eligible"),
        (waiting, "already_pending"),
    ]
    .iter()
    .map(|(id, r)| (id.to_string(), r.to_string()))
    .collect();
    assert_eq!(got, want_results, "{}", a.text);
    let left = list_all(&exporter, "stage=unaccounted").await;
    assert!(listed(&left, never_queued).is_none(), "waiting in the queue again: {left:?}");
    assert_eq!(left.len(), 2, "{left:?}");

    // By filter: the stage selects the rest.
    let since = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let filter = json!({ "filter": { "orgs": ["contoso"], "since": since, "stage": "unaccounted" } });
    let a = post(&exporter, Some(ADMIN_TOKEN), Some("lost-1"), &filter).await;
    assert_eq!(
        (a.status.as_u16(), &a.body["totals"]["enqueued"], &a.body["totals"]["already_pending"]),
        (200, &json!(2), &json!(0)),
        "{}",
        a.text
    );
    let mut queued: Vec<Uuid> =
        reprocess_items(&store).await.iter().map(|i| i.event_id.parse().unwrap()).collect();
    queued.sort();
    assert_eq!(queued, want, "one flagged item per lost event");

    // Waiting again, they are accounted for: the figure goes.
    exporter.scrape_until("none unaccounted", |p| unaccounted_figure(p).unwrap_or(0.0) == 0.0).await;
}
on_every_queue!(unaccounted_events_are_listed_and_reprocessed, super::listing_and_reprocessing);
