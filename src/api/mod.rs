//! The authenticated reprocessing API under `/api/v1`: list recent error events and re-enqueue
//! them for the portal sync service. Disabled (404) unless a token hash or a JWT key is configured.

mod body;
pub mod client;
pub mod config;
mod events;
mod filter;
mod guard;
mod openapi;
mod reprocess;
mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::Router;

// Where they lived before `access/` existed; `api::auth::token_sha256` is what operators' and
// tests' code calls.
pub use crate::access::{auth, tokens, ApiError};
pub use crate::reprocess_counters::{ReprocessCounters, RequestResult};
pub use config::{ApiArgs, ApiFileConfig, ApiSettings, Limits};
pub use guard::Admin;
pub use state::{ApiState, UnaccountedEvents};

use crate::access::auth::Authenticator;
use crate::access::no_store;
use crate::failure_counters::FailureCounters;
use crate::store::Store;
pub use state::{EVENTS_ROUTE, OPENAPI_ROUTE, REPROCESS_ROUTE};

/// The `/api` routes: the API when enabled, a JSON 404 otherwise.
pub fn router(
    settings: &ApiSettings,
    store: Store,
    counters: Arc<ReprocessCounters>,
    failures: Arc<FailureCounters>,
    unaccounted: UnaccountedEvents,
) -> Router {
    if !settings.enabled() {
        return Router::new().route("/api", any(disabled)).route("/api/{*rest}", any(disabled));
    }
    // Every route but the OpenAPI document takes `Admin`, which counts its refusals.
    for route in [EVENTS_ROUTE, REPROCESS_ROUTE] {
        counters.declare_route(route);
    }
    let state = ApiState {
        store,
        auth: Arc::new(Authenticator::new(
            settings.tokens.clone(),
            settings.jwt.clone(),
            &settings.role_claim,
            &settings.admin_role,
        )),
        limits: settings.limits,
        counters,
        failures,
        openapi: Arc::new(openapi::document(&settings.limits)),
        unaccounted,
    };
    Router::new()
        .route(OPENAPI_ROUTE, get(openapi::serve))
        .route(EVENTS_ROUTE, get(events::list))
        .route(REPROCESS_ROUTE, post(reprocess::create))
        .route("/api", any(not_found))
        .route("/api/{*rest}", any(not_found))
        .with_state(state)
        .layer(axum::middleware::map_response(no_store))
}

/// Says at start whether the API is on, and how callers authenticate.
pub fn log_status(settings: &ApiSettings) {
    if settings.enabled() {
        tracing::info!(
            tokens = settings.tokens.len(),
            jwt = settings.jwt.as_ref().map(|j| j.describe()).unwrap_or_else(|| "off".into()),
            admin_role = %settings.admin_role,
            max_batch = settings.limits.max_batch,
            "reprocessing API enabled under /api/v1"
        );
    } else {
        tracing::info!(
            "reprocessing API disabled (answers 404): configure --api.token-sha256 or a JWT key to enable it"
        );
    }
}

async fn disabled() -> impl IntoResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "api_disabled",
        "the reprocessing API is disabled on this exporter: no API token or JWT key is configured",
    )
}

async fn not_found() -> impl IntoResponse {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API endpoint; see /api/v1/openapi.json")
}
