//! End to end: simulator -> log store (PostgreSQL) -> exporter binary -> Prometheus evaluating
//! the shipped rules -> Alertmanager -> a webhook receiver in this test.
//!
//! Checks that (a) WebhookHighRejectionRate fires for fabrikam only (the simulator's history puts
//! it in an ongoing secret-rotation incident; every other org stays near 3%), (b)
//! WebhookInfrastructureOutage fires with the last-healthy time in its description when a probed
//! endpoint goes down, keeps that time across an exporter crash and restart during the outage,
//! and resolves when the endpoint comes back, and (c) it fires for `component="edge_function"`
//! when an Edge Function crash arrives through the ingestion endpoints (a Supabase drain batch
//! with an uncaughtException row, and an edge-runtime event worker's UncaughtException).
//!
//! The rules are loaded as shipped except for `for:` durations, which are capped at 1m in the
//! copy Prometheus reads (WebhookHighRejectionRate waits 5m in production) so the test takes
//! about a minute and a half. Needs `prometheus` and `prometheus-alertmanager` on PATH
//! (`scripts/install-test-deps.sh`); without them the test fails.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use webhook_health_exporter::simulate::{self, SimConfig};

use crate::support::alertmanager::{Alertmanager, Delivered, WebhookReceiver};
use crate::support::endpoint::Endpoint;
use crate::support::prometheus::{alerting_rules_yaml, Prometheus, PrometheusConfig, Sample};
use crate::support::{free_port, metric, Exporter};

const FOR_CAP_SECONDS: u64 = 60;
/// The recorded rolling-hour rejection ratio (alerting-rules/rules/).
const RATIO: &str = "job_org:webhook_window_payloads_rejected_per_received_1h:ratio";
const COMPONENT: &str = "endpoint:edge-hook";

/// Copies the shipped rule files, capping `for:` durations at FOR_CAP_SECONDS.
fn rule_files(dir: &Path) -> Vec<PathBuf> {
    let mut written = Vec::new();
    for sub in ["rules", "alerts"] {
        for file in alerting_rules_yaml(sub) {
            let text = std::fs::read_to_string(&file).unwrap();
            let capped: Vec<String> = text
                .lines()
                .map(|line| {
                    let Some(value) = line.trim_start().strip_prefix("for: ") else {
                        return line.to_string();
                    };
                    let d =
                        humantime::parse_duration(value.trim().trim_matches('"')).expect("a for: duration");
                    if d.as_secs() <= FOR_CAP_SECONDS {
                        return line.to_string();
                    }
                    let indent = &line[..line.len() - line.trim_start().len()];
                    format!("{indent}for: {FOR_CAP_SECONDS}s")
                })
                .collect();
            let out = dir.join(format!("{sub}-{}", file.file_name().unwrap().to_string_lossy()));
            std::fs::write(&out, capped.join("\n") + "\n").unwrap();
            written.push(out);
        }
    }
    assert!(written.len() >= 2, "no rule files found under alerting-rules/");
    written
}

/// Waits for a delivered alert matching `pred`.
async fn wait_alert(
    receiver: &WebhookReceiver,
    what: &str,
    timeout: Duration,
    servers: (&Prometheus, &Alertmanager),
    pred: impl Fn(&Delivered) -> bool,
) -> Delivered {
    receiver
        .wait_for(what, timeout, pred)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", servers.0.log_tail(), servers.1.log_tail()))
}

fn scalar(result: &[Sample]) -> Option<f64> {
    result.first().map(|(_, v)| *v)
}

