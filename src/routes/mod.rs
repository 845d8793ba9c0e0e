//! The exporter's HTTP surface: landing page, telemetry, health and readiness.

mod gzip;
mod landing;
mod state;

pub use state::AppState;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::metrics::Format;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(landing::page))
        .route(&state.telemetry_path.clone(), get(telemetry))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// The exposition, gzipped when the scraper accepts it (Prometheus always does) at the fastest
/// level: on exposition text it already shrinks the body about tenfold, at a fraction of the
/// default level's time (BENCHMARKS.md), and the scrape's latency is what the exporter is judged by.
async fn telemetry(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let snapshot = app.collector.scrape().await;
    let body = app.encoder.encode(&snapshot, format);
    let content_type = (header::CONTENT_TYPE, format.content_type());
    let vary = (header::VARY, "accept-encoding");
    let accepted = headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok());
    if gzip::accepts_gzip(accepted) {
        let gzipped = gzip::gzip(body.as_bytes());
        return ([content_type, vary, (header::CONTENT_ENCODING, "gzip")], gzipped).into_response();
    }
    ([content_type, vary], body).into_response()
}

/// Ready when the log store answered the last read: a replica that cannot read serves only
/// stale figures, so a load balancer should prefer another.
async fn readyz(State(app): State<AppState>) -> Response {
    match app.collector.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("log store unreachable: {e}\n")).into_response(),
    }
}
