//! Keeps the last-healthy times in the log store's `component_health` table.
//!
//! Writes are throttled to one round per `every` (the shortest probe interval), except right
//! after a component goes down, so the last healthy moment before an outage is stored exactly.
//! The store may be down: each failed round is logged and counted
//! (`webhook_exporter_store_errors_total{path="health_persist"}`) and retried on the next one,
//! and nothing here ever waits on the probes or blocks them.

use std::sync::Arc;
use std::time::Duration;

use super::state::HealthState;
use crate::failure_counters::{FailureCounters, StorePath};
use crate::store::{Store, StoreError};

/// Reads the stored times into `state`.
pub async fn load(store: &Store, state: &HealthState) -> Result<(), StoreError> {
    let rows = store.component_health().await?;
    state.merge_persisted(rows);
    Ok(())
}

/// Writes every time newer than the stored one. Stops at the first failure.
pub async fn flush(store: &Store, state: &HealthState) -> Result<(), StoreError> {
    for (component, at) in state.unpersisted() {
        store.record_healthy(&component, at).await?;
        state.mark_persisted(&component, at);
    }
    Ok(())
}

/// Loads the stored times (retrying until the store answers), then flushes every `every` and
/// whenever a component goes down. Runs until aborted.
pub async fn run(store: Store, state: Arc<HealthState>, every: Duration, failures: Arc<FailureCounters>) {
    let mut loaded = false;
    let mut store_ok = true;
    loop {
        let result = async {
            if !loaded {
                load(&store, &state).await?;
                loaded = true;
            }
            flush(&store, &state).await
        }
        .await;
        match result {
            Ok(()) if !store_ok => {
                tracing::info!("last-healthy times are written to the log store again");
                store_ok = true;
            }
            Ok(()) => {}
            Err(e) => {
                failures.store_error(StorePath::HealthPersist, &e, "");
                store_ok = false;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = state.went_down() => {}
        }
    }
}
