//! The exporter's HTTP surface: landing page, telemetry, health and readiness.

mod landing;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::collector::LogCollector;
use crate::metrics::{self, Format};

#[derive(Clone)]
pub struct AppState {
    pub collector: Arc<LogCollector>,
    pub telemetry_path: String,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(landing::page))
        .route(&state.telemetry_path.clone(), get(telemetry))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn telemetry(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let snapshot = app.collector.scrape().await;
    let body = metrics::encode(snapshot, format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

/// Ready when the log store answered the last read: a replica that cannot read serves only
/// stale figures, so a load balancer should prefer another.
async fn readyz(State(app): State<AppState>) -> Response {
    match app.collector.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("log store unreachable: {e}\n")).into_response(),
    }
}
