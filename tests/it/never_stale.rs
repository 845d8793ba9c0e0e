//! Never silently stale or wrong, under what a production store does: write transactions left
//! open, retention deletes, exporter restarts, organizations and queue items that come and go,
//! writers with skewed clocks. Every PostgreSQL case runs on a busy cluster (support::busy).

use crate::support;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};
use webhook_health_exporter::collector::{CollectorConfig, LogCollector};
use webhook_health_exporter::config::parse_windows;
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::snapshot::{OrgSnapshot, QueueSnapshot, Snapshot};
use webhook_health_exporter::store::{NewEvent, NewOrganization, NewQueueItem, Store};

fn config() -> CollectorConfig {
    let windows = parse_windows(&["1h".into(), "24h".into()]).unwrap();
    CollectorConfig { windows, batch_size: 500, ..CollectorConfig::default() }
}

fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::milliseconds(1)).unwrap()
}

async fn collect(collector: &LogCollector, at: DateTime<Utc>) -> Snapshot {
    collector.collect(at, Instant::now()).await.expect("collecting");
    collector.snapshot(at)
}

/// Every counter series of a snapshot, keyed like the metrics.
fn counters(s: &Snapshot) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for o in &s.orgs {
        out.insert(format!("received{{org={}}}", o.org), o.received_total);
    }
    for (reason, code, n) in &s.rejected_totals {
        out.insert(format!("rejected{{reason={},code={code}}}", reason.as_str()), *n);
    }
    for (code, n) in &s.failed_totals {
        out.insert(format!("failed{{code={code}}}"), *n);
    }
    out
}

fn org<'a>(s: &'a Snapshot, label: &str) -> Option<&'a OrgSnapshot> {
    s.orgs.iter().find(|o| &*o.org == label).map(|o| o.as_ref())
}

fn queue<'a>(s: &'a Snapshot, label: &str) -> &'a QueueSnapshot {
    s.queues.iter().find(|q| q.org == label).unwrap_or_else(|| panic!("no queue figures for {label}"))
}

fn window(o: &OrgSnapshot, label: &str) -> u64 {
    o.windows.iter().find(|w| &*w.window == label).map(|w| w.received).unwrap()
}

/// Window figures the way docs/metrics.md defines them: `count(*) WHERE received_at > now - w`,
/// per org label (orgs not configured and active fold into `_unknown`).
async fn sql_window(store: &Store, since: DateTime<Utc>) -> BTreeMap<String, u64> {
    let sql = "SELECT CASE WHEN org_id IN (SELECT org_id FROM organizations WHERE active = true)
                      THEN org_id ELSE '_unknown' END AS org, count(*) AS n
               FROM webhook_events WHERE received_at > $1 GROUP BY 1";
    support::counts_since(store, sql, since).await.into_iter().map(|(o, n)| (o, n as u64)).collect()
}

fn served_window(s: &Snapshot, label: &str) -> BTreeMap<String, u64> {
    s.orgs.iter().map(|o| (o.org.to_string(), window(o, label))).filter(|(_, n)| *n > 0).collect()
}

