//! The log store goes away and comes back: /metrics keeps answering promptly with
//! `webhook_store_up 0` and the last-known values, then catches up without losing events.
//! The outage is a real TCP proxy in front of the real PostgreSQL, stopped and restarted.

use crate::support;

use std::time::{Duration, Instant};

use crate::support::proxy::{target_of, Proxy};
use chrono::Utc;
use webhook_health_exporter::simulate::{self, SimConfig};

async fn scrape(url: &str) -> (String, Duration) {
    let started = Instant::now();
    let body = reqwest::get(url).await.expect("scraping").text().await.unwrap();
    (body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_survive_a_store_outage_and_catch_up() {
    let (url, store) = support::fresh_postgres().await;

    let sim =
        SimConfig { seed: 11, orgs: 5, events: 2_000, days: 0.5, end: Utc::now(), ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();

    let proxy = Proxy::start(target_of(&url)).await;
    let proxied_url = proxy.url(&url);
    let exporter = support::Exporter::start(&proxied_url, &["--collect.timeout", "2s"]);
    let metrics_url = exporter.url("/metrics");
    let (body, _) = scrape(&metrics_url).await;
    assert_eq!(support::metric(&body, "webhook_store_up"), Some(1.0));
    assert_eq!(support::received_total(&body), 2_000.0);

    // The store goes away; writers keep writing (straight to the database).
    proxy.cut();
    let more = SimConfig { seed: 12, events: 700, end: Utc::now(), ..sim.clone() };
    simulate::run(&store, &more, std::future::pending()).await.unwrap();
    for _ in 0..3 {
        let (body, took) = scrape(&metrics_url).await;
        assert!(took < Duration::from_secs(4), "a scrape during the outage took {took:?}");
        assert_eq!(support::metric(&body, "webhook_store_up"), Some(0.0), "store_up during the outage");
        assert_eq!(support::received_total(&body), 2_000.0, "last-known values are served during the outage");
        assert!(body.contains("webhook_window_payloads_received{org=\"contoso\",window=\"1h\"}"));
    }
    let ready = reqwest::get(exporter.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the store is unreachable");

    // The store comes back: the exporter reconnects by itself and catches up.
    proxy.refuse_new(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (body, _) = scrape(&metrics_url).await;
        if support::metric(&body, "webhook_store_up") == Some(1.0) || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(support::metric(&body, "webhook_store_up"), Some(1.0), "reconnected within 30s");
    assert_eq!(
        support::received_total(&body),
        2_700.0,
        "every event written during the outage is counted once"
    );
    assert!(support::metric(&body, "webhook_exporter_collect_errors_total").unwrap() >= 1.0);
}
