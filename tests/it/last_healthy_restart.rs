//! The real exporter binary probing a local endpoint: last-healthy stops moving during an outage,
//! survives an exporter crash and restart during the outage, and moves again after recovery.

use crate::support;

use std::time::Duration;

use crate::support::endpoint::Endpoint;
use crate::support::{metric, Exporter};

const UP: &str = r#"webhook_infrastructure_up{component="endpoint:hook"}"#;
const LAST_HEALTHY: &str = r#"webhook_last_healthy_timestamp_seconds{component="endpoint:hook"}"#;
const SUCCESS: &str = r#"webhook_probe_success{component="endpoint:hook"}"#;
const STATUS: &str = r#"webhook_probe_status_code{component="endpoint:hook"}"#;

/// Scrapes until `check` holds for (up, last-healthy), returning them and the page.
async fn wait_until(
    exporter: &Exporter,
    what: &str,
    check: impl Fn(Option<f64>, Option<f64>) -> bool,
) -> (f64, f64, String) {
    let text = exporter.scrape_until(what, |t| check(metric(t, UP), metric(t, LAST_HEALTHY))).await;
    let value = |series| metric(&text, series).unwrap_or(f64::NAN);
    (value(UP), value(LAST_HEALTHY), text)
}

async fn outage_and_restart(url: String, _store: webhook_health_exporter::store::Store) {
    let mut endpoint = Endpoint::start(401).await;
    let target = format!("hook={}", endpoint.url());
    let flags = ["--probe.target", &target, "--probe.interval", "200ms", "--probe.timeout", "200ms"];
    let exporter = Exporter::start(&url, &flags);

    let (_, first, text) =
        wait_until(&exporter, "healthy", |up, last| up == Some(1.0) && last.is_some()).await;
    assert_eq!(metric(&text, SUCCESS), Some(1.0));
    assert_eq!(metric(&text, STATUS), Some(401.0));
    let (_, moved, _) = wait_until(&exporter, "moving", |_, last| last > Some(first)).await;
    assert!(moved - first < 5.0);

    endpoint.stop().await;
    let stopped_at = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    let (_, last, text) = wait_until(&exporter, "down", |up, _| up == Some(0.0)).await;
    assert!(last <= stopped_at, "last-healthy {last} is after the endpoint stopped at {stopped_at}");
    assert_eq!(metric(&text, SUCCESS), Some(0.0));
    assert_eq!(metric(&text, STATUS), Some(0.0));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, still, _) = wait_until(&exporter, "still down", |up, _| up == Some(0.0)).await;
    assert_eq!(still, last, "last-healthy moved while the endpoint was down");

    // A crash, not a graceful stop: the value must already be in the store.
    drop(exporter);
    let exporter = Exporter::start(&url, &flags);
    let (_, reloaded, _) =
        wait_until(&exporter, "down with a last-healthy time", |up, last| up == Some(0.0) && last.is_some())
            .await;
    assert_eq!(reloaded, last, "the restarted exporter reports the true last-healthy time");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, still, _) = wait_until(&exporter, "still down", |up, _| up == Some(0.0)).await;
    assert_eq!(still, last);

    endpoint.restart().await;
    let (_, recovered, _) = wait_until(&exporter, "up again", |up, _| up == Some(1.0)).await;
    assert!(recovered > last);
    let (_, later, _) = wait_until(&exporter, "moving again", |_, l| l > Some(recovered)).await;
    assert!(later > recovered);
    let status = exporter.terminate();
    assert!(status.success(), "{status}");
}
on_both_backends!(last_healthy_survives_an_outage_and_a_restart, super::outage_and_restart);

/// Probing does not depend on the log store: with the store unreachable the probe still reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_keep_working_while_the_store_is_down() {
    let endpoint = Endpoint::start(405).await;
    let target = format!("hook={}", endpoint.url());
    let db = format!("postgres://nobody@127.0.0.1:{}/nothing", support::free_port());
    let exporter = Exporter::start(&db, &["--probe.target", &target, "--probe.interval", "200ms"]);
    let (_, _, text) = wait_until(&exporter, "healthy", |up, last| up == Some(1.0) && last.is_some()).await;
    assert_eq!(metric(&text, "webhook_store_up"), Some(0.0));
    assert_eq!(metric(&text, STATUS), Some(405.0));
}
