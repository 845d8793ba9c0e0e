//! The exporter's HTTP surface and command line, through the real binary.

use crate::support;

use std::process::Command;

use std::time::Duration;

use chrono::Utc;
use webhook_health_exporter::domain::sync::{SyncErrorClass, SyncOutcome};
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::store::sync::{Claim, Finish};

async fn sqlite_with_traffic() -> (String, tempfile::TempDir) {
    let (url, store, dir) = support::fresh_sqlite().await;
    let sim =
        SimConfig { seed: 5, orgs: 6, events: 3_000, days: 1.0, end: Utc::now(), ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();
    support::queue_accepted(&store, "contoso", 6).await;
    // The sync service's sparse series: a success, a give-up, an item whose worker vanished (its
    // lease ran out) and an item deleted without a success (an unaccounted event).
    let claim = Claim { worker: "w", limit: 2, lease: Duration::from_secs(60), max_attempts: 3 };
    let items = store.sync_claim(&claim).await.unwrap();
    let gave_up = Finish::failed(SyncOutcome::GaveUp, SyncErrorClass::InvalidData, Some(422), "bad");
    for (item, finish) in items.iter().zip([Finish::succeeded(), gave_up]) {
        assert!(store.sync_finish(item.item_id, item.attempt, &finish).await.unwrap());
    }
    let vanished = Claim { lease: Duration::from_millis(1), limit: 1, ..claim };
    assert_eq!(store.sync_claim(&vanished).await.unwrap().len(), 1);
    let lose = "DELETE FROM sync_queue WHERE id = (SELECT max(id) FROM sync_queue WHERE state = 'pending')";
    assert_eq!(support::execute(&store, lose).await, 1);
    // A pending reprocess item, so that the series that exist only while there is one are served.
    let flag =
        "UPDATE sync_queue SET state = 'pending', reprocess = 1 WHERE id = (SELECT min(id) FROM sync_queue WHERE state = 'pending')";
    assert_eq!(support::execute(&store, flag).await, 1, "the simulator enqueues accepted payloads");
    (url, dir)
}

/// Metric names listed in docs/metrics.md's traffic and exporter tables.
fn documented_metrics() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    let mut names = Vec::new();
    let mut section = "";
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h;
        }
        let infra = section.starts_with("Infrastructure") || section.starts_with("Reprocessing");
        if let Some(rest) = line.strip_prefix("| `") {
            let name = rest.split('`').next().unwrap();
            if !infra && name.starts_with("webhook_") {
                names.push(name.to_string());
            }
        }
    }
    assert!(names.len() >= 15, "docs/metrics.md lists too few metrics: {names:?}");
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_every_documented_metric_in_both_formats() {
    let (url, _dir) = sqlite_with_traffic().await;
    // With ingestion on, so that its series are served too.
    let ingest = crate::ingest_support::ingest_flags();
    let exporter = support::Exporter::start(&url, &[&ingest[0], &ingest[1]]);
    let client = reqwest::Client::new();

    let text = client.get(exporter.url("/metrics")).send().await.unwrap();
    assert_eq!(text.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = text.text().await.unwrap();
    assert!(text.contains("# TYPE webhook_payloads_received_total counter"));
    assert!(text.contains("# TYPE webhook_endpoint_info gauge"));
    assert!(!text.contains("# EOF"));
    for name in documented_metrics() {
        assert!(text.contains(&format!("\n{name}")), "{name} is documented but not served");
    }
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(text.contains(&format!("\n{name} ")), "{name} is not served");
    }
    let build = text.lines().find(|l| l.starts_with("webhook_exporter_build_info{")).unwrap();
    assert!(build.contains("revision=\"") && build.contains("rustversion=\"1."), "{build}");

    let om = client
        .get(exporter.url("/metrics"))
        .header("Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
        .send()
        .await
        .unwrap();
    assert!(om.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let om = om.text().await.unwrap();
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# TYPE webhook_payloads_received counter"));

    // promtool's linter: naming conventions, HELP and TYPE for every family.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap_or_else(|e| panic!("promtool is needed ({e}): run scripts/install-test-deps.sh"));
    let out = format!("{}{}", String::from_utf8_lossy(&lint.stdout), String::from_utf8_lossy(&lint.stderr));
    assert!(lint.status.success() && out.trim().is_empty(), "promtool check metrics:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_health_readiness_and_custom_telemetry_path() {
    let (url, _dir) = sqlite_with_traffic().await;
    let exporter = support::Exporter::start(&url, &["--web.telemetry-path", "/custom-metrics"]);
    let landing = reqwest::get(exporter.url("/")).await.unwrap().text().await.unwrap();
    assert!(landing.contains("Webhook Health Exporter") && landing.contains("href=\"/custom-metrics\""));
    assert!(landing.contains(env!("CARGO_PKG_VERSION")));
    assert_eq!(reqwest::get(exporter.url("/healthz")).await.unwrap().status(), 200);
    assert_eq!(reqwest::get(exporter.url("/readyz")).await.unwrap().status(), 200);
    assert_eq!(reqwest::get(exporter.url("/custom-metrics")).await.unwrap().status(), 200);
    assert_eq!(reqwest::get(exporter.url("/metrics")).await.unwrap().status(), 404);
    let status = exporter.terminate();
    assert!(status.success(), "SIGTERM is a graceful shutdown, got {status}");
}

fn refuse(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_webhook-health-exporter"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("WHE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} should be refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_configuration_is_refused_with_the_setting_named() {
    let err = refuse(&["serve", "--database-url", "sqlite://x.db", "--window", "1x"], &[]);
    assert!(err.contains("--window") && err.contains("1x"), "{err}");
    let err = refuse(&["serve", "--database-url", "mysql://u:hunter2@h/db"], &[]);
    assert!(err.contains("--database-url") && !err.contains("hunter2"), "{err}");
    let err = refuse(&["serve", "--database-url", "sqlite://x.db", "--web.listen-address", "localhost"], &[]);
    assert!(err.contains("--web.listen-address"), "{err}");
    let err = refuse(&["serve"], &[]);
    assert!(err.contains("--database-url"), "{err}");
    let err = refuse(&["serve", "--database-url", "sqlite://x.db"], &[("WHE_COLLECT_TIMEOUT", "soon")]);
    assert!(err.contains("--collect.timeout") && err.contains("soon"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("exporter.toml");
    std::fs::write(&cfg, "database_url = \"sqlite://x.db\"\nlisten_adress = \":9877\"\n").unwrap();
    let err = refuse(&["serve", "--config", cfg.to_str().unwrap()], &[]);
    assert!(err.contains("listen_adress") && err.contains("exporter.toml"), "{err}");
}
