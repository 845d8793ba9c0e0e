//! Helpers of the lifecycle ingestion tests: the ingestion token, events shaped as the edge
//! runtime and a Supabase drain send them, gzip, the two routes, and the rows they wrote.

use std::io::Write;

use serde_json::{json, Value};
use webhook_health_exporter::api::auth::token_sha256;
use webhook_health_exporter::store::Store;

use crate::api_support::{answer, token_flags, Answer};
use crate::support::Exporter;

pub const INGEST_TOKEN: &str = "ingest-token-for-tests-0123456789";
pub const RUNTIME_ROUTE: &str = "/api/v1/lifecycle/edge-runtime";
pub const DRAIN_ROUTE: &str = "/api/v1/lifecycle/log-drain";
pub const SERVICE_PATH: &str = "/home/deno/functions/dynamics-webhook";

/// `--ingest.token-sha256` for [`INGEST_TOKEN`].
pub fn ingest_flags() -> Vec<String> {
    vec!["--ingest.token-sha256".into(), format!("event-worker:{}", hex::encode(token_sha256(INGEST_TOKEN)))]
}

/// An exporter with the API's tokens and the ingestion token.
pub fn start(url: &str, extra: &[&str]) -> Exporter {
    let mut flags = token_flags();
    flags.extend(ingest_flags());
    flags.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    Exporter::start(url, &refs)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// POSTs `body` to `route` as is, with `Content-Encoding` when given.
pub async fn post_raw(
    exporter: &Exporter,
    route: &str,
    token: Option<&str>,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .post(exporter.url(route))
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(e) = encoding {
        req = req.header("Content-Encoding", e);
    }
    answer(req.send().await.unwrap()).await
}

/// An event worker's batch: `{"events": [...]}`, uncompressed.
pub async fn post_runtime(exporter: &Exporter, token: Option<&str>, events: &[Value]) -> Answer {
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
    post_raw(exporter, RUNTIME_ROUTE, token, None, body).await
}

/// A drain's batch: a JSON array, gzip-encoded as drains send it by default.
pub async fn post_drain(exporter: &Exporter, token: Option<&str>, events: &[Value]) -> Answer {
    let body = gzip(&serde_json::to_vec(&json!(events)).unwrap());
    post_raw(exporter, DRAIN_ROUTE, token, Some("gzip"), body).await
}

/// A value as the runtime's `EventManager` yields it, with the id an event worker assigns.
pub fn runtime_event(id: &str, event_type: &str, event: Value) -> Value {
    json!({
        "id": id,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "event_type": event_type,
        "event": event,
        "metadata": { "service_path": SERVICE_PATH, "execution_id": uuid::Uuid::new_v4(), "otel_attributes": {} },
    })
}

/// A `function_logs` row as a Supabase drain posts it: time in microseconds.
pub fn drain_event(id: &str, message: &str, metadata: Value) -> Value {
    json!({
        "id": id,
        "timestamp": chrono::Utc::now().timestamp_micros(),
        "event_message": message,
        "metadata": metadata,
    })
}

/// `(event_type, shutdown_reason, function_name, source, source_event_id)` of every row, by id.
pub async fn lifecycle_rows(
    store: &Store,
) -> Vec<(String, Option<String>, String, Option<String>, Option<String>)> {
    let sql = "SELECT event_type, shutdown_reason, function_name, source, source_event_id
               FROM edge_function_events ORDER BY id";
    match store {
        Store::Postgres(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
        Store::Sqlite(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
    }
    .unwrap()
}

/// `{"inserted": .., "duplicates": .., "ignored": ..}` of an answer.
pub fn counts(a: &Answer) -> (u64, u64, u64) {
    let n = |k: &str| a.body[k].as_u64().unwrap_or_else(|| panic!("no {k} in {}", a.text));
    (n("inserted"), n("duplicates"), n("ignored"))
}

/// The value of `name{l1="v1",l2="v2",...}` on a scraped page (labels in the exporter's order).
pub fn series(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    crate::support::metric(page, &format!("{name}{{{}}}", labels.join(",")))
}
