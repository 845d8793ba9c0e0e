//! The router in process, without a server: who gets past the guard, and what a refusal leaves
//! behind (an answer, a count, no audit row).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

use super::config::TokenEntry;
use super::{router, ApiSettings, ReprocessCounters};
use crate::access::auth::token_sha256;
use crate::store::{ConnectOptions, Store};

/// No collector behind these routers: no event is unaccounted for.
fn none_unaccounted() -> super::UnaccountedEvents {
    std::sync::Arc::new(|| Box::pin(async { Vec::new() }) as futures::future::BoxFuture<'static, _>)
}

const ADMIN_TOKEN: &str = "admin-token-0123456789";
const VIEWER_TOKEN: &str = "viewer-token-0123456789";

struct Api {
    app: Router,
    counters: Arc<ReprocessCounters>,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db", dir.path().display());
    let store = Store::open_and_migrate(&url, &ConnectOptions::default()).await.unwrap();
    let token = |principal: &str, role: &str, token: &str| TokenEntry {
        principal: principal.into(),
        role: role.into(),
        sha256: token_sha256(token),
    };
    let settings = ApiSettings {
        tokens: vec![token("ops", "global_admin", ADMIN_TOKEN), token("viewer", "viewer", VIEWER_TOKEN)],
        ..ApiSettings::default()
    };
    let counters = Arc::new(ReprocessCounters::default());
    Api {
        app: router(&settings, store.clone(), counters.clone(), Default::default(), none_unaccounted()),
        counters,
        store,
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn call(app: &Router, method: &Method, path: &str, authorization: Option<&str>) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    // A body the reprocess route accepts, so that only the credential decides the answer.
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"event_ids": ["5f0c3c3e-6c2b-4d2a-9a59-8f1f0c6f1a11"]}"#))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    Answer { status: parts.status, headers: parts.headers, body }
}

/// Every operation of the OpenAPI document under the API's own security (`bearerAuth`, the
/// default): the document lists each endpoint, so a new one is checked here without this test
/// being edited.
fn secured_operations() -> Vec<(Method, String)> {
    let doc: serde_json::Value = serde_json::from_str(super::openapi::TEMPLATE).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            // Waived (the document itself), or the ingestion routes' own scheme (not this router's).
            if operation.get("security").is_some_and(|s| s != &serde_json::json!([{"bearerAuth": []}])) {
                continue;
            }
            out.push((method.to_uppercase().parse().unwrap(), path.clone()));
        }
    }
    out
}

async fn audit_rows(store: &Store) -> i64 {
    let Store::Sqlite(s) = store else { unreachable!("the tests use SQLite") };
    sqlx::query_scalar("SELECT count(*) FROM reprocess_requests").fetch_one(s.pool()).await.unwrap()
}

