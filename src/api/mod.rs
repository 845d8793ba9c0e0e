//! The authenticated reprocessing API under `/api/v1`: list recent error events and re-enqueue
//! them for the portal sync service. Disabled (404) unless a token hash or a JWT key is configured.

pub mod auth;
mod body;
pub mod client;
pub mod config;
pub(crate) mod errors;
mod events;
mod filter;
pub(crate) mod guard;
mod openapi;
mod reprocess;
#[cfg(test)]
mod tests;
pub mod tokens;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::Router;

pub use crate::reprocess_counters::{ReprocessCounters, RequestResult};
pub use config::{ApiArgs, ApiFileConfig, ApiSettings, Limits};
pub use errors::ApiError;

use auth::Authenticator;
pub use guard::Admin;

use crate::store::Store;

const EVENTS_ROUTE: &str = "/api/v1/events";
const REPROCESS_ROUTE: &str = "/api/v1/reprocess";

#[derive(Clone)]
pub struct ApiState {
    store: Store,
    auth: Arc<Authenticator>,
    limits: Limits,
    counters: Arc<ReprocessCounters>,
    openapi: Arc<String>,
}

/// The `/api` routes: the API when enabled, a JSON 404 otherwise.
pub fn router(settings: &ApiSettings, store: Store, counters: Arc<ReprocessCounters>) -> Router {
    if !settings.enabled() {
        return Router::new().route("/api", any(disabled)).route("/api/{*rest}", any(disabled));
    }
    // Every route but the OpenAPI document takes `Admin`, which counts its refusals.
    for route in [EVENTS_ROUTE, REPROCESS_ROUTE] {
        counters.declare_route(route);
    }
    let state = ApiState {
        store,
        auth: Arc::new(Authenticator::new(settings)),
        limits: settings.limits,
        counters,
        openapi: Arc::new(openapi::document(&settings.limits)),
    };
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route(EVENTS_ROUTE, get(events::list))
        .route(REPROCESS_ROUTE, post(reprocess::create))
        .route("/api", any(not_found))
        .route("/api/{*rest}", any(not_found))
        .with_state(state)
        .layer(axum::middleware::map_response(no_store))
}

/// API answers carry event data and request results: no cache may keep them, and no browser may
/// sniff them into something other than the declared JSON.
pub(crate) async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    headers
        .insert(axum::http::header::X_CONTENT_TYPE_OPTIONS, axum::http::HeaderValue::from_static("nosniff"));
    response
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
