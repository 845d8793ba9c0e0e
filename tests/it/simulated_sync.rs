//! The simulator's sync service (issue 18): a simulated history holds attempts of every outcome,
//! the portal outage's give-ups (503, portal_unavailable) for every org, the give-ups of the one
//! org and entity the portal refuses (422, invalid_data, at the first attempt), abandoned attempts
//! of vanished workers, and not one accepted event unaccounted; in follow mode the live service
//! works the queue through `sync_claim` and `sync_finish`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use webhook_health_exporter::simulate::portal::{Portal, REFUSED_ENTITY};
use webhook_health_exporter::simulate::sync::SyncPolicy;
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::store::{Store, SyncQueue};

use crate::support::counts_since;
use crate::support::pgmq::open_items_sql;

/// Accepted events received after $1 that are neither synced, nor waiting or in flight, nor
/// given up: what `webhook_sync_window_events_unaccounted` counts.
fn unaccounted_sql(store: &Store) -> String {
    format!(
        "SELECT e.org_id, count(*) FROM webhook_events e
         WHERE e.outcome = 'accepted' AND e.received_at > $1
           AND NOT EXISTS (SELECT 1 FROM sync_attempts s WHERE s.event_id = e.event_id
                           AND s.outcome IN ('succeeded', 'gave_up'))
           AND NOT EXISTS (SELECT 1 FROM ({}) AS q WHERE q.event_id = CAST(e.event_id AS text))
         GROUP BY e.org_id",
        open_items_sql(store.backend(), store.queue())
    )
}

/// Every item the queue ever held (`id`, `attempts`, `enqueued_at`), open or ended.
fn every_item(store: &Store) -> String {
    match store.queue() {
        SyncQueue::Table => "SELECT id, attempts, enqueued_at FROM sync_queue".into(),
        SyncQueue::Pgmq(q) => format!(
            "SELECT msg_id AS id, read_ct AS attempts, enqueued_at FROM pgmq.q_{q}
             UNION ALL SELECT msg_id, read_ct, enqueued_at FROM pgmq.a_{q}"
        ),
    }
}

async fn by_key(store: &Store, sql: &str, since: DateTime<Utc>) -> BTreeMap<String, i64> {
    counts_since(store, sql, since).await.into_iter().collect()
}

async fn unaccounted(store: &Store, since: DateTime<Utc>) -> BTreeMap<String, i64> {
    by_key(store, &unaccounted_sql(store), since).await
}