#[tokio::test]
async fn every_route_but_the_openapi_document_requires_an_admin() {
    let api = api().await;
    let operations = secured_operations();
    assert_eq!(operations.len(), 2, "{operations:?}");
    for (method, path) in &operations {
        let missing = call(&api.app, method, path, None).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(missing.headers[header::WWW_AUTHENTICATE], "Bearer realm=\"webhook-health-exporter\"");
        let viewer = call(&api.app, method, path, Some(&format!("Bearer {VIEWER_TOKEN}"))).await;
        assert_eq!(viewer.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert!(!viewer.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    assert_eq!(audit_rows(&api.store).await, 0, "refusals leave no audit row");
    for (method, path) in &operations {
        let admin = call(&api.app, method, path, Some(&format!("Bearer {ADMIN_TOKEN}"))).await;
        assert_eq!(admin.status, StatusCode::OK, "{method} {path}: {:?}", admin.body);
    }
    let doc = call(&api.app, &Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
}

#[tokio::test]
async fn refusals_are_counted_on_every_route() {
    let api = api().await;
    let stats = api.counters.stats();
    assert!(stats.refused.iter().all(|(_, _, n)| *n == 0));
    assert_eq!(stats.refused.len(), 4, "both routes are exported from the start: {:?}", stats.refused);

    let viewer = format!("Bearer {VIEWER_TOKEN}");
    call(&api.app, &Method::GET, "/api/v1/events", None).await;
    call(&api.app, &Method::GET, "/api/v1/events", Some("Bearer wrong")).await;
    call(&api.app, &Method::GET, "/api/v1/events", Some(&viewer)).await;
    call(&api.app, &Method::POST, "/api/v1/reprocess", None).await;
    call(&api.app, &Method::POST, "/api/v1/reprocess", Some(&viewer)).await;
    call(&api.app, &Method::POST, "/api/v1/reprocess", Some(&viewer)).await;

    let stats = api.counters.stats();
    let refused = |route: &str, reason: &str| {
        stats.refused.iter().find(|(r, s, _)| r == route && *s == reason).map(|(_, _, n)| *n)
    };
    assert_eq!(refused("/api/v1/events", "unauthorized"), Some(2));
    assert_eq!(refused("/api/v1/events", "forbidden"), Some(1));
    assert_eq!(refused("/api/v1/reprocess", "unauthorized"), Some(1));
    assert_eq!(refused("/api/v1/reprocess", "forbidden"), Some(2));
    // webhook_reprocess_requests_total keeps counting the reprocess route only, as before.
    let requests = |result: &str| stats.requests.iter().find(|(r, _)| *r == result).map(|(_, n)| *n);
    assert_eq!((requests("unauthorized"), requests("forbidden")), (Some(1), Some(2)));
}

#[tokio::test]
async fn every_401_reads_the_same() {
    let api = api().await;
    let jwt_shaped = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    let hash_of_the_token = format!("Bearer {}", hex::encode(token_sha256(ADMIN_TOKEN)));
    let credentials = [
        None,
        Some("Bearer"),
        Some("Bearer "),
        Some("Basic b3BzOmFkbWluLXRva2Vu"),
        Some(ADMIN_TOKEN),
        Some("Bearer wrong-token"),
        Some(jwt_shaped),
        Some(&hash_of_the_token),
    ];
    let first = call(&api.app, &Method::GET, "/api/v1/events", None).await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED);
    for (method, path) in secured_operations() {
        for credential in credentials {
            let a = call(&api.app, &method, &path, credential).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {path} {credential:?}");
            assert_eq!(a.body, first.body, "{method} {path} {credential:?}");
            assert_eq!(a.headers, first.headers, "{method} {path} {credential:?}");
        }
    }
}

#[tokio::test]
async fn the_guard_answers_before_the_body_and_the_idempotency_key_are_read() {
    let api = api().await;
    let request = |authorization: &str| {
        Request::post("/api/v1/reprocess")
            .header(header::AUTHORIZATION, authorization)
            .header(header::CONTENT_TYPE, "text/plain")
            .header("idempotency-key", "")
            .body(Body::from(vec![b'x'; 1 << 20]))
            .unwrap()
    };
    let unauthenticated = api.app.clone().oneshot(request("Bearer wrong")).await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let viewer = api.app.clone().oneshot(request(&format!("Bearer {VIEWER_TOKEN}"))).await.unwrap();
    assert_eq!(viewer.status(), StatusCode::FORBIDDEN);
    assert_eq!(audit_rows(&api.store).await, 0);
    let admin = api.app.clone().oneshot(request(&format!("Bearer {ADMIN_TOKEN}"))).await.unwrap();
    assert_eq!(admin.status(), StatusCode::BAD_REQUEST, "the admin gets as far as the key check");
    assert_eq!(audit_rows(&api.store).await, 1, "and that refusal is audited");
}

#[tokio::test]
async fn without_credentials_configured_the_api_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db", dir.path().display());
    let store = Store::open_and_migrate(&url, &ConnectOptions::default()).await.unwrap();
    let counters = Arc::new(ReprocessCounters::default());
    let app =
        router(&ApiSettings::default(), store, counters.clone(), Default::default(), none_unaccounted());
    for (method, path) in secured_operations() {
        let a = call(&app, &method, &path, Some(&format!("Bearer {ADMIN_TOKEN}"))).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(call(&app, &method, &path, None).await.status, StatusCode::NOT_FOUND);
    }
    assert!(counters.stats().refused.is_empty());
}

#[tokio::test]
async fn a_body_with_a_key_given_twice_runs_nothing() {
    let api = api().await;
    let request = Request::post("/api/v1/reprocess")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"event_ids": ["5f0c3c3e-6c2b-4d2a-9a59-8f1f0c6f1a11"], "dry_run": true, "dry_run": false}"#,
        ))
        .unwrap();
    let response = api.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("duplicate field `dry_run`"), "{body:?}");
}

#[tokio::test]
async fn api_answers_are_neither_cached_nor_sniffed() {
    let api = api().await;
    let admin = format!("Bearer {ADMIN_TOKEN}");
    for (method, path, authorization) in [
        (Method::GET, "/api/v1/events", Some(admin.as_str())),
        (Method::POST, "/api/v1/reprocess", Some(admin.as_str())),
        (Method::GET, "/api/v1/events", None),
        (Method::GET, "/api/v1/openapi.json", None),
        (Method::GET, "/api/v1/nothing-here", None),
    ] {
        let answer = call(&api.app, &method, path, authorization).await;
        assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store", "{method} {path} ({})", answer.status);
        assert_eq!(answer.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{method} {path}");
    }
}