async fn retention_then_restart(_url: String, store: Store) {
    let t0 = now();
    let sim = SimConfig { seed: 21, orgs: 6, events: 5_000, days: 3.0, end: t0, ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();
    let before = counters(&collect(&LogCollector::new(store.clone(), config()), t0).await);
    assert!(before.values().sum::<u64>() > 0);

    // A retention job deletes the oldest 20 %, then the exporter restarts.
    let deleted = support::execute(
        &store,
        "DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events ORDER BY received_at LIMIT 1000)",
    )
    .await;
    assert_eq!(deleted, 1_000);
    let restarted = LogCollector::new(store.clone(), config());
    let after = counters(&collect(&restarted, t0).await);
    assert_eq!(after, before, "every counter is unchanged by retention and a restart");

    // New rows add on top of the kept history.
    let more = SimConfig { seed: 22, events: 700, days: 0.2, end: now(), ..sim.clone() };
    simulate::run(&store, &more, std::future::pending()).await.unwrap();
    let later = counters(&collect(&restarted, now()).await);
    for (series, n) in &before {
        assert!(later.get(series).copied().unwrap_or(0) >= *n, "{series} went down");
    }
    let sum = |m: &BTreeMap<String, u64>| {
        m.iter().filter(|(k, _)| k.starts_with("received")).map(|(_, n)| n).sum::<u64>()
    };
    assert_eq!(sum(&later), sum(&before) + 700);
}
on_both_backends!(counters_survive_retention_and_restart, super::retention_then_restart);

async fn deletes_inside_a_window(_url: String, store: Store) {
    let t0 = now();
    let sim = SimConfig { seed: 31, orgs: 5, events: 4_000, days: 1.5, end: t0, ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();
    let collector = LogCollector::new(store.clone(), config());
    let first = collect(&collector, t0).await;
    let totals = counters(&first);

    // A clean-up deletes rows 6 to 12 hours old: inside the 24h window.
    let t1 = t0 + Duration::seconds(1);
    support::execute(
        &store,
        &match store {
            Store::Postgres(_) => "DELETE FROM webhook_events WHERE received_at BETWEEN now() - interval '12 hours' AND now() - interval '6 hours'".to_string(),
            Store::Sqlite(_) => "DELETE FROM webhook_events WHERE received_at BETWEEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-12 hours') AND strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-6 hours')".to_string(),
        },
    )
    .await;
    let s = collect(&collector, t1).await;
    assert_eq!(
        served_window(&s, "24h"),
        sql_window(&store, t1 - Duration::hours(24)).await,
        "24h after the delete"
    );
    assert_eq!(
        served_window(&s, "1h"),
        sql_window(&store, t1 - Duration::hours(1)).await,
        "1h after the delete"
    );
    assert_eq!(s.exporter.window_rebuilds_total, 1);
    assert_eq!(counters(&s), totals, "deletes do not lower the counters");

    // Deletes outside every window leave the windows as they are: no rebuild needed.
    support::execute(
        &store,
        &match store {
            Store::Postgres(_) => "DELETE FROM webhook_events WHERE received_at < now() - interval '30 hours'".to_string(),
            Store::Sqlite(_) => "DELETE FROM webhook_events WHERE received_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 hours')".to_string(),
        },
    )
    .await;
    let t2 = t1 + Duration::seconds(1);
    let s = collect(&collector, t2).await;
    assert_eq!(served_window(&s, "24h"), sql_window(&store, t2 - Duration::hours(24)).await);
    assert_eq!(s.exporter.window_rebuilds_total, 1, "a delete outside the windows needs no rebuild");
}
on_both_backends!(windows_follow_deletes_inside_them, super::deletes_inside_a_window);

async fn orgs_and_queue_come_and_go(_url: String, store: Store) {
    let sim = SimConfig { orgs: 3, ..SimConfig::default() };
    simulate::seed_organizations(&store, &sim).await.unwrap();
    let t0 = now();
    let items = |org: &str, n: usize| -> Vec<NewQueueItem> {
        (0..n)
            .map(|i| NewQueueItem {
                org_id: org.into(),
                event_id: uuid::Uuid::new_v4(),
                enqueued_at: t0 - Duration::minutes(10 + i as i64),
            })
            .collect()
    };
    store.enqueue(&items("ghost", 4)).await.unwrap();
    store.enqueue(&items("phantom", 3)).await.unwrap();
    store.enqueue(&items("contoso", 2)).await.unwrap();
    store
        .insert_events(&[
            support::rejected_event("ghost", t0 - Duration::minutes(5)),
            support::rejected_event("ghost", t0 - Duration::minutes(4)),
        ])
        .await
        .unwrap();

    let collector = LogCollector::new(store.clone(), config());
    let s = collect(&collector, t0).await;
    let unknown = org(&s, "_unknown").expect("unconfigured orgs fold under _unknown");
    assert_eq!(
        (queue(&s, "_unknown").depth, unknown.received_total),
        (7, 2),
        "queue items of every unconfigured org"
    );
    let oldest = queue(&s, "_unknown").oldest_age_seconds.unwrap();
    assert!((oldest - 13.0 * 60.0).abs() < 1.0, "oldest of all folded items");
    assert_eq!(queue(&s, "contoso").depth, 2);

    // An org is configured while the exporter runs: it appears, with its history, at the next read.
    store
        .upsert_organization(&NewOrganization {
            org_id: "ghost".into(),
            display_name: "Ghost".into(),
            endpoint_url: "https://example.org/ghost".into(),
            changed_at: t0,
        })
        .await
        .unwrap();
    let s = collect(&collector, t0 + Duration::seconds(1)).await;
    let ghost = org(&s, "ghost").expect("an org added while running appears within one read");
    assert_eq!((queue(&s, "ghost").depth, ghost.received_total, window(ghost, "1h")), (4, 2, 2));
    let unknown = org(&s, "_unknown").unwrap();
    assert_eq!(
        (queue(&s, "_unknown").depth, unknown.received_total, window(unknown, "1h")),
        (3, 2, 0),
        "_unknown's counter keeps what it counted (it never goes down); its windows follow the configuration"
    );

    // One set inactive, one removed: both disappear within one read, their items fold.
    support::execute(&store, "UPDATE organizations SET active = false WHERE org_id = 'contoso'").await;
    support::execute(&store, "DELETE FROM organizations WHERE org_id = 'ghost'").await;
    let s = collect(&collector, t0 + Duration::seconds(2)).await;
    assert!(
        org(&s, "contoso").is_none() && org(&s, "ghost").is_none(),
        "{:?}",
        s.orgs.iter().map(|o| &o.org).collect::<Vec<_>>()
    );
    let unknown = org(&s, "_unknown").unwrap();
    assert_eq!((queue(&s, "_unknown").depth, unknown.received_total, window(unknown, "1h")), (9, 2, 2));
}
on_both_backends!(organizations_and_queue_items_come_and_go, super::orgs_and_queue_come_and_go);

async fn future_dated_rows(_url: String, store: Store) {
    simulate::seed_organizations(&store, &SimConfig { orgs: 1, ..SimConfig::default() }).await.unwrap();
    let t0 = now();
    let collector = LogCollector::new(store.clone(), config());
    collect(&collector, t0).await;
    // A writer whose clock runs two hours ahead.
    store.insert_events(&[support::rejected_event("contoso", t0 + Duration::hours(2))]).await.unwrap();
    let t1 = t0 + Duration::seconds(1);
    let s = collect(&collector, t1).await;
    let contoso = org(&s, "contoso").unwrap();
    assert_eq!(window(contoso, "1h"), 1, "counted in the windows as SQL counts it (received_at > now - 1h)");
    assert_eq!(served_window(&s, "1h"), sql_window(&store, t1 - Duration::hours(1)).await);
    let last = contoso.last_received.unwrap();
    assert!(last <= t1, "last received {last} is capped at the read ({t1}), not the writer's clock");
    // The same after a restart, from the totals.
    let restarted = LogCollector::new(store.clone(), config());
    let s = collect(&restarted, t1).await;
    assert!(org(&s, "contoso").unwrap().last_received.unwrap() <= t1);
}
on_both_backends!(rows_dated_in_the_future, super::future_dated_rows);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_write_transaction_delays_only_its_own_rows() {
    let (_url, store) = support::fresh_postgres().await;
    simulate::seed_organizations(&store, &SimConfig { orgs: 2, ..SimConfig::default() }).await.unwrap();
    let Store::Postgres(pg) = &store else { unreachable!() };
    let pool = pg.pool().clone();
    // The fixture's transaction in another database holds the cluster's snapshot xmin back.
    let held: bool = sqlx::query_scalar(
        "SELECT pg_snapshot_xmin(s) < pg_snapshot_xmax(s) FROM pg_current_snapshot() AS s",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(held, "the busy-cluster fixture keeps a write transaction open");

    let collector = LogCollector::new(store.clone(), config());
    collect(&collector, now()).await;
    let total = |s: &Snapshot| s.orgs.iter().map(|o| o.received_total).sum::<u64>();

    let mut open = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO webhook_events (event_id, org_id, outcome, http_status) VALUES ($1, 'contoso', 'accepted', 202)")
        .bind(uuid::Uuid::new_v4())
        .execute(&mut *open)
        .await
        .unwrap();
    let events: Vec<NewEvent> = (0..5).map(|_| support::rejected_event("fabrikam", now())).collect();
    store.insert_events(&events).await.unwrap();
    let s = collect(&collector, now()).await;
    assert_eq!(total(&s), 5, "rows committed after the open transaction began are read at once");
    let later = collector.snapshot(now() + Duration::seconds(3));
    assert!(later.exporter.read_held_back_seconds >= 3.0, "{}", later.exporter.read_held_back_seconds);

    open.commit().await.unwrap();
    let s = collect(&collector, now()).await;
    assert_eq!(total(&s), 6, "its row is read, once, when it commits");
    assert_eq!(s.exporter.read_held_back_seconds, 0.0);

    let mut rolled_back = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO webhook_events (event_id, org_id, outcome, http_status) VALUES ($1, 'contoso', 'accepted', 202)")
        .bind(uuid::Uuid::new_v4())
        .execute(&mut *rolled_back)
        .await
        .unwrap();
    rolled_back.rollback().await.unwrap();
    let s = collect(&collector, now()).await;
    assert_eq!(total(&s), 6, "a rolled-back row is never counted");
}
