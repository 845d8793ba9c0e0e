//! A real Prometheus for tests: the `prometheus` binary (Debian package `prometheus`, 2.42) on a
//! free port, with a generated configuration in a temporary folder. One job,
//! `webhook-health-exporter`, scrapes the given exporter every second; rules are evaluated every
//! second (every group, whatever its own `interval:`), by default the repository's own
//! alerting-rules/; alerts optionally go to an Alertmanager. Killed on drop.
//!
//! A missing binary FAILS the test with instructions (run scripts/install-test-deps.sh).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::server::Server;

/// The scrape job the dashboard, the alert rules and deploy/prometheus/prometheus.yml all name.
pub const EXPORTER_JOB: &str = "webhook-health-exporter";

const INSTALL_HINT: &str =
    "`prometheus` is needed for this test: run scripts/install-test-deps.sh (apt-get install prometheus)";

/// Labels of a series.
pub type Labels = BTreeMap<String, String>;
/// One sample of an instant query: the series' labels and its value.
pub type Sample = (Labels, f64);
/// One series of a range query: its labels and its (unix time, value) points.
pub type Series = (Labels, Vec<(f64, f64)>);

/// What the generated prometheus.yml contains.
#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    /// The exporter the `webhook-health-exporter` job scrapes.
    pub exporter: SocketAddr,
    /// Where alerts are sent, if anywhere.
    pub alertmanager: Option<SocketAddr>,
    /// Rule files (absolute paths; globs allowed).
    pub rule_files: Vec<PathBuf>,
    /// Scrape and rule evaluation interval.
    pub interval: Duration,
    /// Scrape over HTTPS, trusting this CA (PEM) file.
    pub https_ca_file: Option<PathBuf>,
    /// Scrape with basic auth: user and password.
    pub basic_auth: Option<(String, String)>,
}

impl PrometheusConfig {
    /// Scrapes `exporter` every second and evaluates the repository's alerting-rules/.
    pub fn new(exporter: SocketAddr) -> PrometheusConfig {
        PrometheusConfig {
            exporter,
            alertmanager: None,
            rule_files: repository_rule_files(),
            interval: Duration::from_secs(1),
            https_ca_file: None,
            basic_auth: None,
        }
    }

    /// Scrape over HTTPS (`scheme: https`, `tls_config.ca_file`).
    pub fn https(mut self, ca_file: PathBuf) -> PrometheusConfig {
        self.https_ca_file = Some(ca_file);
        self
    }

    /// Scrape with `basic_auth`.
    pub fn basic_auth(mut self, user: &str, password: &str) -> PrometheusConfig {
        self.basic_auth = Some((user.to_string(), password.to_string()));
        self
    }

    pub fn alertmanager(mut self, addr: SocketAddr) -> PrometheusConfig {
        self.alertmanager = Some(addr);
        self
    }

    pub fn rule_files(mut self, files: Vec<PathBuf>) -> PrometheusConfig {
        self.rule_files = files;
        self
    }

    /// prometheus.yml, loading `rule_files` (the copies `load_rule_files` made).
    fn yaml(&self, rule_files: &[PathBuf]) -> String {
        // JSON strings are valid YAML scalars: quoting through serde_json escapes any path.
        let q = |s: &str| Value::String(s.to_string()).to_string();
        let interval = format!("{}ms", self.interval.as_millis());
        let mut out = format!(
            "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n  \
             evaluation_interval: {interval}\n"
        );
        if !rule_files.is_empty() {
            out.push_str("rule_files:\n");
            for f in rule_files {
                out.push_str(&format!("  - {}\n", q(&f.to_string_lossy())));
            }
        }
        if let Some(am) = self.alertmanager {
            out.push_str(&format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [{}]\n",
                q(&am.to_string())
            ));
        }
        out.push_str(&format!(
            "scrape_configs:\n  - job_name: {EXPORTER_JOB}\n    metrics_path: /metrics\n    \
             static_configs:\n      - targets: [{}]\n",
            q(&self.exporter.to_string())
        ));
        if let Some(ca) = &self.https_ca_file {
            out.push_str(&format!(
                "    scheme: https\n    tls_config:\n      ca_file: {}\n",
                q(&ca.to_string_lossy())
            ));
        }
        if let Some((user, password)) = &self.basic_auth {
            out.push_str(&format!(
                "    basic_auth:\n      username: {}\n      password: {}\n",
                q(user),
                q(password)
            ));
        }
        out
    }
}

