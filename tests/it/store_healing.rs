//! The real exporter binary against a log store whose path misbehaves, a server that restarts
//! mid-traffic, and a retention job plus an exporter restart under a real Prometheus.

use crate::support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::cluster::Cluster;
use crate::support::prometheus::{Prometheus, PrometheusConfig};
use crate::support::proxy::{target_of, Proxy};
use crate::support::{metric, received_total, Exporter};
use chrono::Utc;
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::store::{ConnectOptions, Store};

async fn sql_count(store: &Store) -> f64 {
    let Store::Postgres(pg) = store else { unreachable!() };
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_events").fetch_one(pg.pool()).await.unwrap();
    n as f64
}

/// Scrapes until `check` holds, each scrape answering within 4 s (two 2 s deadlines).
async fn scrape_until(
    exporter: &Exporter,
    limit: Duration,
    what: &str,
    check: impl Fn(&str) -> bool,
) -> (String, Duration) {
    exporter.scrape_within(limit, Duration::from_secs(4), what, check).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_go_silent_are_replaced() {
    let (url, store) = support::fresh_postgres().await;
    let sim =
        SimConfig { seed: 41, orgs: 4, events: 2_000, days: 0.5, end: Utc::now(), ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();
    let proxy = Proxy::start(target_of(&url)).await;
    let exporter = Exporter::start(&proxy.url(&url), &["--collect.timeout", "2s", "--store.timeout", "2s"]);
    let up = |p: &str| metric(p, "webhook_store_up") == Some(1.0);
    scrape_until(&exporter, Duration::from_secs(15), "up with history", |p| {
        up(p) && received_total(p) == 2_000.0
    })
    .await;

    // The path stops forwarding on the open connections, without closing them, and refuses new
    // ones for a while; writers go on writing.
    proxy.silence_open_connections();
    proxy.refuse_new(true);
    let more = SimConfig { seed: 42, events: 300, end: Utc::now(), ..sim.clone() };
    simulate::run(&store, &more, std::future::pending()).await.unwrap();
    scrape_until(&exporter, Duration::from_secs(10), "down", |p| metric(p, "webhook_store_up") == Some(0.0))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The path recovers for new connections only: the old ones stay silent for ever.
    proxy.refuse_new(false);
    let (page, took) = scrape_until(&exporter, Duration::from_secs(15), "up and exact", |p| {
        up(p) && received_total(p) == 2_300.0
    })
    .await;
    assert!(
        took <= Duration::from_secs(4),
        "recovered {took:?} after the path did: more than two scrape deadlines"
    );
    assert!(metric(&page, "webhook_exporter_collect_errors_total").unwrap() >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_traffic_loses_and_doubles_nothing() {
    let cluster = Cluster::start();
    let admin = cluster.admin_url();
    let store = Store::open_and_migrate(&admin, &ConnectOptions::default()).await.expect("migrating");
    simulate::seed_organizations(&store, &SimConfig { orgs: 4, ..SimConfig::default() }).await.unwrap();
    let exporter = Exporter::start(&admin, &["--collect.timeout", "2s", "--store.timeout", "2s"]);

    // Writers keep writing small transactions; some fail while the server is down.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut seed = 100;
            while !stop.load(Ordering::SeqCst) {
                let cfg = SimConfig {
                    seed,
                    orgs: 4,
                    events: 20,
                    days: 0.001,
                    end: Utc::now(),
                    ..SimConfig::default()
                };
                let _ = simulate::run(&store, &cfg, std::future::pending()).await;
                seed += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let scrapes = async {
        for _ in 0..10 {
            let _ = exporter.scrape().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    scrapes.await;
    cluster.restart();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();

    let truth = sql_count(&store).await;
    assert!(truth > 0.0);
    let (page, _) = scrape_until(&exporter, Duration::from_secs(20), "caught up after the restart", |p| {
        metric(p, "webhook_store_up") == Some(1.0) && received_total(p) == truth
    })
    .await;
    assert_eq!(received_total(&page), truth, "every committed row counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_never_reset_across_retention_and_an_exporter_restart() {
    let (url, store) = support::fresh_postgres().await;
    let sim =
        SimConfig { seed: 51, orgs: 5, events: 4_000, days: 3.0, end: Utc::now(), ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();
    let exporter = Exporter::start(&url, &[]);
    let addr = exporter.addr;
    let prometheus = Prometheus::start(&PrometheusConfig::new(addr).rule_files(Vec::new())).await;
    let series = "sum(webhook_payloads_received_total)";
    prometheus.wait_for(series, |r| r.first().is_some_and(|s| s.1 == 4_000.0), Duration::from_secs(20)).await;

    // Retention deletes the oldest fifth, the exporter is killed and started again, traffic goes on.
    support::execute(
        &store,
        "DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events ORDER BY received_at LIMIT 800)",
    )
    .await;
    drop(exporter);
    let exporter = Exporter::start_on(addr, &url, &[]);
    let more = SimConfig { seed: 52, events: 500, days: 0.01, end: Utc::now(), ..sim.clone() };
    simulate::run(&store, &more, std::future::pending()).await.unwrap();
    prometheus.wait_for(series, |r| r.first().is_some_and(|s| s.1 == 4_500.0), Duration::from_secs(20)).await;
    // A few more scrapes of the restarted exporter.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let down = prometheus.query("count_over_time(up[5m]) - sum_over_time(up[5m])").await;
    assert!(
        down.first().is_some_and(|s| s.1 <= 1.0),
        "at most the scrape during the restart failed: {down:?}"
    );
    for family in [
        "webhook_payloads_received_total",
        "webhook_payloads_rejected_total",
        "webhook_payloads_failed_total",
    ] {
        let resets = prometheus.query(&format!("sum(resets({family}[5m]))")).await;
        assert_eq!(resets.first().map(|s| s.1), Some(0.0), "{family} was reset: {resets:?}");
    }
    drop(exporter);
}
