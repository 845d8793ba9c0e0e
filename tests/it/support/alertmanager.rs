//! A real Alertmanager for tests: the `prometheus-alertmanager` binary (Debian package
//! `prometheus-alertmanager`, 0.25) on a free port, without clustering, notifying a
//! [`WebhookReceiver`] in the test of every alert, firing and resolved, within about a second.
//! Killed on drop.
//!
//! A missing binary FAILS the test with instructions (run scripts/install-test-deps.sh).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Json;
use serde_json::Value;

use super::server::Server;

const INSTALL_HINT: &str =
    "`prometheus-alertmanager` is needed for this test: run scripts/install-test-deps.sh \
                            (apt-get install prometheus-alertmanager)";

/// A running Alertmanager; killed on drop.
pub struct Alertmanager {
    server: Server,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts Alertmanager routing every alert, grouped by alertname, org and component, to
    /// `receiver`, and waits until it is ready (`/-/ready`).
    pub async fn start(receiver: &WebhookReceiver) -> Alertmanager {
        let dir = tempfile::tempdir().expect("a temporary folder for Alertmanager");
        let config_file = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config_file,
            format!(
                "route:\n  receiver: test\n  group_by: [alertname, org, component]\n  group_wait: 1s\n  \
                 group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    webhook_configs:\n      \
                 - url: {}\n        send_resolved: true\n",
                receiver.url()
            ),
        )
        .expect("writing alertmanager.yml");
        let server = Server::start("prometheus-alertmanager", INSTALL_HINT, dir.path(), |addr| {
            vec![
                format!("--config.file={}", config_file.display()),
                format!("--storage.path={}", dir.path().join("data").display()),
                format!("--web.listen-address={addr}"),
                // No cluster: one instance, and no second port to find free.
                "--cluster.listen-address=".to_string(),
            ]
        })
        .await;
        Alertmanager { server, _dir: dir }
    }
}

/// One alert as Alertmanager delivered it, with when it arrived.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub at: Instant,
    pub status: String,
    pub labels: Value,
    pub annotations: Value,
}

impl Delivered {
    pub fn label(&self, name: &str) -> &str {
        self.labels[name].as_str().unwrap_or("")
    }
}

/// The webhook receiver Alertmanager notifies: keeps every alert delivered to it.
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    inbox: Arc<Mutex<Vec<Delivered>>>,
}

impl WebhookReceiver {
    /// Serves `POST /alerts` on a free port in the test's runtime.
    pub async fn start() -> WebhookReceiver {
        let inbox: Arc<Mutex<Vec<Delivered>>> = Arc::default();
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the receiver");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        WebhookReceiver { addr, inbox }
    }

    pub fn url(&self) -> String {
        format!("http://{}/alerts", self.addr)
    }

    /// Every alert delivered so far, in order of arrival.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.inbox.lock().unwrap().clone()
    }

    /// Waits for a delivered alert matching `pred`; after `timeout`, an error naming `what` and
    /// listing what was delivered.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Delivered) -> bool,
    ) -> Result<Delivered, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(d) = self.inbox.lock().unwrap().iter().find(|d| pred(d)) {
                return Ok(d.clone());
            }
            if Instant::now() > deadline {
                let got: Vec<String> = self
                    .delivered()
                    .iter()
                    .map(|d| format!("{} {} {}", d.status, d.label("alertname"), d.labels))
                    .collect();
                return Err(format!("no {what} within {timeout:?}; delivered: {got:#?}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Its address, URLs and log.
impl std::ops::Deref for Alertmanager {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}