/// The rule files deploy/prometheus/prometheus.yml loads, as absolute globs.
pub fn repository_rule_files() -> Vec<PathBuf> {
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("alerting-rules");
    vec![rules.join("alerts/*.yaml"), rules.join("rules/*.yaml")]
}

/// Copies the rule files (`*` globs in the file name allowed) into `dir` as this Prometheus loads
/// them: without the groups' own `interval:`, so that every group follows the configured
/// evaluation interval. A test's Prometheus runs for seconds; a group evaluated every 15 minutes
/// (WebhookOrgSilent's baseline, alerting-rules/rules/) would not have run by then.
fn load_rule_files(patterns: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for pattern in patterns {
        let name = pattern.file_name().unwrap().to_string_lossy().to_string();
        match name.split_once('*') {
            None => files.push(pattern.clone()),
            Some((prefix, suffix)) => {
                let parent = pattern.parent().unwrap();
                let entries = std::fs::read_dir(parent)
                    .unwrap_or_else(|e| panic!("cannot list {}: {e}", parent.display()));
                let mut matched: Vec<PathBuf> = entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| {
                        let n = p.file_name().unwrap().to_string_lossy();
                        n.starts_with(prefix) && n.ends_with(suffix) && n.len() >= prefix.len() + suffix.len()
                    })
                    .collect();
                matched.sort();
                files.extend(matched);
            }
        }
    }
    files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let text = std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            let mut doc: serde_norway::Value = serde_norway::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", file.display()));
            for group in doc["groups"].as_sequence_mut().into_iter().flatten() {
                if let Some(group) = group.as_mapping_mut() {
                    group.remove("interval");
                }
            }
            let copy = dir.join(format!("rules-{i}-{}", file.file_name().unwrap().to_string_lossy()));
            std::fs::write(&copy, serde_norway::to_string(&doc).unwrap()).expect("writing a rule file");
            copy
        })
        .collect()
}

