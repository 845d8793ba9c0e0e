//! Infrastructure health: the endpoint probe against a real local HTTP endpoint, the Edge
//! Function rule against a real log store (PostgreSQL and SQLite), and last-healthy persistence.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use webhook_health_exporter::collector::{CollectorConfig, LogCollector};
use webhook_health_exporter::health::{persist, HealthState, EDGE_COMPONENT};
use webhook_health_exporter::probes::{self, ProbeArgs, ProbeTarget};
use webhook_health_exporter::snapshot::ComponentHealth;
use webhook_health_exporter::store::{NewLifecycleEvent, Store};

use crate::support::endpoint::Endpoint;

fn target(url: &str, timeout: Duration, interval: Duration) -> ProbeTarget {
    let args = ProbeArgs {
        targets: vec![format!("hook={url}")],
        timeout: Some(format!("{}ms", timeout.as_millis())),
        interval: Some(format!("{}ms", interval.as_millis())),
        ..ProbeArgs::default()
    };
    probes::config::resolve(&args, &[]).expect("valid probe settings").remove(0)
}

fn default_target(url: &str) -> ProbeTarget {
    target(url, Duration::from_secs(2), Duration::from_secs(15))
}

#[tokio::test]
async fn an_answering_endpoint_is_healthy_even_when_it_refuses_the_unauthenticated_probe() {
    let endpoint = Endpoint::start(401).await;
    let client = probes::client();
    for status in [200, 202, 401, 405] {
        endpoint.set_status(status);
        let (r, error) = probes::probe(&client, &default_target(&endpoint.url())).await;
        assert!(r.success, "{status}: {error:?}");
        assert_eq!(r.status_code, status);
        assert!(r.duration_seconds > 0.0 && r.duration_seconds < 2.0, "{}", r.duration_seconds);
        assert_eq!(error, None);
    }
}

#[tokio::test]
async fn an_unexpected_status_is_unhealthy() {
    let endpoint = Endpoint::start(503).await;
    let client = probes::client();
    for status in [404, 429, 500, 502, 503, 504] {
        endpoint.set_status(status);
        let (r, error) = probes::probe(&client, &default_target(&endpoint.url())).await;
        assert!(!r.success, "{status}");
        assert_eq!(r.status_code, status);
        assert!(error.unwrap().contains(&status.to_string()));
    }
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let endpoint = Endpoint::start(200).await;
    endpoint.set_delay(Duration::from_secs(3));
    let t = target(&endpoint.url(), Duration::from_millis(300), Duration::from_secs(1));
    let started = Instant::now();
    let (r, error) = probes::probe(&probes::client(), &t).await;
    assert!(!r.success);
    assert_eq!(r.status_code, 0, "no HTTP answer came back");
    assert!((0.3..1.5).contains(&r.duration_seconds), "{}", r.duration_seconds);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(error.unwrap().contains("no answer within"));
}

#[tokio::test]
async fn a_refused_connection_is_unhealthy() {
    let url = format!("http://127.0.0.1:{}/hook", support::free_port());
    let (r, error) = probes::probe(&probes::client(), &default_target(&url)).await;
    assert!(!r.success);
    assert_eq!(r.status_code, 0);
    let error = error.unwrap();
    assert!(error.to_lowercase().contains("refused"), "{error}");
}

