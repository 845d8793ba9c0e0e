//! Two exporter replicas on one PostgreSQL database receive identical reprocess requests at the
//! same moment: each event gets exactly one open queue item, with or without an Idempotency-Key.

use crate::support;

use std::collections::HashMap;

use crate::api_support::*;
use serde_json::json;
use uuid::Uuid;
use webhook_health_exporter::store::{NewEvent, Store};

const EVENTS: usize = 300;
const REQUESTS: usize = 12;

async fn many_rejected(store: &Store) -> Vec<Uuid> {
    seed(store).await;
    let events: Vec<NewEvent> = (0..EVENTS)
        .map(|i| {
            let org = if i % 2 == 0 { "contoso" } else { "fabrikam" };
            crate::support::rejected_event(org, chrono::Utc::now() - chrono::Duration::seconds(i as i64 + 1))
        })
        .collect();
    store.insert_events(&events).await.unwrap();
    events.iter().map(|e| e.event_id).collect()
}

/// Fires REQUESTS identical requests, alternating between the replicas, all at once.
async fn burst(replicas: &[support::Exporter], body: &serde_json::Value, key: Option<&str>) -> Vec<Answer> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(REQUESTS));
    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let url = replicas[i % replicas.len()].url("/api/v1/reprocess");
        let (body, key, barrier) = (body.clone(), key.map(str::to_string), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut req = reqwest::Client::new().post(url).bearer_auth(ADMIN_TOKEN).json(&body);
            if let Some(k) = key {
                req = req.header("Idempotency-Key", k);
            }
            barrier.wait().await;
            answer(req.send().await.unwrap()).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn open_items_per_event(items: &[QueueItem]) -> HashMap<String, usize> {
    let mut per_event = HashMap::new();
    for i in items.iter().filter(|i| i.state == "pending" || i.state == "processing") {
        *per_event.entry(i.event_id.clone()).or_insert(0) += 1;
    }
    per_event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_never_enqueue_an_event_twice() {
    let (url, store) = support::fresh_postgres().await;
    let ids = many_rejected(&store).await;
    let replicas = [start(&url, &[]), start(&url, &[])];
    let body = json!({ "event_ids": ids_json(&ids) });

    // Without a key: the open-reprocess unique index decides.
    let answers = burst(&replicas, &body, None).await;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["totals"]["requested"], EVENTS);
    }
    let enqueued: i64 = answers.iter().map(|a| a.body["totals"]["enqueued"].as_i64().unwrap()).sum();
    let pending: i64 = answers.iter().map(|a| a.body["totals"]["already_pending"].as_i64().unwrap()).sum();
    assert_eq!(enqueued, EVENTS as i64, "exactly one request enqueues each event");
    assert_eq!(pending, ((REQUESTS - 1) * EVENTS) as i64);
    let items = reprocess_items(&store).await;
    assert_eq!(items.len(), EVENTS);
    assert!(open_items_per_event(&items).values().all(|n| *n == 1));

    // With one key: one request completes, the others wait for it and replay its response.
    exec(&store, "UPDATE sync_queue SET state = 'done'", "").await;
    let answers = burst(&replicas, &body, Some("race-key")).await;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.text, answers[0].text, "every replica answers with the one stored response");
    }
    assert_eq!(answers[0].body["totals"]["enqueued"], EVENTS);
    let replayed = answers.iter().filter(|a| a.headers.contains_key("idempotent-replayed")).count();
    assert_eq!(replayed, REQUESTS - 1);
    let items = reprocess_items(&store).await;
    assert_eq!(items.len(), 2 * EVENTS);
    let open = open_items_per_event(&items);
    assert_eq!(open.len(), EVENTS);
    assert!(open.values().all(|n| *n == 1));
    let audit = audit_rows(&store).await;
    let completed: Vec<_> =
        audit.iter().filter(|r| r["idempotency_key"] == "race-key" && r["status"] == "completed").collect();
    assert_eq!(completed.len(), 1, "one request holds the key");

    // Overlapping selections in different orders do not deadlock each other.
    exec(&store, "UPDATE sync_queue SET state = 'done'", "").await;
    let mut reversed = ids.clone();
    reversed.reverse();
    let (forward, backward) =
        (json!({ "event_ids": ids_json(&ids) }), json!({ "event_ids": ids_json(&reversed) }));
    let (a, b) = tokio::join!(burst(&replicas[..1], &forward, None), burst(&replicas[1..], &backward, None));
    assert!(a.iter().chain(&b).all(|x| x.status == 200), "no request failed");
    let enqueued: i64 = a.iter().chain(&b).map(|x| x.body["totals"]["enqueued"].as_i64().unwrap()).sum();
    assert_eq!(enqueued, EVENTS as i64);
}