async fn history(_url: String, store: Store) {
    let end = Utc::now();
    let cfg = SimConfig { seed: 5, orgs: 6, events: 30_000, days: 1.0, end, ..SimConfig::default() };
    let summary = simulate::run(&store, &cfg, std::future::pending()).await.unwrap();
    let day = end - Duration::hours(24) - Duration::minutes(1);

    let outcomes = by_key(
        &store,
        "SELECT outcome, count(*) FROM sync_attempts WHERE finished_at > $1 GROUP BY outcome",
        day,
    )
    .await;
    for outcome in ["succeeded", "retrying", "gave_up", "abandoned"] {
        assert!(outcomes.get(outcome).is_some_and(|n| *n > 0), "no {outcome} attempt: {outcomes:?}");
    }
    assert_eq!(outcomes.values().sum::<i64>() as u64, summary.sync_attempts, "every attempt is logged once");
    let items = by_key(
        &store,
        &format!(
            "SELECT 'all', count(*) FROM ({}) AS q WHERE enqueued_at > $1 GROUP BY 1",
            every_item(&store)
        ),
        day,
    )
    .await;
    let accepted = by_key(
        &store,
        "SELECT 'all', count(*) FROM webhook_events WHERE outcome = 'accepted' AND received_at > $1 GROUP BY 1",
        day,
    )
    .await;
    assert_eq!(items, accepted, "one queue item per accepted event");
    assert_eq!(items["all"] as u64, summary.queue_items);

    // The portal outage (4h30 to 4h before the end): every org active then gave items up with 503.
    let outage = end - Duration::minutes(270);
    let sql = "SELECT org_id, count(*) FROM sync_attempts
               WHERE outcome = 'gave_up' AND error_class = 'portal_unavailable' AND http_status = 503
                 AND finished_at > $1 GROUP BY org_id";
    let outage_give_ups = by_key(&store, sql, outage).await;
    for org in ["contoso", "fabrikam", "northwind", "adventure-works"] {
        assert!(
            outage_give_ups.get(org).is_some_and(|n| *n > 0),
            "{org}: no give-up in the outage: {outage_give_ups:?}"
        );
    }
    assert_eq!(by_key(&store, sql, day).await, outage_give_ups, "503 give-ups only in the outage");
    assert!(by_key(&store, sql, end - Duration::minutes(230)).await.is_empty(), "the outage ended 4h ago");
    let sql = "SELECT CAST(http_status AS TEXT), count(*) FROM sync_attempts
               WHERE outcome = 'retrying' AND error_class = 'portal_unavailable' AND finished_at > $1
               GROUP BY http_status";
    assert!(by_key(&store, sql, outage).await.contains_key("503"));

    // One org's appointments, refused and given up at once: never retried.
    let refusing = Portal::refusing_org(cfg.orgs);
    let sql =
        "SELECT s.org_id || '/' || e.entity_name || '/' || s.outcome || '/' || CAST(s.http_status AS TEXT),
                      count(*)
               FROM sync_attempts s JOIN webhook_events e ON e.event_id = s.event_id
               WHERE s.error_class = 'invalid_data' AND s.finished_at > $1 GROUP BY 1";
    let refused = by_key(&store, sql, day).await;
    let key = format!("{refusing}/{REFUSED_ENTITY}/gave_up/422");
    assert_eq!(refused.keys().collect::<Vec<_>>(), [&key], "{refused:?}");

    // Vanished workers: abandoned attempts, each followed by another attempt of the same item.
    let sql =
        "SELECT error_class || '/' || CAST(coalesce(http_status, 0) AS TEXT), count(*) FROM sync_attempts
               WHERE outcome = 'abandoned' AND finished_at > $1 GROUP BY 1";
    let abandoned = by_key(&store, sql, day).await;
    assert_eq!(abandoned.keys().collect::<Vec<_>>(), ["worker_lost/0"], "{abandoned:?}");
    let sql = format!(
        "SELECT 'orphan', count(*) FROM sync_attempts a
         WHERE a.outcome = 'abandoned' AND a.finished_at > $1
           AND NOT EXISTS (SELECT 1 FROM sync_attempts b WHERE b.item_id = a.item_id AND b.attempt = a.attempt + 1)
           AND NOT EXISTS (SELECT 1 FROM ({}) AS q WHERE q.id = a.item_id AND q.attempts > a.attempt)
         GROUP BY 1",
        every_item(&store)
    );
    assert!(by_key(&store, &sql, day).await.is_empty(), "an abandoned item was never handed out again");

    // Every accepted event is synced, waiting, in flight or given up.
    assert_eq!(unaccounted(&store, day).await, BTreeMap::new());
}
on_every_queue!(a_simulated_history_logs_every_sync_outcome, super::history);

async fn follow(_url: String, store: Store) {
    let end = Utc::now();
    let policy =
        SyncPolicy { lease: std::time::Duration::from_secs(1), vanish_rate: 0.1, ..SyncPolicy::default() };
    let cfg = SimConfig {
        seed: 9,
        orgs: 4,
        events: 2_000,
        days: 0.1,
        end,
        follow: true,
        rate: 60.0,
        sync: policy,
        ..SimConfig::default()
    };
    let summary =
        simulate::run(&store, &cfg, tokio::time::sleep(std::time::Duration::from_secs(6))).await.unwrap();
    let sql =
        "SELECT outcome || '/' || coalesce(error_class, 'none') || '/' || coalesce(worker, '?'), count(*)
               FROM sync_attempts WHERE finished_at > $1 GROUP BY 1";
    let live = by_key(&store, sql, end).await;
    assert!(live.keys().any(|k| k.starts_with("succeeded/none/sync-worker-")), "{live:?}");
    assert!(live.keys().any(|k| k.starts_with("abandoned/worker_lost/sync-worker-")), "{live:?}");
    assert!(summary.sync_attempts > 0);
    assert_eq!(unaccounted(&store, end - Duration::hours(24)).await, BTreeMap::new());
}
on_every_queue!(the_live_service_works_the_queue_through_claim_and_finish, super::follow);
