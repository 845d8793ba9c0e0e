//! The whole application `serve` runs (`app::app`), in process through tower's `oneshot`: every
//! route of `app::routes` answers as it should, with the layers `serve` puts around them (web
//! protection of the telemetry path, no-store on the API and ingestion), on a real SQLite store.
//! The route list is held to the routers' source, the landing page's links and the OpenAPI
//! document, so a route added anywhere and not listed fails here.

use std::collections::BTreeSet;
use std::path::Path;

use axum::http::StatusCode;
use serde_json::{json, Value};
use webhook_health_exporter::api::auth::token_sha256;
use webhook_health_exporter::app::{routes, Route};

use crate::api_support::{token_flags, ADMIN_TOKEN};
use crate::ingest_support::{ingest_flags, INGEST_TOKEN};
use crate::support;
use crate::support::in_process::{self, call, request, Answer};

const TELEMETRY: &str = "/custom-metrics";
const SCRAPE_TOKEN: &str = "scrape-token-for-tests-0123456789";

/// `/api/{*rest}` as a path to call.
fn concrete(path: &str) -> String {
    path.replace("{*rest}", "v1/no-such-endpoint")
}

/// Calls `route` as a legitimate caller would, and checks the answer is its handler's.
async fn drive(app: &axum::Router, route: &Route) -> Answer {
    let path = concrete(&route.path);
    let method = if route.method == "ANY" { "DELETE" } else { route.method };
    let (token, body) = match (route.method, path.as_str()) {
        (_, TELEMETRY) => (Some(SCRAPE_TOKEN), None),
        ("GET", "/api/v1/events") => (Some(ADMIN_TOKEN), None),
        ("POST", "/api/v1/reprocess") => (
            Some(ADMIN_TOKEN),
            Some(json!({"event_ids": [uuid::Uuid::new_v4().to_string()], "dry_run": true})),
        ),
        ("POST", "/api/v1/lifecycle/edge-runtime") => (Some(INGEST_TOKEN), Some(json!({"events": []}))),
        ("POST", "/api/v1/lifecycle/log-drain") => (Some(INGEST_TOKEN), Some(json!([]))),
        ("GET", "/" | "/healthz" | "/readyz" | "/admin" | "/admin/app.js" | "/admin/app.css")
        | ("GET", "/api/v1/openapi.json")
        | ("ANY", _) => (None, None),
        _ => panic!("{route:?} is new: say here how to call it"),
    };
    let answer = call(app, request(method, &path, token, body.as_ref())).await;
    let want = if route.method == "ANY" { StatusCode::NOT_FOUND } else { StatusCode::OK };
    assert_eq!(answer.status, want, "{route:?}: {}", answer.text);
    if path.starts_with("/api") {
        assert_eq!(answer.header("cache-control"), Some("no-store"), "{route:?}");
        let body: Value = serde_json::from_str(&answer.text).unwrap_or_else(|_| panic!("{route:?}: JSON"));
        if route.method == "ANY" {
            assert_eq!(body["error"]["code"], "not_found", "{route:?}: the API's own 404");
        }
    }
    answer
}

#[tokio::test]
async fn every_route_of_the_app_answers_through_its_layers() {
    let (url, store, _dir) = support::fresh_sqlite().await;
    let scrape_hash = hex::encode(token_sha256(SCRAPE_TOKEN));
    let mut flags = vec!["--web.telemetry-path", TELEMETRY, "--web.bearer-token-sha256", &scrape_hash];
    let (api, ingest) = (token_flags(), ingest_flags());
    flags.extend(api.iter().chain(&ingest).map(String::as_str));
    let (app, _collector) = in_process::app(&in_process::settings(&url, &flags), store);

    let table = routes(TELEMETRY);
    for route in &table {
        let answer = drive(&app, route).await;
        match route.path.as_str() {
            TELEMETRY => assert!(answer.text.contains("webhook_store_up 1"), "{}", answer.text),
            "/admin" => assert!(answer.header("content-security-policy").is_some()),
            "/api/v1/lifecycle/edge-runtime" | "/api/v1/lifecycle/log-drain" => {
                assert_eq!(answer.text, r#"{"inserted":0,"duplicates":0,"ignored":0}"#)
            }
            _ => {}
        }
    }
    // The layers: the telemetry path wants its token, the API and ingestion theirs.
    for (path, method) in
        [(TELEMETRY, "GET"), ("/api/v1/events", "GET"), ("/api/v1/lifecycle/log-drain", "POST")]
    {
        let refused = call(&app, request(method, path, None, None)).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path} without a credential");
    }
    assert_eq!(call(&app, request("GET", "/metrics", None, None)).await.status, StatusCode::NOT_FOUND);

    // The table is complete: it holds every route of the routers' source, every link of the
    // landing page and every path of the OpenAPI document.
    let listed: BTreeSet<String> = table.iter().map(|r| r.path.clone()).collect();
    assert_eq!(source_routes(TELEMETRY), listed, "app::routes() against the .route(..) calls in src/");
    let landing = call(&app, request("GET", "/", None, None)).await.text;
    for link in landing.split("href=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]) {
        assert!(listed.contains(link), "the landing page links {link}, which app::routes() lacks");
    }
    let openapi: Value =
        serde_json::from_str(&call(&app, request("GET", "/api/v1/openapi.json", None, None)).await.text)
            .unwrap();
    let servers = openapi["servers"][0]["url"].as_str().unwrap_or("");
    for path in openapi["paths"].as_object().unwrap().keys() {
        let full = if path.starts_with("/api") { path.clone() } else { format!("{servers}{path}") };
        assert!(listed.contains(&full), "the OpenAPI document has {full}, which app::routes() lacks");
    }
}

/// The path of every `.route(PATH, ..)` call in src/: string literals, `&str` constants, and the
/// configured telemetry path.
fn source_routes(telemetry: &str) -> BTreeSet<String> {
    let mut texts = Vec::new();
    read_sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut texts);
    let all = texts.concat();
    let constant = |name: &str| {
        let at = all.find(&format!("const {name}: &str = \"")).unwrap_or_else(|| panic!("no const {name}"));
        let rest = &all[at..];
        let start = rest.find('"').unwrap() + 1;
        rest[start..start + rest[start..].find('"').unwrap()].to_string()
    };
    let mut found = BTreeSet::new();
    for text in &texts {
        let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap();
        for call in text.split(".route(").skip(1) {
            let arg = call[..call.find(',').unwrap()].trim();
            let path = if let Some(literal) = arg.strip_prefix('"') {
                literal.trim_end_matches('"').to_string()
            } else if arg.contains("telemetry_path") {
                telemetry.to_string()
            } else if arg.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                constant(arg)
            } else {
                panic!("a route path this test cannot read: {arg}")
            };
            found.insert(path);
        }
    }
    found
}

fn read_sources(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("api/tests.rs") {
            out.push(std::fs::read_to_string(&path).unwrap());
        }
    }
}
