//! The landing page exporters conventionally serve at `/`.

use axum::extract::State;
use axum::response::Html;

use super::state::AppState;

pub async fn page(State(app): State<AppState>) -> Html<String> {
    let path = &app.telemetry_path;
    let version = env!("CARGO_PKG_VERSION");
    let windows: Vec<&str> = app.collector.windows().iter().map(|w| &*w.label).collect();
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Webhook Health Exporter</title></head>\n\
         <body><h1>Webhook Health Exporter</h1>\n<p>Version {version}. Store backend: {backend}. Windows: {windows}.</p>\n\
         <ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"/healthz\">Health</a></li>\
         <li><a href=\"/readyz\">Readiness</a></li><li><a href=\"/admin\">Reprocess failed events</a> \
         (admin page)</li><li><a href=\"/api/v1/openapi.json\">Reprocessing API (OpenAPI)</a></li></ul>\n\
         </body></html>\n",
        backend = app.collector.store().backend().as_str(),
        windows = windows.join(", "),
    ))
}