async fn wait_for(
    health: &HealthState,
    component: &str,
    what: &str,
    check: impl Fn(&ComponentHealth) -> bool,
) -> ComponentHealth {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(c) = health.components().into_iter().find(|c| c.component == component) {
            if check(&c) {
                return c;
            }
        }
        assert!(Instant::now() < deadline, "{component} never became {what}: {:?}", health.components());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_loop_writes_into_the_health_state() {
    let mut endpoint = Endpoint::start(405).await;
    let t = target(&endpoint.url(), Duration::from_millis(100), Duration::from_millis(200));
    let health = HealthState::new([t.component()], Duration::from_secs(300));
    let tasks = probes::spawn(std::slice::from_ref(&t), Arc::clone(&health));

    let up = wait_for(&health, "endpoint:hook", "up", |c| c.up).await;
    assert_eq!(up.probe.as_ref().map(|p| (p.success, p.status_code)), Some((true, 405)));
    endpoint.stop().await;
    let down = wait_for(&health, "endpoint:hook", "down", |c| !c.up).await;
    assert_eq!(down.probe.as_ref().map(|p| p.status_code), Some(0));
    let last = down.last_healthy.expect("it was healthy before");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let still = wait_for(&health, "endpoint:hook", "down", |c| !c.up).await;
    assert_eq!(still.last_healthy, Some(last), "last-healthy stays put while down");

    endpoint.restart().await;
    let again = wait_for(&health, "endpoint:hook", "up again", |c| c.up).await;
    assert!(again.last_healthy.unwrap() > last);
    for task in tasks {
        task.abort();
    }
}

fn exit(at: DateTime<Utc>, event_type: &'static str, reason: Option<&'static str>) -> NewLifecycleEvent {
    NewLifecycleEvent {
        occurred_at: at,
        function_name: "dynamics-webhook".into(),
        event_type,
        shutdown_reason: reason,
        detail: None,
    }
}

/// Collects as of `now` until the collector has read `rows` lifecycle rows in all. On PostgreSQL a
/// committed row is read once no older transaction is still open, anywhere in the cluster.
async fn collect_all(collector: &LogCollector, now: DateTime<Utc>, rows: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        collector.collect(now, Instant::now()).await.unwrap();
        let read = collector.snapshot(now).exporter.lifecycle_rows_read_total;
        if read >= rows {
            assert_eq!(read, rows);
            return;
        }
        assert!(Instant::now() < deadline, "only {read} of {rows} lifecycle rows were read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn edge(collector: &LogCollector, now: DateTime<Utc>) -> ComponentHealth {
    collector
        .snapshot(now)
        .components
        .into_iter()
        .find(|c| c.component == EDGE_COMPONENT)
        .expect("edge component")
}

/// Error exits keep the Edge Function down for the recovery window (5m by default); routine
/// exits, EarlyDrop included, never do.
async fn edge_rule(_url: String, store: Store) {
    let t0 = Utc::now().duration_trunc(chrono::Duration::seconds(1)).unwrap();
    let m = chrono::Duration::minutes;
    let health = HealthState::new(Vec::<String>::new(), Duration::from_secs(300));
    let collector = LogCollector::with_health(store.clone(), CollectorConfig::default(), Arc::clone(&health));

    // Routine exits only, and an error exit older than the window.
    store
        .insert_lifecycle(&[
            exit(t0 - m(30), "Shutdown", Some("Memory")),
            exit(t0 - m(3), "Boot", None),
            exit(t0 - m(3), "Shutdown", Some("EarlyDrop")),
            exit(t0 - m(2), "Shutdown", Some("EventLoopCompleted")),
            exit(t0 - m(1), "Shutdown", Some("TerminationRequested")),
            exit(t0 - m(1), "Log", None),
        ])
        .await
        .unwrap();
    let mut rows = 6;
    collect_all(&collector, t0, rows).await;
    let e = edge(&collector, t0);
    assert!(e.up, "{e:?}");
    assert_eq!(e.last_healthy, Some(t0));
    assert_eq!(e.probe, None);

    // Each kind of error exit takes it down, until 5 minutes have passed without another.
    let mut now = t0;
    for (event_type, reason) in [
        ("BootFailure", None),
        ("UncaughtException", None),
        ("Shutdown", Some("WallClockTime")),
        ("Shutdown", Some("CPUTime")),
        ("Shutdown", Some("Memory")),
    ] {
        let healthy_until = now;
        let exited = now + m(1);
        store.insert_lifecycle(&[exit(exited, event_type, reason)]).await.unwrap();
        now += m(2);
        rows += 1;
        collect_all(&collector, now, rows).await;
        let e = edge(&collector, now);
        assert!(!e.up, "{event_type} {reason:?} is an error exit");
        // healthy_until, or the exit itself when a first read at `now` missed the new row.
        let last = e.last_healthy.unwrap();
        assert!(last == healthy_until || last == exited, "last-healthy {last} after the exit at {exited}");
        collector.collect(now + m(1), Instant::now()).await.unwrap();
        assert_eq!(edge(&collector, now).last_healthy, Some(last), "last-healthy does not move while down");
        collector.collect(now + m(3) + chrono::Duration::seconds(59), Instant::now()).await.unwrap();
        assert!(!edge(&collector, now).up, "still inside the window");
        now += m(4);
        collector.collect(now, Instant::now()).await.unwrap();
        let e = edge(&collector, now);
        assert!(e.up, "{event_type}: the window has passed");
        assert_eq!(e.last_healthy, Some(now));
    }

    let snapshot = collector.snapshot(now);
    let count = |reason: &str, error: bool| {
        snapshot.edge_exits.iter().find(|x| x.reason == reason && x.error == error).map_or(0, |x| x.count)
    };
    assert_eq!(count("Memory", true), 2);
    assert_eq!(count("EarlyDrop", false), 1);
    assert_eq!(count("EarlyDrop", true), 0);
    assert_eq!(count("TerminationRequested", false), 1);
    assert_eq!(count("BootFailure", true), 1);
}
on_both_backends!(edge_function_rule, super::edge_rule);

/// The store keeps the newest time; a fresh state (an exporter restart) reads it back.
async fn persistence(_url: String, store: Store) {
    let t0 = Utc::now().duration_trunc(chrono::Duration::seconds(1)).unwrap();
    let components = || ["endpoint:hook".to_string()];
    let before = HealthState::new(components(), Duration::from_secs(300));
    before.observe("endpoint:hook", true, t0, None);
    before.observe(EDGE_COMPONENT, true, t0 - chrono::Duration::minutes(1), None);
    before.observe("endpoint:hook", false, t0 + chrono::Duration::seconds(5), None);
    persist::flush(&store, &before).await.unwrap();
    // An older time (e.g. from a lagging replica) never moves the stored one backwards.
    store.record_healthy("endpoint:hook", t0 - chrono::Duration::hours(1)).await.unwrap();

    let after = HealthState::new(components(), Duration::from_secs(300));
    persist::load(&store, &after).await.unwrap();
    after.observe("endpoint:hook", false, t0 + chrono::Duration::seconds(10), None);
    let c = &after.components()[0];
    assert_eq!((c.component.as_str(), c.up, c.last_healthy), ("endpoint:hook", false, Some(t0)));
    assert!(after.unpersisted().is_empty(), "nothing new to write");
    let stored = store.component_health().await.unwrap();
    assert!(stored.contains(&(EDGE_COMPONENT.to_string(), t0 - chrono::Duration::minutes(1))), "{stored:?}");
}
on_both_backends!(last_healthy_is_persisted, super::persistence);

/// The real binary with `--edge.function`: another function's error exit is read (and counted in
/// the rows read) but neither counts as an exit nor takes the webhook's function down.
async fn other_functions(url: String, store: Store) {
    let now = Utc::now();
    let other =
        NewLifecycleEvent { function_name: "other-function".into(), ..exit(now, "BootFailure", None) };
    store.insert_lifecycle(&[exit(now, "Boot", None), other]).await.unwrap();
    let exporter = crate::support::Exporter::start(&url, &["--edge.function", "dynamics-webhook"]);
    let text = exporter
        .scrape_until("both lifecycle rows read", |t| {
            t.contains("webhook_exporter_rows_read_total{table=\"edge_function_events\"} 2\n")
        })
        .await;
    assert!(text.contains("webhook_infrastructure_up{component=\"edge_function\"} 1\n"), "{text}");
    assert!(!text.contains("webhook_edge_function_exits_total{reason=\"BootFailure\""), "{text}");
}
on_both_backends!(edge_function_filter_ignores_other_functions, super::other_functions);
