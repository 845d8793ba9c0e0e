//! Lifecycle ingestion: Edge Function lifecycle events (boots, boot failures, uncaught
//! exceptions, shutdowns with their reason) posted by the platform, written into
//! `edge_function_events` through the store, idempotent on the source's event id.
//!
//! Two routes, each with its own credential (`--ingest.token-sha256[-file]`, never the API's):
//! `POST /api/v1/lifecycle/edge-runtime` for a self-hosted edge runtime's event worker
//! (`runtime.rs`), `POST /api/v1/lifecycle/log-drain` for a Supabase log drain (`drain.rs`).
//! Disabled (404) unless an ingestion token is configured. See docs/api.md.

mod body;
pub mod config;
mod drain;
mod fields;
mod handler;
mod parsed;
mod runtime;
mod state;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::{any, post};
use axum::Router;

pub use config::{IngestArgs, IngestFileConfig, IngestSettings, INGEST_ROLE};
pub use parsed::Parsed;
pub use state::IngestState;

use crate::access::auth::Authenticator;
use crate::access::{no_store, ApiError};
use crate::failure_counters::FailureCounters;
use crate::lifecycle_counters::LifecycleCounters;
use crate::reprocess_counters::ReprocessCounters;
use crate::store::Store;

pub const EDGE_RUNTIME_ROUTE: &str = "/api/v1/lifecycle/edge-runtime";
pub const LOG_DRAIN_ROUTE: &str = "/api/v1/lifecycle/log-drain";

/// The two ingestion routes: working when an ingestion token is configured, a JSON 404 otherwise.
pub fn router(
    settings: &IngestSettings,
    store: Store,
    refusals: Arc<ReprocessCounters>,
    counters: Arc<LifecycleCounters>,
    failures: Arc<FailureCounters>,
) -> Router {
    if !settings.enabled() {
        return Router::new().route(EDGE_RUNTIME_ROUTE, any(disabled)).route(LOG_DRAIN_ROUTE, any(disabled));
    }
    for route in [EDGE_RUNTIME_ROUTE, LOG_DRAIN_ROUTE] {
        refusals.declare_route(route);
    }
    counters.enable();
    let state = IngestState {
        store,
        auth: Arc::new(Authenticator::tokens_only(settings.tokens.clone(), INGEST_ROLE)),
        limits: settings.limits,
        refusals,
        counters,
        failures,
    };
    Router::new()
        .route(EDGE_RUNTIME_ROUTE, post(handler::edge_runtime))
        .route(LOG_DRAIN_ROUTE, post(handler::log_drain))
        .with_state(state)
        .layer(axum::middleware::map_response(no_store))
}

/// Says at start whether ingestion is on.
pub fn log_status(settings: &IngestSettings) {
    if settings.enabled() {
        tracing::info!(
            tokens = settings.tokens.len(),
            max_body_bytes = settings.limits.max_body_bytes,
            max_decompressed_bytes = settings.limits.max_decompressed_bytes,
            "lifecycle ingestion enabled: POST {EDGE_RUNTIME_ROUTE}, POST {LOG_DRAIN_ROUTE}"
        );
    } else {
        tracing::info!(
            "lifecycle ingestion disabled (answers 404): configure --ingest.token-sha256-file to enable it"
        );
    }
}

async fn disabled() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ingest_disabled",
        "lifecycle ingestion is disabled on this exporter: no ingestion token is configured \
         (--ingest.token-sha256 or --ingest.token-sha256-file)",
    )
}
