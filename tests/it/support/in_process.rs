//! The exporter's whole application in process: [`app::app`] built from real flags, driven with
//! tower's `oneshot` (no binary, no socket).

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use clap::Parser;
use tower::ServiceExt;
use webhook_health_exporter::app;
use webhook_health_exporter::collector::LogCollector;
use webhook_health_exporter::config::{ServeArgs, Settings};
use webhook_health_exporter::store::Store;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// Settings as `serve` resolves them from `--database-url URL` and `flags`.
pub fn settings(url: &str, flags: &[&str]) -> Settings {
    let args = ["serve", "--database-url", url].into_iter().chain(flags.iter().copied());
    let cli = Cli::try_parse_from(args).expect("valid flags");
    Settings::resolve(&cli.serve).expect("valid settings")
}

/// The application `serve` would run for `settings`, reading `store`, and its collector.
pub fn app(settings: &Settings, store: Store) -> (Router, Arc<LogCollector>) {
    let collector = LogCollector::new(store, settings.collector.clone());
    (app::app(settings, collector.clone()), collector)
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

pub async fn call(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Answer { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
}

/// `method path` with a bearer token when given and a JSON body when given.
pub fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<&serde_json::Value>,
) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        r = r.header("authorization", format!("Bearer {token}"));
    }
    match json {
        Some(v) => r.header("content-type", "application/json").body(Body::from(v.to_string())).unwrap(),
        None => r.body(Body::empty()).unwrap(),
    }
}
