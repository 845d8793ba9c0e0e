//! Failures the exporter survives are logged and counted in one place each
//! (`failure_counters`): each counter stays 0 while its path works and moves when the log store
//! fails under it. Real PostgreSQL behind a TCP proxy that is cut or silenced (as in
//! `store_outage`), the whole application in process (`app::app`).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::json;
use webhook_health_exporter::failure_counters::StorePath;
use webhook_health_exporter::health::{persist, HealthState};
use webhook_health_exporter::store::{ConnectOptions, Store};

use crate::api_support::{token_flags, ADMIN_TOKEN};
use crate::ingest_support::{ingest_flags, runtime_event, INGEST_TOKEN, RUNTIME_ROUTE};
use crate::support;
use crate::support::in_process::{self, call, request};
use crate::support::proxy::{target_of, Proxy};

/// Each path's `webhook_exporter_store_errors_total` on a scraped page (every path is exported).
fn store_errors(page: &str) -> Vec<(&'static str, f64)> {
    StorePath::ALL
        .iter()
        .map(|p| {
            let series = format!("webhook_exporter_store_errors_total{{path=\"{}\"}}", p.as_str());
            (p.as_str(), support::metric(page, &series).unwrap_or_else(|| panic!("no {series}:\n{page}")))
        })
        .collect()
}

fn proxied_store(url: &str) -> Store {
    let opts = ConnectOptions {
        acquire_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        ..ConnectOptions::default()
    };
    Store::open_lazy(url, &opts).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_are_counted_by_path_only_when_they_happen() {
    let (url, _direct) = support::fresh_postgres().await;
    let proxy = Proxy::start(target_of(&url)).await;
    let proxied = proxy.url(&url);
    let flags: Vec<String> = token_flags().into_iter().chain(ingest_flags()).collect();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let store = proxied_store(&proxied);
    let (app, collector) = in_process::app(&in_process::settings(&proxied, &flags), store.clone());
    let health = HealthState::new(["portal".to_string()], Duration::from_secs(60));
    let failures = collector.failure_counters().clone();
    let persisting = tokio::spawn(persist::run(store, health.clone(), Duration::from_millis(100), failures));

    // Every path works once: nothing is counted.
    let reprocess = json!({"event_ids": [uuid::Uuid::new_v4().to_string()]});
    let lifecycle = |id: &str| json!({"events": [runtime_event(id, "Boot", json!({"boot_time": 3}))]});
    let calls = |n: &str| {
        [
            request("GET", "/api/v1/events", Some(ADMIN_TOKEN), None),
            request("POST", "/api/v1/reprocess", Some(ADMIN_TOKEN), Some(&reprocess)),
            request("POST", RUNTIME_ROUTE, Some(INGEST_TOKEN), Some(&lifecycle(n))),
        ]
    };
    for r in calls("1") {
        let answer = call(&app, r).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    health.observe("portal", true, Utc::now(), None);
    wait_until("the last-healthy time is persisted", || health.unpersisted().is_empty()).await;
    let page = call(&app, request("GET", "/metrics", None, None)).await.text;
    assert_eq!(support::metric(&page, "webhook_store_up"), Some(1.0), "{page}");
    assert!(store_errors(&page).iter().all(|(_, n)| *n == 0.0), "{:?}", store_errors(&page));
    assert_eq!(support::metric(&page, "webhook_exporter_scrape_deadline_exceeded_total"), Some(0.0));

    // The store goes away: each path fails once, and is counted under its own label.
    proxy.cut();
    let want = [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
    for (r, want) in calls("2").into_iter().zip(want) {
        let answer = call(&app, r).await;
        assert_eq!(answer.status, want, "{}", answer.text);
    }
    health.observe("portal", true, Utc::now(), None);
    let failures = collector.failure_counters().clone();
    let persist_failed =
        || failures.stats().store_errors.iter().any(|(p, n)| *p == "health_persist" && *n > 0);
    wait_until("a failed persistence round is counted", persist_failed).await;
    persisting.abort();
    let page = call(&app, request("GET", "/metrics", None, None)).await.text;
    assert_eq!(support::metric(&page, "webhook_store_up"), Some(0.0), "{page}");
    for (path, n) in store_errors(&page) {
        match path {
            // Each round while the store is down is one failure.
            "health_persist" => assert!(n >= 1.0, "{path}: {n}"),
            // The failed reprocess request's audit row could not be written either.
            "events_list" | "reprocess" | "reprocess_audit" | "ingest" => assert_eq!(n, 1.0, "{path}"),
            _ => assert_eq!(n, 0.0, "{path}"),
        }
    }
    assert_eq!(support::metric(&page, "webhook_exporter_scrape_deadline_exceeded_total"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_that_outlives_its_deadline_is_counted() {
    let (url, _direct) = support::fresh_postgres().await;
    let proxy = Proxy::start(target_of(&url)).await;
    let proxied = proxy.url(&url);
    let settings = in_process::settings(&proxied, &["--collect.timeout", "500ms"]);
    let (app, collector) = in_process::app(&settings, proxied_store(&proxied));
    collector.refresh().await;
    let metrics = || call(&app, request("GET", "/metrics", None, None));
    let page = metrics().await.text;
    assert_eq!(support::metric(&page, "webhook_store_up"), Some(1.0), "{page}");
    assert_eq!(support::metric(&page, "webhook_exporter_scrape_deadline_exceeded_total"), Some(0.0));

    // The store stops answering on the open connection: the scrape stops waiting at 500ms.
    proxy.silence_open_connections();
    let started = Instant::now();
    let page = metrics().await.text;
    assert!(started.elapsed() < Duration::from_secs(3), "the scrape took {:?}", started.elapsed());
    assert_eq!(support::metric(&page, "webhook_store_up"), Some(0.0), "{page}");
    assert_eq!(support::metric(&page, "webhook_exporter_scrape_deadline_exceeded_total"), Some(1.0));
    assert!(store_errors(&page).iter().all(|(_, n)| *n == 0.0), "not a store error on another path");
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "waited 15s for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
