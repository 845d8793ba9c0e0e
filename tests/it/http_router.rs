//! The HTTP surface of `routes::router` in process, through tower's `oneshot` (no binary, no
//! socket): landing page, telemetry in both exposition formats, health, readiness with a store
//! and without one, unknown paths. Milliseconds per test; `http_surface` covers the same surface
//! through the real binary, and `http_app` the whole merged application (`app::app`) in process.

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use tower::ServiceExt;
use webhook_health_exporter::collector::{CollectorConfig, LogCollector};
use webhook_health_exporter::routes::{router, AppState};
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::store::{ConnectOptions, Store};

use crate::support;

/// The router as `serve` builds it (without the API, admin page and web protection).
fn app(store: Store, telemetry_path: &str) -> Router {
    let collector = LogCollector::new(store, CollectorConfig::default());
    router(AppState { collector, encoder: Default::default(), telemetry_path: telemetry_path.to_string() })
}

/// A migrated SQLite store in a temporary folder with a little simulated traffic.
async fn sqlite_with_traffic() -> (Store, tempfile::TempDir) {
    let (_url, store, dir) = support::fresh_sqlite().await;
    let sim = SimConfig { seed: 7, orgs: 3, events: 300, days: 1.0, end: Utc::now(), ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();
    (store, dir)
}

/// A PostgreSQL store on a local port where nothing listens, opened lazily (so opening succeeds)
/// with short limits (so the failing reads fail fast).
fn unreachable_store() -> Store {
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", support::free_port());
    let opts = ConnectOptions {
        acquire_timeout: Duration::from_millis(500),
        timeout: Duration::from_secs(1),
        ..ConnectOptions::default()
    };
    Store::open_lazy(&url, &opts).expect("a lazily opened pool does not connect")
}

struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    text: String,
}

async fn get(app: Router, path: &str, accept: Option<&str>) -> Answer {
    let mut request = Request::get(path);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Answer { status, content_type, text: String::from_utf8(bytes.to_vec()).unwrap() }
}

#[tokio::test]
async fn landing_page_links_the_telemetry_path() {
    let (store, _dir) = sqlite_with_traffic().await;
    let app = app(store, "/custom-metrics");
    let landing = get(app.clone(), "/", None).await;
    assert_eq!(landing.status, StatusCode::OK);
    assert!(landing.content_type.unwrap().starts_with("text/html"));
    assert!(landing.text.contains("Webhook Health Exporter"), "{}", landing.text);
    assert!(landing.text.contains("href=\"/custom-metrics\""), "{}", landing.text);
    assert!(landing.text.contains(env!("CARGO_PKG_VERSION")), "{}", landing.text);
    assert_eq!(get(app.clone(), "/custom-metrics", None).await.status, StatusCode::OK);
    assert_eq!(get(app, "/metrics", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_are_text_0_0_4_by_default() {
    let (store, _dir) = sqlite_with_traffic().await;
    let app = app(store, "/metrics");
    for accept in [None, Some("text/plain"), Some("*/*")] {
        let text = get(app.clone(), "/metrics", accept).await;
        assert_eq!(text.status, StatusCode::OK, "Accept {accept:?}");
        let content_type = text.content_type.as_deref();
        assert_eq!(content_type, Some("text/plain; version=0.0.4; charset=utf-8"), "Accept {accept:?}");
        assert!(text.text.contains("# TYPE webhook_payloads_received_total counter"), "{}", text.text);
        assert!(!text.text.contains("# EOF"), "text 0.0.4 has no EOF marker:\n{}", text.text);
        assert_eq!(support::metric(&text.text, "webhook_store_up"), Some(1.0), "{}", text.text);
    }
}

#[tokio::test]
async fn metrics_are_openmetrics_when_the_scraper_asks() {
    let (store, _dir) = sqlite_with_traffic().await;
    let app = app(store, "/metrics");
    for accept in
        ["application/openmetrics-text", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"]
    {
        let om = get(app.clone(), "/metrics", Some(accept)).await;
        assert_eq!(om.status, StatusCode::OK, "Accept {accept}");
        let content_type = om.content_type.as_deref();
        assert_eq!(
            content_type,
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            "Accept {accept}"
        );
        assert!(om.text.contains("# TYPE webhook_payloads_received counter"), "{}", om.text);
        assert!(om.text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF:\n{}", om.text);
        assert_eq!(om.text.matches("# EOF").count(), 1, "{}", om.text);
    }
}

#[tokio::test]
async fn healthz_and_readyz_answer_200_with_a_store() {
    let (_url, store, _dir) = support::fresh_sqlite().await;
    let app = app(store, "/metrics");
    let health = get(app.clone(), "/healthz", None).await;
    assert_eq!((health.status, health.text.as_str()), (StatusCode::OK, "ok\n"));
    let ready = get(app, "/readyz", None).await;
    assert_eq!((ready.status, ready.text.as_str()), (StatusCode::OK, "ready\n"));
}

#[tokio::test]
async fn readyz_answers_503_when_the_store_is_unreachable() {
    let app = app(unreachable_store(), "/metrics");
    // Alive all the same: only readiness depends on the store.
    assert_eq!(get(app.clone(), "/healthz", None).await.status, StatusCode::OK);
    let ready = get(app.clone(), "/readyz", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.text);
    assert!(ready.text.starts_with("log store unreachable"), "{}", ready.text);
    // The telemetry still answers, reporting the store down.
    let text = get(app, "/metrics", None).await;
    assert_eq!(text.status, StatusCode::OK);
    assert_eq!(support::metric(&text.text, "webhook_store_up"), Some(0.0), "{}", text.text);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let (_url, store, _dir) = support::fresh_sqlite().await;
    let app = app(store, "/metrics");
    for path in ["/nope", "/metrics/extra", "/healthz/", "/index.html"] {
        assert_eq!(get(app.clone(), path, None).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// Prometheus always sends `Accept-Encoding: gzip`: it gets the same exposition, gzip-encoded;
/// a scraper that does not ask gets it plain.
#[tokio::test]
async fn metrics_are_gzipped_for_scrapers_that_accept_it() {
    use std::io::Read;
    let (store, _dir) = sqlite_with_traffic().await;
    let app = app(store, "/metrics");
    let request = Request::get("/metrics")
        .header(header::ACCEPT_ENCODING, "gzip")
        .header(header::ACCEPT, "application/openmetrics-text; version=1.0.0")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap()), Some("gzip"));
    let gzipped = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gzipped[..]).read_to_string(&mut text).expect("a valid gzip stream");
    assert!(text.contains("webhook_payloads_received_total{org="), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(gzipped.len() * 2 < text.len(), "{} bytes gzipped of {}", gzipped.len(), text.len());

    let plain = get(app, "/metrics", None).await;
    assert!(plain.text.contains("webhook_payloads_received_total{org="), "not encoded when not asked");
}
