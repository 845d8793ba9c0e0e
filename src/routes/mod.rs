//! The exporter's HTTP surface: landing page, telemetry, health and readiness.

mod landing;
mod state;

pub use state::AppState;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::compression::{CompressionLayer, CompressionLevel};

use crate::metrics::Format;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(landing::page))
        .route(&state.telemetry_path.clone(), get(telemetry).layer(gzip()))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// gzip when the scraper accepts it (Prometheus always does). The fastest level: on exposition
/// text it already shrinks the body about tenfold, at a fraction of the default level's time
/// (BENCHMARKS.md), and the scrape's latency is what the exporter is judged by.
fn gzip() -> CompressionLayer {
    CompressionLayer::new().gzip(true).no_br().no_deflate().no_zstd().quality(CompressionLevel::Fastest)
}

async fn telemetry(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let snapshot = app.collector.scrape().await;
    let body = app.encoder.encode(&snapshot, format);
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
