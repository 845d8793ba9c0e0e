//! Lifecycle ingestion through the real binary: disabled without its token; its own credential
//! (the API's tokens refused here, its token refused by the API); size, count and shape limits
//! with JSON errors naming them; every refused batch writes nothing.

use crate::support;

use serde_json::{json, Value};

use crate::api_support::{code, get, ADMIN_TOKEN, VIEWER_TOKEN};
use crate::ingest_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestion_is_disabled_without_an_ingestion_token() {
    let (url, _store, _dir) = support::fresh_sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("exporter.log");
    let exporter = support::Exporter::start_logging(
        &url,
        &crate::api_support::token_flags().iter().map(String::as_str).collect::<Vec<_>>(),
        "info",
        &log,
    );
    for route in [RUNTIME_ROUTE, DRAIN_ROUTE] {
        let a = post_raw(&exporter, route, Some(INGEST_TOKEN), None, b"[]".to_vec()).await;
        assert_eq!((a.status.as_u16(), code(&a)), (404, "ingest_disabled"), "{route}");
        assert!(a.body["error"]["message"].as_str().unwrap().contains("--ingest.token-sha256"));
    }
    let page = exporter.scrape().await;
    assert!(!page.contains("webhook_lifecycle_events_received_total"), "no ingestion series while disabled");
    assert!(std::fs::read_to_string(&log).unwrap().contains("lifecycle ingestion disabled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestion_and_the_api_accept_only_their_own_tokens() {
    let (url, store, _dir) = support::fresh_sqlite().await;
    // The ingestion token from a file, as a Docker secret would give it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ingest-tokens");
    let hash = hex::encode(webhook_health_exporter::api::auth::token_sha256(INGEST_TOKEN));
    std::fs::write(&file, format!("# lifecycle senders\nsupabase-drain:{hash}\n")).unwrap();
    let mut flags = crate::api_support::token_flags();
    flags.extend(["--ingest.token-sha256-file".to_string(), file.display().to_string()]);
    let exporter = support::Exporter::start(&url, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let crash = [runtime_event("c-1", "UncaughtException", json!({"exception": "boom", "cpu_time_used": 1}))];

    for token in [None, Some("not-a-token"), Some(ADMIN_TOKEN), Some(VIEWER_TOKEN)] {
        let a = post_runtime(&exporter, token, &crash).await;
        assert_eq!((a.status.as_u16(), code(&a)), (401, "unauthorized"), "{token:?}");
        assert_eq!(a.headers["www-authenticate"], "Bearer realm=\"webhook-health-exporter\"");
        let a = post_drain(&exporter, token, &[]).await;
        assert_eq!(a.status, 401, "{token:?}");
    }
    assert!(lifecycle_rows(&store).await.is_empty(), "a refused batch writes nothing");
    // The ingestion token does not open the API.
    let a = get(&exporter, Some(INGEST_TOKEN), "/api/v1/events").await;
    assert_eq!((a.status.as_u16(), code(&a)), (401, "unauthorized"));
    let a = crate::api_support::post(&exporter, Some(INGEST_TOKEN), None, &json!({"event_ids": []})).await;
    assert_eq!(a.status, 401);

    let a = post_runtime(&exporter, Some(INGEST_TOKEN), &crash).await;
    assert_eq!((a.status.as_u16(), counts(&a)), (200, (1, 0, 0)), "{}", a.text);
    assert_eq!(a.headers["cache-control"], "no-store");

    let page = exporter.scrape().await;
    let refused = |route: &str| {
        series(&page, "webhook_api_refused_requests_total", &[("route", route), ("reason", "unauthorized")])
    };
    assert_eq!(refused(RUNTIME_ROUTE), Some(4.0));
    assert_eq!(refused(DRAIN_ROUTE), Some(4.0));
    assert_eq!(refused("/api/v1/events"), Some(1.0));
    assert_eq!(refused("/api/v1/reprocess"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_bounded_and_malformed_ones_are_named() {
    let (url, store) = support::fresh_postgres().await;
    let exporter = start(&url, &[]);
    let log =
        |i: usize| drain_event(&format!("l-{i}"), "hello", json!({"event_type": "log", "level": "info"}));

    // A full drain batch (250, gzip) is taken; one more is refused whole.
    let full: Vec<Value> = (0..250).map(log).collect();
    let a = post_drain(&exporter, Some(INGEST_TOKEN), &full).await;
    assert_eq!((a.status.as_u16(), counts(&a)), (200, (0, 0, 250)), "{}", a.text);
    let over: Vec<Value> = (0..251).map(log).collect();
    let a = post_drain(&exporter, Some(INGEST_TOKEN), &over).await;
    assert_eq!((a.status.as_u16(), code(&a)), (413, "too_many_events"));
    assert!(a.body["error"]["message"].as_str().unwrap().contains("at most 250 events"), "{}", a.text);
    let many: Vec<Value> =
        (0..501).map(|i| runtime_event(&format!("r-{i}"), "Boot", json!({"boot_time": 1}))).collect();
    let a = post_runtime(&exporter, Some(INGEST_TOKEN), &many).await;
    assert_eq!((a.status.as_u16(), code(&a)), (413, "too_many_events"));
    assert!(a.body["error"]["message"].as_str().unwrap().contains("at most 500 events"));

    // A gzip bomb: 10 KiB on the wire, 16 MiB inflated.
    let bomb = gzip(&vec![b' '; 16 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let a = post_raw(&exporter, DRAIN_ROUTE, Some(INGEST_TOKEN), Some("gzip"), bomb).await;
    assert_eq!((a.status.as_u16(), code(&a)), (413, "body_too_large"));
    assert!(
        a.body["error"]["message"].as_str().unwrap().contains("--ingest.max-decompressed-bytes"),
        "{}",
        a.text
    );
    // Over the body limit as sent.
    let a = post_raw(&exporter, RUNTIME_ROUTE, Some(INGEST_TOKEN), None, vec![b' '; 1024 * 1024 + 1]).await;
    assert_eq!((a.status.as_u16(), code(&a)), (413, "body_too_large"));
    assert!(a.body["error"]["message"].as_str().unwrap().contains("--ingest.max-body-bytes"));

    // Not JSON, not the shape, not an encoding we read.
    let a = post_raw(&exporter, RUNTIME_ROUTE, Some(INGEST_TOKEN), None, b"{\"events\": [".to_vec()).await;
    assert_eq!((a.status.as_u16(), code(&a)), (400, "malformed_json"));
    assert!(a.body["error"]["message"].as_str().unwrap().contains("line 1"), "{}", a.text);
    let a = post_raw(&exporter, DRAIN_ROUTE, Some(INGEST_TOKEN), Some("gzip"), gzip(b"[{\"id\": ")).await;
    assert_eq!((a.status.as_u16(), code(&a)), (400, "malformed_json"));
    let a = post_raw(&exporter, DRAIN_ROUTE, Some(INGEST_TOKEN), Some("gzip"), b"not gzip".to_vec()).await;
    assert_eq!((a.status.as_u16(), code(&a)), (400, "malformed_gzip"));
    let a = post_raw(&exporter, RUNTIME_ROUTE, Some(INGEST_TOKEN), None, b"[]".to_vec()).await;
    assert_eq!((a.status.as_u16(), code(&a)), (400, "invalid_batch"));
    assert!(a.body["error"]["message"].as_str().unwrap().contains("`events` array"));
    let a = post_raw(&exporter, DRAIN_ROUTE, Some(INGEST_TOKEN), None, b"{\"events\": []}".to_vec()).await;
    assert_eq!((a.status.as_u16(), code(&a)), (400, "invalid_batch"));
    let a = post_raw(&exporter, DRAIN_ROUTE, Some(INGEST_TOKEN), Some("br"), b"[]".to_vec()).await;
    assert_eq!((a.status.as_u16(), code(&a)), (415, "unsupported_content_encoding"));
    // A drain configured without gzip: identity bodies are read too.
    let a = post_raw(&exporter, DRAIN_ROUTE, Some(INGEST_TOKEN), None, b"[]".to_vec()).await;
    assert_eq!((a.status.as_u16(), counts(&a)), (200, (0, 0, 0)));

    assert!(lifecycle_rows(&store).await.is_empty(), "refused batches wrote nothing");
    let page = exporter.scrape().await;
    let batches = |source: &str, result: &str| {
        series(&page, "webhook_lifecycle_batches_total", &[("source", source), ("result", result)])
    };
    assert_eq!(batches("log_drain", "accepted"), Some(2.0));
    assert_eq!(batches("log_drain", "too_large"), Some(2.0));
    assert_eq!(batches("log_drain", "invalid"), Some(4.0));
    assert_eq!(batches("edge_runtime", "too_large"), Some(2.0));
    assert_eq!(batches("edge_runtime", "invalid"), Some(2.0));
    assert_eq!(
        support::metric(
            &page,
            "webhook_lifecycle_events_received_total{source=\"log_drain\",result=\"ignored\"}"
        ),
        Some(250.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulate_command_posts_its_lifecycle_events_to_an_exporter() {
    let (url, store) = support::fresh_postgres().await;
    let exporter = start(&url, &[]);
    let simulate = |token: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_webhook-health-exporter"));
        cmd.args(["simulate", "--database-url", &url, "--events", "4000", "--days", "1"])
            .args(["--ingest.url", &exporter.url("")])
            .env_remove("WHE_INGEST_TOKEN")
            .env("WHE_LOG", "warn");
        if let Some(t) = token {
            cmd.env("WHE_INGEST_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = simulate(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WHE_INGEST_TOKEN"), "the missing token is named");

    let out = simulate(Some(INGEST_TOKEN));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("posted to the exporter's ingestion endpoint"), "{stderr}");
    let rows = lifecycle_rows(&store).await;
    assert!(!rows.is_empty(), "{stderr}");
    assert!(
        rows.iter().all(|r| r.3.as_deref() == Some("edge_runtime") && r.2 == "dynamics-webhook"),
        "{rows:?}"
    );
    let page = exporter.scrape().await;
    let inserted = r#"webhook_lifecycle_events_received_total{source="edge_runtime",result="inserted"}"#;
    assert_eq!(support::metric(&page, inserted), Some(rows.len() as f64));
}
