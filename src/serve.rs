//! Runs the exporter: opens the store, binds, serves until SIGTERM or SIGINT.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::collector::LogCollector;
use crate::config::Settings;
use crate::failure_counters::{FailureCounters, StorePath};
use crate::health::{persist, HealthState};
use crate::probes;
use crate::store::{redact_url, ConnectOptions, Store};

/// Binds the listener first so that a port conflict fails fast, then serves until `shutdown`.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let connect = ConnectOptions {
        timeout: settings.store_timeout,
        queue: settings.sync_queue.clone(),
        unaccounted_horizon: settings.collector.unaccounted_horizon(),
        ..ConnectOptions::default()
    };
    let store = Store::open_lazy(&settings.database_url, &connect)?;
    if settings.migrate {
        store.migrate().await.context("--store.migrate")?;
    }
    let listener = TcpListener::bind(settings.listen_address)
        .await
        .with_context(|| format!("cannot listen on --web.listen-address {}", settings.listen_address))?;
    let addr = listener.local_addr()?;
    let health =
        HealthState::new(settings.probes.iter().map(|t| t.component()), settings.edge_recovery_window);
    let collector = LogCollector::with_health(store.clone(), settings.collector.clone(), health.clone());
    let failures = collector.failure_counters().clone();
    let mut background = probes::spawn(&settings.probes, health.clone());
    let persist_every =
        settings.probes.iter().map(|t| t.interval).min().unwrap_or(probes::config::DEFAULT_INTERVAL);
    background.push(tokio::spawn(persist::run(
        store.clone(),
        health.clone(),
        persist_every,
        failures.clone(),
    )));
    background.push(tokio::spawn(compact_totals(store.clone(), failures.clone())));
    // Warm up so that the first scrape does not pay for aggregating history.
    drop(collector.refresh());
    tracing::info!(
        %addr,
        store = %redact_url(&settings.database_url),
        telemetry_path = %settings.telemetry_path,
        probes = settings.probes.len(),
        "webhook-health-exporter listening"
    );
    crate::health::config::log_status(&settings.collector.edge_functions);
    crate::api::log_status(&settings.api);
    crate::ingest::log_status(&settings.ingest);
    let app = crate::app::app(&settings, collector);
    let served = crate::web::serve(listener, app, &settings.web, shutdown).await;
    for task in background {
        task.abort();
    }
    // Keep what the last probes saw; a store that is down must not hold up the exit.
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(3), persist::flush(&store, &health)).await {
        failures.store_error(StorePath::HealthPersist, &e, "at shutdown");
    }
    served?;
    tracing::info!("shut down");
    Ok(())
}

/// How often the event-totals rollup is folded: the insert trigger appends a row per writing
/// statement, and the exporter's start reads them all.
const COMPACT_EVERY: Duration = Duration::from_secs(600);

/// Folds the event-totals rollup now and then; a store that is down is retried next time.
async fn compact_totals(store: Store, failures: Arc<FailureCounters>) {
    loop {
        match store.compact_event_totals().await {
            Ok(rows) => tracing::debug!(rows, "event totals compacted"),
            Err(e) => failures.store_error(StorePath::CompactTotals, &e, ""),
        }
        tokio::time::sleep(COMPACT_EVERY).await;
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}
