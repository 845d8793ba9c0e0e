//! The README's first command: `demo` serves /metrics for several orgs from an embedded SQLite
//! store, with values moving as the simulator writes and its sync service works the queue, prints
//! a working admin token, and its simulator's lifecycle events arrive through the ingestion
//! endpoint.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sum(metrics: &str, prefix: &str) -> f64 {
    support::parse_metrics(metrics).into_iter().filter(|(s, _)| s.starts_with(prefix)).map(|(_, v)| v).sum()
}

fn received(metrics: &str) -> f64 {
    sum(metrics, "webhook_payloads_received_total{")
}

/// Portal syncs the demo's sync service logged.
fn synced(metrics: &str) -> f64 {
    sum(metrics, r#"webhook_sync_attempts_total{outcome="succeeded""#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_moving_metrics_and_a_usable_admin_token() {
    demo(&[]).await;
}

/// `demo --database-url postgres://... --sync-queue pgmq:NAME`: the same on Supabase Queues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_on_a_pgmq_queue() {
    let url = support::empty_postgres().await;
    support::pgmq::install(&url, "demo_sync").await;
    demo(&["--database-url", &url, "--sync-queue", "pgmq:demo_sync"]).await;
}

async fn demo(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", support::free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_webhook-health-exporter"))
        .args(["demo", "--data-dir", dir.path().to_str().unwrap(), "--web.listen-address", &addr])
        .args(extra)
        .env("WHE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the demo");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let token = loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("demo banner");
        if let Some(rest) = line.split("token for this run: ").nth(1) {
            break rest.trim_end_matches(')').to_string();
        }
    };

    let url = format!("http://{addr}/metrics");
    let first = loop {
        assert!(Instant::now() < deadline, "the demo never served metrics");
        if let Ok(r) = reqwest::get(&url).await {
            let body = r.text().await.unwrap();
            if received(&body) > 0.0 {
                break body;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for org in ["contoso", "fabrikam", "northwind", "adventure-works"] {
        assert!(first.contains(&format!("webhook_endpoint_info{{org=\"{org}\"")), "{org} missing");
    }
    assert_eq!(support::metric(&first, "webhook_store_up"), Some(1.0));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(received(&later) > received(&first), "values move as the simulator writes");
    assert!(synced(&later) > synced(&first), "the sync service works the queue live");
    assert!(
        !later.contains("webhook_sync_window_events_unaccounted{"),
        "every accepted payload is synced, waiting, in flight or given up"
    );

    let events = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/events?limit=5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200, "the printed token opens the API");

    // The history's boots and shutdowns came in as an event worker's batches.
    let inserted = r#"webhook_lifecycle_events_received_total{source="edge_runtime",result="inserted"}"#;
    let page = loop {
        let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
        if support::metric(&page, inserted).is_some_and(|n| n > 0.0) || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        support::metric(&page, inserted).is_some_and(|n| n > 0.0),
        "no lifecycle event ingested:\n{page}"
    );
    let refused = r#"webhook_lifecycle_batches_total{source="edge_runtime",result="invalid"}"#;
    assert_eq!(support::metric(&page, refused), Some(0.0), "the simulator's batches are well formed");

    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "the demo stops cleanly on SIGTERM: {status}");
}
