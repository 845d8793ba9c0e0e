//! End to end: simulator -> log store (PostgreSQL) -> exporter binary -> Prometheus evaluating
//! the shipped rules -> Alertmanager -> a webhook receiver in this test.
//!
//! Checks that (a) WebhookHighRejectionRate fires for fabrikam only (the simulator's history puts
//! it in an ongoing secret-rotation incident; every other org stays near 3%), and (b)
//! WebhookInfrastructureOutage fires with the last-healthy time in its description when a probed
//! endpoint goes down, keeps that time across an exporter crash and restart during the outage,
//! and resolves when the endpoint comes back.
//!
//! The rules are loaded as shipped except for `for:` durations, which are capped at 1m in the
//! copy Prometheus reads (WebhookHighRejectionRate waits 5m in production) so the test takes
//! about a minute and a half. Needs `prometheus` and `prometheus-alertmanager` on PATH
//! (`scripts/install-test-deps.sh`); without them the test fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::Value;
use webhook_health_exporter::simulate::{self, SimConfig};

use support::endpoint::Endpoint;
use support::{free_port, metric, Exporter};

const FOR_CAP_SECONDS: u64 = 60;
const COMPONENT: &str = "endpoint:edge-hook";

/// A child process killed on drop, with its output in a log file.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn start(name: &'static str, program: &str, args: &[String], dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `{program}` ({e}). This test needs Prometheus 2.42+ and Alertmanager \
                     0.25+ on PATH: run scripts/install-test-deps.sh (Debian packages prometheus and \
                     prometheus-alertmanager)."
                )
            });
        Proc { name, child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!("--- {} log (tail) ---\n{}", self.name, lines[lines.len().saturating_sub(15)..].join("\n"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies the shipped rule files, capping `for:` durations at FOR_CAP_SECONDS.
fn rule_files(dir: &Path) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerting-rules");
    let mut written = Vec::new();
    for sub in ["rules", "alerts"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
            .unwrap_or_else(|e| panic!("alerting-rules/{sub}: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let capped: Vec<String> = text
                .lines()
                .map(|line| {
                    let Some(value) = line.trim_start().strip_prefix("for: ") else {
                        return line.to_string();
                    };
                    let d = humantime::parse_duration(value.trim()).expect("a for: duration");
                    if d.as_secs() <= FOR_CAP_SECONDS {
                        return line.to_string();
                    }
                    let indent = &line[..line.len() - line.trim_start().len()];
                    format!("{indent}for: {FOR_CAP_SECONDS}s")
                })
                .collect();
            let out = dir.join(format!("{sub}-{}", file.file_name().unwrap().to_string_lossy()));
            std::fs::write(&out, capped.join("\n") + "\n").unwrap();
            written.push(out.display().to_string());
        }
    }
    assert!(written.len() >= 2, "no rule files found under alerting-rules/");
    written
}

/// One alert as Alertmanager delivered it, with when it arrived.
#[derive(Debug, Clone)]
struct Delivered {
    at: Instant,
    status: String,
    labels: Value,
    annotations: Value,
}

impl Delivered {
    fn label(&self, name: &str) -> &str {
        self.labels[name].as_str().unwrap_or("")
    }
}

type Inbox = Arc<Mutex<Vec<Delivered>>>;

/// The webhook receiver Alertmanager notifies.
async fn start_receiver() -> (u16, Inbox) {
    let inbox: Inbox = Arc::default();
    let sink = Arc::clone(&inbox);
    let app = axum::Router::new().route(
        "/alerts",
        post(move |Json(body): Json<Value>| {
            let sink = Arc::clone(&sink);
            async move {
                let now = Instant::now();
                for a in body["alerts"].as_array().cloned().unwrap_or_default() {
                    sink.lock().unwrap().push(Delivered {
                        at: now,
                        status: a["status"].as_str().unwrap_or("").to_string(),
                        labels: a["labels"].clone(),
                        annotations: a["annotations"].clone(),
                    });
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, inbox)
}

async fn wait_ready(url: &str, procs: &[&Proc]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().is_success() {
                return;
            }
        }
        let logs: Vec<String> = procs.iter().map(|p| p.log_tail()).collect();
        assert!(Instant::now() < deadline, "{url} not ready within 30s\n{}", logs.join("\n"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for a delivered alert matching `pred`.
async fn wait_alert(
    inbox: &Inbox,
    what: &str,
    timeout: Duration,
    procs: &[&Proc],
    pred: impl Fn(&Delivered) -> bool,
) -> Delivered {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(d) = inbox.lock().unwrap().iter().find(|d| pred(d)) {
            return d.clone();
        }
        if Instant::now() > deadline {
            let got: Vec<String> = inbox
                .lock()
                .unwrap()
                .iter()
                .map(|d| format!("{} {} {}", d.status, d.label("alertname"), d.labels))
                .collect();
            let logs: Vec<String> = procs.iter().map(|p| p.log_tail()).collect();
            panic!("no {what} within {timeout:?}; delivered: {got:#?}\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn prom_query(prometheus: &str, query: &str) -> Vec<Value> {
    let body: Value = reqwest::Client::new()
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "success", "{query}: {body}");
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn scalar(result: &[Value]) -> Option<f64> {
    result.first()?["value"][1].as_str()?.parse().ok()
}

/// How Prometheus's `humanizeTimestamp` prints a time, to the second.
fn humanized_second(seconds: f64) -> String {
    let t = DateTime::<Utc>::from_timestamp(seconds.floor() as i64, 0).unwrap();
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

async fn scrape_until(exporter: &Exporter, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = exporter.scrape().await;
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "the exporter never showed {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let exporter_flags = ["--probe.target", &target, "--probe.interval", "1s", "--probe.timeout", "500ms"];
    let exporter_addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut exporter = Exporter::start_on(exporter_addr, &db_url, &exporter_flags);

    let (receiver_port, inbox) = start_receiver().await;
    let am_port = free_port();
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        format!(
            "route:\n  receiver: test\n  group_by: [alertname, org, component]\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    webhook_configs:\n      \
             - url: http://127.0.0.1:{receiver_port}/alerts\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let alertmanager = Proc::start(
        "alertmanager",
        "prometheus-alertmanager",
        &[
            format!("--config.file={}/alertmanager.yml", dir.path().display()),
            format!("--storage.path={}/am", dir.path().display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
        dir.path(),
    );

    let rules = rule_files(dir.path());
    let prom_port = free_port();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n\
             scrape_configs:\n  - job_name: webhook-health-exporter\n    static_configs:\n      - targets: ['{exporter_addr}']\n",
            rules.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n")
        ),
    )
    .unwrap();
    let prometheus_proc = Proc::start(
        "prometheus",
        "prometheus",
        &[
            format!("--config.file={}/prometheus.yml", dir.path().display()),
            format!("--storage.tsdb.path={}/data", dir.path().display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
            "--rules.alert.resend-delay=1s".into(),
        ],
        dir.path(),
    );
    let procs = [&prometheus_proc, &alertmanager];
    let prometheus = format!("http://127.0.0.1:{prom_port}");
    wait_ready(&format!("http://127.0.0.1:{am_port}/-/ready"), &procs).await;
    wait_ready(&format!("{prometheus}/-/ready"), &procs).await;
    let stack_up = Instant::now();
    eprintln!("e2e: store, exporter, Prometheus, Alertmanager up after {:.1?}", started.elapsed());

    // The endpoint answers (401 to the unauthenticated probe: healthy) and Prometheus sees it.
    scrape_until(&exporter, "the endpoint up", |t| metric(t, &up_series) == Some(1.0)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while scalar(&prom_query(&prometheus, &last_series).await).is_none() {
        assert!(Instant::now() < deadline, "Prometheus never scraped {last_series}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Outage: the endpoint stops; last-healthy freezes.
    endpoint.stop().await;
    let stopped = Instant::now();
    let stopped_at = Utc::now().timestamp_micros() as f64 / 1e6;
    let text = scrape_until(&exporter, "the endpoint down", |t| metric(t, &up_series) == Some(0.0)).await;
    let last_healthy = metric(&text, &last_series).expect("a last-healthy time");
    assert!(last_healthy <= stopped_at && stopped_at - last_healthy < 3.0, "{last_healthy} vs {stopped_at}");

    // The exporter crashes and comes back during the outage: same last-healthy time.
    drop(exporter);
    exporter = Exporter::start_on(exporter_addr, &db_url, &exporter_flags);
    let text = scrape_until(&exporter, "down with last-healthy", |t| {
        metric(t, &up_series) == Some(0.0) && metric(t, &last_series).is_some()
    })
    .await;
    assert_eq!(metric(&text, &last_series), Some(last_healthy), "last-healthy changed across the restart");
    eprintln!("e2e: exporter restarted during the outage, last-healthy unchanged ({last_healthy})");

    let outage = wait_alert(&inbox, "WebhookInfrastructureOutage", Duration::from_secs(150), &procs, |d| {
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

    // Prometheus saw last-healthy frozen through the whole outage, the restart included.
    let frozen_for = (stopped.elapsed().as_secs_f64() - 3.0).floor() as u64;
    for f in ["min_over_time", "max_over_time"] {
        let q = format!("{f}({last_series}[{frozen_for}s])");
        assert_eq!(scalar(&prom_query(&prometheus, &q).await), Some(last_healthy), "{q}");
    }

    // Recovery.
    endpoint.restart().await;
    let restarted = Instant::now();
    let resolved = wait_alert(&inbox, "the outage's resolution", Duration::from_secs(60), &procs, |d| {
        d.label("alertname") == "WebhookInfrastructureOutage" && d.status == "resolved"
    })
    .await;
    assert_eq!(resolved.label("component"), COMPONENT);
    eprintln!("e2e: resolution delivered {:.1?} after the endpoint came back", resolved.at - restarted);
    let text = scrape_until(&exporter, "last-healthy moving again", |t| {
        metric(t, &up_series) == Some(1.0) && metric(t, &last_series) > Some(last_healthy)
    })
    .await;
    assert!(metric(&text, &last_series).unwrap() > last_healthy);

    // The rejection-rate alert: fabrikam, and only fabrikam.
    let rejection = wait_alert(&inbox, "WebhookHighRejectionRate", Duration::from_secs(120), &procs, |d| {
        d.label("alertname") == "WebhookHighRejectionRate" && d.status == "firing"
    })
    .await;
    eprintln!("e2e: rejection-rate alert delivered {:.1?} after the stack came up", rejection.at - stack_up);
    let orgs: Vec<String> = inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|d| d.label("alertname") == "WebhookHighRejectionRate")
        .map(|d| d.label("org").to_string())
        .collect();
    assert!(orgs.iter().all(|o| o == "fabrikam"), "only fabrikam is over 10%: {orgs:?}");
    assert_eq!(rejection.label("severity"), "critical");
    let ratio =
        scalar(&prom_query(&prometheus, r#"webhook:rejection_ratio:1h{org="fabrikam"}"#).await).unwrap();
    assert!(ratio > 0.10, "{ratio}");
    let others =
        prom_query(&prometheus, r#"webhook:rejection_ratio:1h{org!~"fabrikam|_unknown"} > 0.05"#).await;
    assert!(others.is_empty(), "other orgs stay near 3%: {others:?}");

    // The Edge Function (its last error exit was hours ago) never alerted.
    assert!(
        !inbox.lock().unwrap().iter().any(|d| d.label("component") == "edge_function"),
        "edge_function is healthy"
    );
    eprintln!("e2e: done in {:.1?}", started.elapsed());
}
