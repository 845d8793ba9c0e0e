//! Two exporter replicas on one PostgreSQL database receive identical reprocess requests at the
//! same moment: each event gets exactly one open queue item, with or without an Idempotency-Key,
//! on the `sync_queue` table (its partial unique index decides) and on a pgmq queue (advisory
//! locks per event decide: pgmq's table has no such index).

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
    race(url, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_never_send_a_pgmq_message_twice() {
    let (url, store) = support::pgmq::fresh_pgmq().await;
    race(url, store).await;
}

async fn race(url: String, store: Store) {
    let ids = many_rejected(&store).await;
    let replicas = [start_q(&store, &url, &[]), start_q(&store, &url, &[])];
    let body = json!({ "event_ids": ids_json(&ids) });

    // Without a key: the queue's guarantee decides.
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
    support::pgmq::finish_all(&store).await;
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
    support::pgmq::finish_all(&store).await;
    let mut reversed = ids.clone();
    reversed.reverse();
    let (forward, backward) =
        (json!({ "event_ids": ids_json(&ids) }), json!({ "event_ids": ids_json(&reversed) }));
    let (a, b) = tokio::join!(burst(&replicas[..1], &forward, None), burst(&replicas[1..], &backward, None));
    assert!(a.iter().chain(&b).all(|x| x.status == 200), "no request failed");
    let enqueued: i64 = a.iter().chain(&b).map(|x| x.body["totals"]["enqueued"].as_i64().unwrap()).sum();
    assert_eq!(enqueued, EVENTS as i64);
}

/// Two stores on one database (two exporter replicas without HTTP between them), many rounds of
/// the same request at the same moment, each round on events none of the others touched: exactly
/// one message per event, on pgmq and on the table.
async fn stores_race(url: String, store: Store) {
    use webhook_health_exporter::store::reprocess::{ReprocessOutcome, StoredResponse};
    use webhook_health_exporter::store::ConnectOptions;
    let opts = ConnectOptions { queue: store.queue().clone(), ..ConnectOptions::default() };
    let other = Store::open_lazy(&url, &opts).unwrap();
    seed(&store).await;
    let render = |_: &_| StoredResponse { http_status: 200, body: "{}".into() };
    for round in 0..25 {
        let events: Vec<NewEvent> =
            (0..8).map(|_| crate::support::rejected_event("contoso", chrono::Utc::now())).collect();
        store.insert_events(&events).await.unwrap();
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let command = |who: &str| reprocess_by_ids(who, "token", &format!("{who}-{round}"), "h", ids.clone());
        let (a, b) =
            tokio::join!(store.reprocess(command("a"), render), other.reprocess(command("b"), render));
        let enqueued: usize = [a.unwrap(), b.unwrap()]
            .iter()
            .map(|o| match o {
                ReprocessOutcome::Completed { resolution, .. } => resolution.counts().enqueued as usize,
                other => panic!("round {round}: {other:?}"),
            })
            .sum();
        assert_eq!(enqueued, ids.len(), "round {round}: one request enqueues each event");
        let items = reprocess_items(&store).await;
        let open = open_items_per_event(&items);
        for id in &ids {
            assert_eq!(open.get(&id.to_string()), Some(&1), "round {round}: {id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_racing_send_one_pgmq_message_per_event() {
    let (url, store) = support::pgmq::fresh_pgmq().await;
    stores_race(url, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_racing_insert_one_item_per_event() {
    let (url, store) = support::fresh_postgres().await;
    stores_race(url, store).await;
}
