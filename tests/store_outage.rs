//! The log store goes away and comes back: /metrics keeps answering promptly with
//! `webhook_store_up 0` and the last-known values, then catches up without losing events.
//! The outage is a real TCP proxy in front of the real PostgreSQL, stopped and restarted.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use webhook_health_exporter::simulate::{self, SimConfig};

struct Proxy {
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(port: u16, target: String) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("binding the proxy port");
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        Proxy { tasks }
    }

    /// Closes the listener and every proxied connection, like a database host going away.
    fn stop(self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

fn received_total(metrics: &str) -> f64 {
    support::parse_metrics(metrics)
        .into_iter()
        .filter(|(s, _)| s.starts_with("webhook_payloads_received_total{"))
        .map(|(_, v)| v)
        .sum()
}

async fn scrape(url: &str) -> (String, Duration) {
    let started = Instant::now();
    let body = reqwest::get(url).await.expect("scraping").text().await.unwrap();
    (body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_survive_a_store_outage_and_catch_up() {
    let (url, store) = support::fresh_postgres().await;
    let mut direct = url::Url::parse(&url).unwrap();
    let target = format!("{}:{}", direct.host_str().unwrap(), direct.port().unwrap_or(5432));
    let port = support::free_port();
    direct.set_port(Some(port)).unwrap();
    direct.set_host(Some("127.0.0.1")).unwrap();
    let proxied_url = direct.to_string();

    let sim =
        SimConfig { seed: 11, orgs: 5, events: 2_000, days: 0.5, end: Utc::now(), ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();

    let proxy = Proxy::start(port, target.clone()).await;
    let exporter = support::Exporter::start(&proxied_url, &["--collect.timeout", "2s"]);
    let metrics_url = exporter.url("/metrics");
    let (body, _) = scrape(&metrics_url).await;
    assert_eq!(support::metric(&body, "webhook_store_up"), Some(1.0));
    assert_eq!(received_total(&body), 2_000.0);

    // The store goes away; writers keep writing (straight to the database).
    proxy.stop();
    let more = SimConfig { seed: 12, events: 700, end: Utc::now(), ..sim.clone() };
    simulate::run(&store, &more, std::future::pending()).await.unwrap();
    for _ in 0..3 {
        let (body, took) = scrape(&metrics_url).await;
        assert!(took < Duration::from_secs(4), "a scrape during the outage took {took:?}");
        assert_eq!(support::metric(&body, "webhook_store_up"), Some(0.0), "store_up during the outage");
        assert_eq!(received_total(&body), 2_000.0, "last-known values are served during the outage");
        assert!(body.contains("webhook_window_payloads_received{org=\"contoso\",window=\"1h\"}"));
    }
    let ready = reqwest::get(exporter.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the store is unreachable");

    // The store comes back: the exporter reconnects by itself and catches up.
    let proxy = Proxy::start(port, target).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (body, _) = scrape(&metrics_url).await;
        if support::metric(&body, "webhook_store_up") == Some(1.0) || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(support::metric(&body, "webhook_store_up"), Some(1.0), "reconnected within 30s");
    assert_eq!(received_total(&body), 2_700.0, "every event written during the outage is counted once");
    assert!(support::metric(&body, "webhook_exporter_collect_errors_total").unwrap() >= 1.0);
    proxy.stop();
}
