//! The whole HTTP application the exporter serves, built in one place: the landing page,
//! telemetry, health and readiness (`routes`), the reprocessing API (`api`), lifecycle ingestion
//! (`ingest`) and the admin page (`admin`), merged and wrapped in the web protection and response
//! headers (`web::protect`). `serve` runs it on a socket; the tests drive the same value in
//! process with tower's `oneshot`, so what they check is what the binary serves.

use std::sync::Arc;

use axum::Router;

use crate::collector::LogCollector;
use crate::config::Settings;
use crate::routes::AppState;

/// The application for `settings`, reading through `collector` (which carries the store and the
/// counters the handlers report into).
pub fn app(settings: &Settings, collector: Arc<LogCollector>) -> Router {
    let store = collector.store().clone();
    let unaccounted = {
        let collector = Arc::clone(&collector);
        Arc::new(move || {
            let collector = Arc::clone(&collector);
            Box::pin(async move { collector.unaccounted_events().await })
                as futures::future::BoxFuture<'static, _>
        })
    };
    let api = crate::api::router(
        &settings.api,
        store.clone(),
        collector.reprocess_counters().clone(),
        collector.failure_counters().clone(),
        unaccounted,
    );
    let ingest = crate::ingest::router(
        &settings.ingest,
        store,
        collector.reprocess_counters().clone(),
        collector.lifecycle_counters().clone(),
        collector.failure_counters().clone(),
    );
    let app = crate::routes::router(AppState {
        collector,
        encoder: Default::default(),
        telemetry_path: settings.telemetry_path.clone(),
    })
    .merge(api)
    .merge(ingest)
    .merge(crate::admin::router());
    crate::web::protect(
        app,
        &settings.telemetry_path,
        settings.web.telemetry_auth.clone(),
        settings.web.headers.clone(),
    )
}

/// One route of the application: the method it answers (`ANY` for every method) and its path
/// pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: String,
}

/// Every route [`app`] serves, with the API and ingestion enabled (disabled, their paths answer
/// a JSON 404 to every method). The in-process test `http_app` drives each one and holds this
/// list to the routers' source, so a route added there and not here fails the test.
pub fn routes(telemetry_path: &str) -> Vec<Route> {
    use crate::{api, ingest};
    [
        ("GET", "/"),
        ("GET", telemetry_path),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/admin"),
        ("GET", "/admin/app.js"),
        ("GET", "/admin/app.css"),
        ("GET", api::OPENAPI_ROUTE),
        ("GET", api::EVENTS_ROUTE),
        ("POST", api::REPROCESS_ROUTE),
        ("ANY", "/api"),
        ("ANY", "/api/{*rest}"),
        ("POST", ingest::EDGE_RUNTIME_ROUTE),
        ("POST", ingest::LOG_DRAIN_ROUTE),
    ]
    .into_iter()
    .map(|(method, path)| Route { method, path: path.to_string() })
    .collect()
}
