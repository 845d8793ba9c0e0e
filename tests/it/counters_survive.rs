//! Counters that neither an exporter restart nor a configuration change lowers, under a real
//! Prometheus (`resets()`), on both backends: the Edge Function exits (from the lifecycle totals
//! rollup, not a 24 h lookback, and still only of the `--edge.function` watched), and
//! `_unknown`'s received counter while an org that already sent traffic is configured, switched
//! off and on again.

use std::time::Duration;

use chrono::Utc;
use webhook_health_exporter::store::{NewLifecycleEvent, NewOrganization, Store};

use crate::support::prometheus::{Prometheus, PrometheusConfig, Sample};
use crate::support::{self, rejected_event, Exporter};

const WATCHED: &str = "dynamics-webhook";
const RECEIVED: &str = "webhook_payloads_received_total";
const EXITS: &str = "webhook_edge_function_exits_total";

fn exit(
    function: &str,
    hours_ago: i64,
    event_type: &'static str,
    reason: Option<&'static str>,
) -> NewLifecycleEvent {
    NewLifecycleEvent {
        occurred_at: Utc::now() - chrono::Duration::hours(hours_ago),
        function_name: function.into(),
        event_type,
        shutdown_reason: reason,
        detail: None,
    }
}

async fn configure(store: &Store, org: &str) {
    let org = NewOrganization {
        org_id: org.into(),
        display_name: org.into(),
        endpoint_url: format!("https://example.org/{org}"),
        changed_at: Utc::now(),
    };
    store.upsert_organization(&org).await.unwrap();
}

async fn received(store: &Store, org: &str, n: usize) {
    let events: Vec<_> = (0..n).map(|_| rejected_event(org, Utc::now())).collect();
    store.insert_events(&events).await.unwrap();
}

/// Stops the exporter and starts another on its address; returns once Prometheus has scraped the
/// new process.
async fn restart(prometheus: &Prometheus, exporter: Exporter, url: &str, flags: &[&str]) -> Exporter {
    let addr = exporter.addr;
    drop(exporter);
    let started = Utc::now().timestamp() as f64 - 1.0;
    let exporter = Exporter::start_on(addr, url, flags);
    let new = |r: &[Sample]| r.first().is_some_and(|s| s.1 >= started);
    prometheus.wait_for("process_start_time_seconds", new, Duration::from_secs(20)).await;
    exporter
}

/// Waits until Prometheus has scraped `expr` at `want`: every state of the test is sampled, so a
/// counter that dropped in between shows in `resets()`.
async fn scraped(prometheus: &Prometheus, expr: &str, want: f64) {
    let at = |r: &[Sample]| r.first().is_some_and(|s| s.1 == want);
    prometheus.wait_for(expr, at, Duration::from_secs(20)).await;
}

async fn counters_survive(url: String, store: Store) {
    configure(&store, "contoso").await;
    received(&store, "contoso", 5).await;
    received(&store, "ghost", 3).await;
    store
        .insert_lifecycle(&[
            exit(WATCHED, 48, "BootFailure", None),
            exit(WATCHED, 47, "BootFailure", None),
            exit(WATCHED, 0, "Shutdown", Some("EarlyDrop")),
            exit("another-function", 0, "UncaughtException", None),
        ])
        .await
        .unwrap();
    let flags = ["--edge.function", WATCHED];
    let exporter = Exporter::start(&url, &flags);
    let prometheus = Prometheus::start(&PrometheusConfig::new(exporter.addr).rule_files(Vec::new())).await;
    let unknown = format!(r#"{RECEIVED}{{org="_unknown"}}"#);
    let exits = format!("sum({EXITS})");
    scraped(&prometheus, &exits, 3.0).await;
    scraped(&prometheus, &unknown, 3.0).await;

    // ghost, which already sent 3, is configured: it shows them, and `_unknown` keeps them.
    configure(&store, "ghost").await;
    scraped(&prometheus, r#"webhook_payloads_received_total{org="ghost"}"#, 3.0).await;
    scraped(&prometheus, &unknown, 3.0).await;

    // A late lifecycle row (dated beyond the 24 h lookback) is counted when read, and again from
    // the rollup after a restart.
    store.insert_lifecycle(&[exit(WATCHED, 30, "UncaughtException", None)]).await.unwrap();
    received(&store, "phantom", 2).await;
    scraped(&prometheus, &exits, 4.0).await;
    scraped(&prometheus, &unknown, 5.0).await;
    let exporter = restart(&prometheus, exporter, &url, &flags).await;
    scraped(&prometheus, &exits, 4.0).await;

    // ghost is switched off (its payloads are `_unknown`'s again), sends 2 more, and is switched
    // on again: `_unknown` keeps everything it counted.
    support::execute(&store, "UPDATE organizations SET active = false WHERE org_id = 'ghost'").await;
    received(&store, "ghost", 2).await;
    scraped(&prometheus, &unknown, 7.0).await;
    support::execute(&store, "UPDATE organizations SET active = true WHERE org_id = 'ghost'").await;
    scraped(&prometheus, r#"webhook_payloads_received_total{org="ghost"}"#, 5.0).await;
    let exporter = restart(&prometheus, exporter, &url, &flags).await;
    scraped(&prometheus, &unknown, 7.0).await;
    scraped(&prometheus, &exits, 4.0).await;

    for family in [RECEIVED, EXITS] {
        let resets = prometheus.query(&format!("sum(resets({family}[5m]))")).await;
        assert_eq!(resets.first().map(|s| s.1), Some(0.0), "{family} was reset: {resets:?}");
    }
    let error_exits = prometheus.query(&format!(r#"sum({EXITS}{{error="true"}})"#)).await;
    assert_eq!(error_exits.first().map(|s| s.1), Some(3.0), "the watched function's error exits only");
    drop(exporter);
}
on_both_backends!(counters_survive_restarts_and_configuration_changes, super::counters_survive);
