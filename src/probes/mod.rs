//! Active HTTP probes of the webhook endpoints: one background loop per target writes each
//! result into the [`HealthState`].
//!
//! A probe is healthy when an answer arrives within the timeout with an expected status. Every
//! probe opens a new connection (no pooling), so a dead listener cannot hide behind a kept-alive
//! connection, and redirects are reported rather than followed (Dynamics does not follow them).

pub mod config;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::task::JoinHandle;

pub use config::{ProbeArgs, ProbeFileEntry, ProbeTarget, StatusSet};

use crate::health::HealthState;
use crate::snapshot::ProbeResult;

/// The HTTP client the probes share.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("webhook-health-exporter/", env!("CARGO_PKG_VERSION"), " (probe)"))
        .build()
        .expect("the TLS backend initializes")
}

/// One probe. Only the status line and headers are awaited; the body is not read.
pub async fn probe(client: &reqwest::Client, target: &ProbeTarget) -> (ProbeResult, Option<String>) {
    let started = Instant::now();
    let answer =
        client.request(target.method.clone(), target.url.clone()).timeout(target.timeout).send().await;
    let duration_seconds = started.elapsed().as_secs_f64();
    match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            let success = target.expect.contains(status);
            let error = (!success).then(|| format!("unexpected HTTP status {status}"));
            (ProbeResult { success, duration_seconds, status_code: status }, error)
        }
        Err(e) => {
            let error = if e.is_timeout() {
                format!("no answer within {:?}", target.timeout)
            } else {
                // The source chain names the cause (connection refused, DNS, TLS).
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text = format!("{text}: {s}");
                    source = s.source();
                }
                text
            };
            (ProbeResult { success: false, duration_seconds, status_code: 0 }, Some(error))
        }
    }
}

/// Starts one loop per target; abort the handles to stop them.
pub fn spawn(targets: &[ProbeTarget], health: Arc<HealthState>) -> Vec<JoinHandle<()>> {
    let client = client();
    targets
        .iter()
        .map(|target| tokio::spawn(run(client.clone(), target.clone(), Arc::clone(&health))))
        .collect()
}

async fn run(client: reqwest::Client, target: ProbeTarget, health: Arc<HealthState>) {
    let component = target.component();
    let mut tick = tokio::time::interval(target.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_healthy = None;
    loop {
        tick.tick().await;
        let (result, error) = probe(&client, &target).await;
        let healthy = result.success;
        health.observe(&component, healthy, Utc::now(), Some(result));
        if was_healthy != Some(healthy) {
            match &error {
                Some(error) => tracing::warn!(%component, url = %target.url, %error, "endpoint probe failed"),
                None => tracing::info!(%component, url = %target.url, "endpoint probe succeeded"),
            }
            was_healthy = Some(healthy);
        }
    }
}