/// How Prometheus's `humanizeTimestamp` prints a time, to the second.
fn humanized_second(seconds: f64) -> String {
    let t = DateTime::<Utc>::from_timestamp(seconds.floor() as i64, 0).unwrap();
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_webhook_receiver() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();

    // The log store, with six hours of history ending now: fabrikam's secret rotation is ongoing.
    let (db_url, store) = support::fresh_postgres().await;
    let sim =
        SimConfig { seed: 11, orgs: 8, events: 20_000, days: 0.25, end: Utc::now(), ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.expect("simulating history");

    let mut endpoint = Endpoint::start(401).await;
    let up_series = format!(r#"webhook_infrastructure_up{{component="{COMPONENT}"}}"#);
    let last_series = format!(r#"webhook_last_healthy_timestamp_seconds{{component="{COMPONENT}"}}"#);
    let target = format!("{}={}", COMPONENT.trim_start_matches("endpoint:"), endpoint.url());
    let ingest = crate::ingest_support::ingest_flags();
    let exporter_flags = [
        "--probe.target",
        &target,
        "--probe.interval",
        "1s",
        "--probe.timeout",
        "500ms",
        &ingest[0],
        &ingest[1],
    ];
    let exporter_addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut exporter = Exporter::start_on(exporter_addr, &db_url, &exporter_flags);

    let receiver = WebhookReceiver::start().await;
    let alertmanager = Alertmanager::start(&receiver).await;
    let config = PrometheusConfig::new(exporter_addr)
        .alertmanager(alertmanager.addr)
        .rule_files(rule_files(dir.path()));
    let prometheus = Prometheus::start(&config).await;
    let servers = (&prometheus, &alertmanager);
    let stack_up = Instant::now();
    eprintln!("e2e: store, exporter, Prometheus, Alertmanager up after {:.1?}", started.elapsed());

    // The endpoint answers (401 to the unauthenticated probe: healthy) and Prometheus sees it.
    exporter.scrape_until("the endpoint up", |t| metric(t, &up_series) == Some(1.0)).await;
    prometheus.wait_for(&last_series, |r| scalar(r).is_some(), Duration::from_secs(20)).await;

    // Outage: the endpoint stops; last-healthy freezes.
    endpoint.stop().await;
    let stopped = Instant::now();
    let stopped_at = Utc::now().timestamp_micros() as f64 / 1e6;
    let text = exporter.scrape_until("the endpoint down", |t| metric(t, &up_series) == Some(0.0)).await;
    let last_healthy = metric(&text, &last_series).expect("a last-healthy time");
    assert!(last_healthy <= stopped_at && stopped_at - last_healthy < 3.0, "{last_healthy} vs {stopped_at}");

    // The exporter crashes and comes back during the outage: same last-healthy time.
    drop(exporter);
    exporter = Exporter::start_on(exporter_addr, &db_url, &exporter_flags);
    let text = exporter
        .scrape_until("down with last-healthy", |t| {
            metric(t, &up_series) == Some(0.0) && metric(t, &last_series).is_some()
        })
        .await;
    assert_eq!(metric(&text, &last_series), Some(last_healthy), "last-healthy changed across the restart");
    eprintln!("e2e: exporter restarted during the outage, last-healthy unchanged ({last_healthy})");

    let outage =
        wait_alert(&receiver, "WebhookInfrastructureOutage", Duration::from_secs(150), servers, |d| {
            d.label("alertname") == "WebhookInfrastructureOutage" && d.status == "firing"
        })
        .await;
    let fired_after = outage.at - stopped;
    assert_eq!(outage.label("component"), COMPONENT, "{:?}", outage.labels);
    assert_eq!(outage.label("severity"), "critical");
    let description = outage.annotations["description"].as_str().unwrap_or("");
    let shown = [humanized_second(last_healthy), humanized_second(last_healthy - 1e-3)];
    assert!(
        shown.iter().any(|s| description.contains(s.as_str())),
        "the description should name the last-healthy time {shown:?}: {description}"
    );
    eprintln!("e2e: outage alert delivered {fired_after:.1?} after the endpoint stopped: {description}");

    // The Edge Function crashes, as the platform tells it: a drain row and an event worker's event.
    assert!(
        !receiver.delivered().iter().any(|d| d.label("component") == "edge_function"),
        "edge_function is healthy before the crash (the history's crash was hours ago)"
    );
    let edge_last_healthy = exporter.scrape().await;
    let edge_last_healthy =
        metric(&edge_last_healthy, r#"webhook_last_healthy_timestamp_seconds{component="edge_function"}"#)
            .expect("the Edge Function was seen healthy");
    let crashed = Instant::now();
    post_crash(&exporter).await;

    // Prometheus saw last-healthy frozen through the whole outage, the restart included.
    let frozen_for = (stopped.elapsed().as_secs_f64() - 3.0).floor() as u64;
    for f in ["min_over_time", "max_over_time"] {
        let q = format!("{f}({last_series}[{frozen_for}s])");
        assert_eq!(scalar(&prometheus.query(&q).await), Some(last_healthy), "{q}");
    }

    // Recovery.
    endpoint.restart().await;
    let restarted = Instant::now();
    let resolved = wait_alert(&receiver, "the outage's resolution", Duration::from_secs(60), servers, |d| {
        d.label("alertname") == "WebhookInfrastructureOutage" && d.status == "resolved"
    })
    .await;
    assert_eq!(resolved.label("component"), COMPONENT);
    eprintln!("e2e: resolution delivered {:.1?} after the endpoint came back", resolved.at - restarted);
    let text = exporter
        .scrape_until("last-healthy moving again", |t| {
            metric(t, &up_series) == Some(1.0) && metric(t, &last_series) > Some(last_healthy)
        })
        .await;
    assert!(metric(&text, &last_series).unwrap() > last_healthy);

    // The rejection-rate alert: fabrikam, and only fabrikam.
    let rejection =
        wait_alert(&receiver, "WebhookHighRejectionRate", Duration::from_secs(120), servers, |d| {
            d.label("alertname") == "WebhookHighRejectionRate" && d.status == "firing"
        })
        .await;
    eprintln!("e2e: rejection-rate alert delivered {:.1?} after the stack came up", rejection.at - stack_up);
    let orgs: Vec<String> = receiver
        .delivered()
        .iter()
        .filter(|d| d.label("alertname") == "WebhookHighRejectionRate")
        .map(|d| d.label("org").to_string())
        .collect();
    assert!(orgs.iter().all(|o| o == "fabrikam"), "only fabrikam is over 10%: {orgs:?}");
    assert_eq!(rejection.label("severity"), "critical");
    let ratio = scalar(&prometheus.query(&format!(r#"{RATIO}{{org="fabrikam"}}"#)).await).unwrap();
    assert!(ratio > 0.10, "{ratio}");
    let others = prometheus.query(&format!(r#"{RATIO}{{org!~"fabrikam|_unknown"}} > 0.05"#)).await;
    assert!(others.is_empty(), "other orgs stay near 3%: {others:?}");

    // The crash delivered through ingestion took the Edge Function down long enough to alert.
    let edge = wait_alert(&receiver, "the Edge Function's outage", Duration::from_secs(120), servers, |d| {
        d.label("alertname") == "WebhookInfrastructureOutage"
            && d.label("component") == "edge_function"
            && d.status == "firing"
    })
    .await;
    assert_eq!(edge.label("severity"), "critical");
    let description = edge.annotations["description"].as_str().unwrap_or("");
    let shown = [humanized_second(edge_last_healthy), humanized_second(edge_last_healthy - 1e-3)];
    assert!(shown.iter().any(|s| description.contains(s.as_str())), "{shown:?}: {description}");
    eprintln!("e2e: edge_function outage delivered {:.1?} after the ingested crash", edge.at - crashed);
    eprintln!("e2e: done in {:.1?}", started.elapsed());
}

/// A crash as a Supabase log drain (gzip JSON array) and an edge runtime's event worker post it.
async fn post_crash(exporter: &Exporter) {
    use crate::ingest_support::{counts, drain_event, post_drain, post_runtime, runtime_event, INGEST_TOKEN};
    let row = drain_event(
        &uuid::Uuid::new_v4().to_string(),
        "TypeError: Cannot read properties of undefined (reading 'OrganizationName')",
        serde_json::json!({"event_type": "uncaughtException", "level": "error", "function_id": "fn-dynamics-webhook"}),
    );
    let a = post_drain(exporter, Some(INGEST_TOKEN), &[row]).await;
    assert_eq!((a.status.as_u16(), counts(&a)), (200, (1, 0, 0)), "{}", a.text);
    let event = runtime_event(
        &uuid::Uuid::new_v4().to_string(),
        "UncaughtException",
        serde_json::json!({"exception": "TypeError: payload.InputParameters is not iterable", "cpu_time_used": 3}),
    );
    let a = post_runtime(exporter, Some(INGEST_TOKEN), &[event]).await;
    assert_eq!((a.status.as_u16(), counts(&a)), (200, (1, 0, 0)), "{}", a.text);
    exporter
        .scrape_until("the Edge Function down", |t| {
            metric(t, r#"webhook_infrastructure_up{component="edge_function"}"#) == Some(0.0)
        })
        .await;
}