/// The `.yaml` / `.yml` files of `alerting-rules/<dir>`, sorted; panics when there are none, so
/// that a moved folder cannot make a test pass vacuously.
pub fn alerting_rules_yaml(dir: &str) -> Vec<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("alerting-rules").join(dir);
    let entries = std::fs::read_dir(&path).unwrap_or_else(|e| panic!("cannot list {}: {e}", path.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML files in {}", path.display());
    files
}

/// A running Prometheus; killed on drop.
pub struct Prometheus {
    server: Server,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus and waits until it is ready (`/-/ready`).
    pub async fn start(config: &PrometheusConfig) -> Prometheus {
        let dir = tempfile::tempdir().expect("a temporary folder for Prometheus");
        let config_file = dir.path().join("prometheus.yml");
        let rule_files = load_rule_files(&config.rule_files, dir.path());
        std::fs::write(&config_file, config.yaml(&rule_files)).expect("writing prometheus.yml");
        let server = Server::start("prometheus", INSTALL_HINT, dir.path(), |addr| {
            vec![
                format!("--config.file={}", config_file.display()),
                format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                format!("--web.listen-address={addr}"),
                // Send alerts without the default one-minute resend delay.
                "--rules.alert.resend-delay=1s".to_string(),
            ]
        })
        .await;
        Prometheus { server, client: reqwest::Client::new(), _dir: dir }
    }

    /// An instant query at the current time (`/api/v1/query`).
    pub async fn query(&self, expr: &str) -> Vec<Sample> {
        self.instant(expr, None).await
    }

    /// An instant query at `time` (unix seconds): evaluating several queries at one fixed time
    /// makes their results comparable while data keeps arriving.
    pub async fn query_at(&self, expr: &str, time: f64) -> Vec<Sample> {
        self.instant(expr, Some(time)).await
    }

    async fn instant(&self, expr: &str, time: Option<f64>) -> Vec<Sample> {
        let mut params = vec![("query", expr.to_string())];
        if let Some(t) = time {
            params.push(("time", format!("{t:.3}")));
        }
        let data = self.api("/api/v1/query", &params, expr).await;
        let point = |v: &Value| parse_value(&v[1], expr);
        match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (labels(&s["metric"]), point(&s["value"])))
                .collect(),
            Some("scalar") => vec![(Labels::new(), point(&data["result"]))],
            other => panic!("`{expr}`: unexpected result type {other:?} of an instant query"),
        }
    }

    /// A range query (`/api/v1/query_range`) from `start` to `end` (unix seconds).
    pub async fn query_range(&self, expr: &str, start: f64, end: f64, step: Duration) -> Vec<Series> {
        let params = [
            ("query", expr.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{}ms", step.as_millis())),
        ];
        let data = self.api("/api/v1/query_range", &params, expr).await;
        assert_eq!(data["resultType"], "matrix", "`{expr}`: a range query returns a matrix");
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let points = s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_f64().unwrap(), parse_value(&p[1], expr)))
                    .collect();
                (labels(&s["metric"]), points)
            })
            .collect()
    }

    /// The values of `label` over the series `selector` selects, as Grafana's
    /// `label_values(selector, label)` variable query lists them (`/api/v1/label/.../values`).
    pub async fn label_values(&self, selector: &str, label: &str) -> Vec<String> {
        let response = self
            .client
            .get(self.url(&format!("/api/v1/label/{label}/values")))
            .query(&[("match[]", selector)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("Prometheus did not answer label_values({selector}, {label}): {e}"));
        let body: Value = response.json().await.expect("label values as JSON");
        assert_eq!(body["status"], "success", "label_values({selector}, {label}): {body}");
        body["data"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    }

    /// Polls `expr` until `done` accepts its result; panics with the last result after `timeout`.
    pub async fn wait_for(
        &self,
        expr: &str,
        done: impl Fn(&[Sample]) -> bool,
        timeout: Duration,
    ) -> Vec<Sample> {
        let deadline = Instant::now() + timeout;
        loop {
            let result = self.query(expr).await;
            if done(&result) {
                return result;
            }
            if Instant::now() > deadline {
                panic!(
                    "`{expr}` did not reach the expected state within {timeout:?}; last result: {result:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The `data` of a successful API answer; panics with Prometheus' error otherwise (a PromQL
    /// syntax error is a test failure, not an empty result).
    pub async fn api(&self, path: &str, params: &[(&str, String)], expr: &str) -> Value {
        let response = self
            .client
            .post(self.url(path))
            .form(params)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Prometheus did not answer `{expr}`: {e}"));
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("`{expr}`: Prometheus answered {status} without JSON: {e}"));
        assert_eq!(
            body["status"], "success",
            "`{expr}` failed ({status}): {} {}",
            body["errorType"], body["error"]
        );
        body["data"].clone()
    }
}

fn labels(metric: &Value) -> Labels {
    metric
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

/// Prometheus sends values as strings ("1", "NaN", "+Inf").
fn parse_value(v: &Value, expr: &str) -> f64 {
    let s = v.as_str().unwrap_or_else(|| panic!("`{expr}`: value {v} is not a string"));
    s.parse().unwrap_or_else(|_| panic!("`{expr}`: value {s:?} is not a number"))
}

/// Its address, URLs and log.
impl std::ops::Deref for Prometheus {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}
