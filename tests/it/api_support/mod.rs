//! Helpers shared by the reprocessing API tests: tokens, seeded events, HTTP calls, and direct
//! reads of the queue and audit tables on either backend.

use chrono::{Duration, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;
use webhook_health_exporter::api::auth::token_sha256;
use webhook_health_exporter::store::{NewEvent, NewOrganization, Store};

use crate::support::Exporter;

pub mod sync;

pub const ADMIN_TOKEN: &str = "admin-token-for-tests-0123456789";
pub const VIEWER_TOKEN: &str = "viewer-token-for-tests-0123456789";

/// `--api.token-sha256` flags: an admin ("ops") and a caller with another role ("viewer").
pub fn token_flags() -> Vec<String> {
    vec![
        "--api.token-sha256".into(),
        format!("ops:global_admin:{}", hex::encode(token_sha256(ADMIN_TOKEN))),
        "--api.token-sha256".into(),
        format!("viewer:viewer:{}", hex::encode(token_sha256(VIEWER_TOKEN))),
    ]
}

/// [`start`] on `store`'s sync queue (`--sync-queue pgmq:<name>` for a pgmq store).
pub fn start_q(store: &Store, url: &str, extra: &[&str]) -> Exporter {
    let mut flags = crate::support::pgmq::flags(store);
    flags.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    start(url, &refs)
}

pub fn start(url: &str, extra: &[&str]) -> Exporter {
    let mut flags = token_flags();
    flags.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    Exporter::start(url, &refs)
}

/// Events of known ids: rejected for contoso, failed for fabrikam, accepted (and synced, as a
/// healthy pipeline leaves them: not eligible for reprocessing), and one for an org that is not
/// configured.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub rejected: Vec<Uuid>,
    pub failed: Vec<Uuid>,
    pub accepted: Vec<Uuid>,
    pub unknown_org: Uuid,
}

/// An event of `org` received `minutes_ago`.
pub fn event(
    org: &str,
    minutes_ago: i64,
    outcome: &'static str,
    status: i32,
    reason: Option<&str>,
) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        org_id: org.into(),
        received_at: Utc::now() - Duration::minutes(minutes_ago),
        outcome,
        http_status: status,
        rejection_reason: reason.map(str::to_string),
        error_detail: (outcome != "accepted").then(|| format!("{outcome} at the edge")),
        entity_name: Some("contact".into()),
        message_name: Some("Update".into()),
        payload: None,
    }
}

pub async fn seed(store: &Store) -> Seeded {
    for org in ["contoso", "fabrikam"] {
        store
            .upsert_organization(&NewOrganization {
                org_id: org.into(),
                display_name: org.into(),
                endpoint_url: format!("https://example.test/{org}"),
                changed_at: Utc::now() - Duration::days(2),
            })
            .await
            .unwrap();
    }
    let rejected: Vec<NewEvent> =
        (0..5).map(|i| event("contoso", 10 + i, "rejected", 401, Some("invalid_auth"))).collect();
    let failed: Vec<NewEvent> = (0..3).map(|i| event("fabrikam", 20 + i, "failed", 500, None)).collect();
    let accepted: Vec<NewEvent> = (0..2).map(|i| event("contoso", 30 + i, "accepted", 200, None)).collect();
    let unknown = event("ghost-org", 40, "rejected", 404, Some("unknown_organization"));
    let all: Vec<NewEvent> =
        rejected.iter().chain(&failed).chain(&accepted).chain([&unknown]).cloned().collect();
    store.insert_events(&all).await.unwrap();
    for e in &accepted {
        sync::synced(store, e.event_id, &e.org_id).await;
    }
    let ids = |v: &[NewEvent]| v.iter().map(|e| e.event_id).collect();
    Seeded {
        rejected: ids(&rejected),
        failed: ids(&failed),
        accepted: ids(&accepted),
        unknown_org: unknown.event_id,
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, headers, body, text }
}

pub async fn post(exporter: &Exporter, token: Option<&str>, key: Option<&str>, body: &Value) -> Answer {
    let mut req = reqwest::Client::new().post(exporter.url("/api/v1/reprocess")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    answer(req.send().await.unwrap()).await
}

pub async fn get(exporter: &Exporter, token: Option<&str>, path_and_query: &str) -> Answer {
    let mut req = reqwest::Client::new().get(exporter.url(path_and_query));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req.send().await.unwrap()).await
}

pub fn ids_json(ids: &[Uuid]) -> Value {
    Value::Array(ids.iter().map(|i| Value::String(i.to_string())).collect())
}

/// `(event_id, result)` of each event of a reprocess answer.
pub fn results(a: &Answer) -> Vec<(String, String)> {
    let results = a.body["results"].as_array().unwrap_or_else(|| panic!("no results: {}", a.text));
    results
        .iter()
        .map(|r| (r["event_id"].as_str().unwrap().to_string(), r["result"].as_str().unwrap().to_string()))
        .collect()
}

/// The error code of an error answer.
pub fn code(a: &Answer) -> &str {
    a.body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error envelope: {} {}", a.status, a.text))
}

/// One reprocess item of the sync queue (a pgmq message: `pending` while in the queue, `done`
/// once archived).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub event_id: String,
    pub org_id: String,
    pub state: String,
    pub requested_by: Option<String>,
    pub request_id: Option<String>,
}

pub async fn reprocess_items(store: &Store) -> Vec<QueueItem> {
    const PG: &str = "SELECT event_id::text AS event_id, org_id, state, requested_by,
        reprocess_request_id::text AS request_id FROM sync_queue WHERE reprocess ORDER BY id";
    const LITE: &str = "SELECT event_id, org_id, state, requested_by, reprocess_request_id AS request_id
        FROM sync_queue WHERE reprocess = 1 ORDER BY id";
    let map = |r: &dyn Fn(&str) -> Option<String>| QueueItem {
        event_id: r("event_id").unwrap(),
        org_id: r("org_id").unwrap(),
        state: r("state").unwrap(),
        requested_by: r("requested_by"),
        request_id: r("request_id"),
    };
    let pgmq = match store.queue() {
        webhook_health_exporter::store::SyncQueue::Pgmq(q) => format!(
            "SELECT message->>'event_id' AS event_id, message->>'org_id' AS org_id, state,
                    message->>'requested_by' AS requested_by, message->>'reprocess_request_id' AS request_id
             FROM (SELECT msg_id, message, 'pending' AS state FROM pgmq.q_{q}
                   UNION ALL SELECT msg_id, message, 'done' FROM pgmq.a_{q}) AS m
             WHERE message->'reprocess' = 'true'::jsonb ORDER BY msg_id"
        ),
        _ => PG.to_string(),
    };
    match store {
        Store::Postgres(s) => sqlx::query(&pgmq)
            .fetch_all(s.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| map(&|c| row.get::<Option<String>, _>(c)))
            .collect(),
        Store::Sqlite(s) => sqlx::query(LITE)
            .fetch_all(s.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| map(&|c| row.get::<Option<String>, _>(c)))
            .collect(),
    }
}

/// The audit rows, as JSON objects, oldest first.
pub async fn audit_rows(store: &Store) -> Vec<Value> {
    const COLS: &str = "request_id, principal, auth_method, remote_addr, idempotency_key, status,
        http_status, requested, enqueued, already_pending, not_found, not_eligible, error_code";
    macro_rules! rows {
        ($pool:expr, $sql:expr, $dry:ty) => {{
            sqlx::query(&$sql)
                .fetch_all($pool)
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "request_id": r.get::<String, _>("rid"),
                        "principal": r.get::<String, _>("principal"),
                        "auth_method": r.get::<String, _>("auth_method"),
                        "remote_addr": r.get::<Option<String>, _>("remote_addr"),
                        "idempotency_key": r.get::<Option<String>, _>("idempotency_key"),
                        "dry_run": r.get::<$dry, _>("dry_run"),
                        "selection": r.get::<Option<String>, _>("sel"),
                        "status": r.get::<String, _>("status"),
                        "http_status": r.get::<i32, _>("http_status"),
                        "requested": r.get::<i32, _>("requested"),
                        "enqueued": r.get::<i32, _>("enqueued"),
                        "already_pending": r.get::<i32, _>("already_pending"),
                        "not_found": r.get::<i32, _>("not_found"),
                        "not_eligible": r.get::<i32, _>("not_eligible"),
                        "error_code": r.get::<Option<String>, _>("error_code"),
                    })
                })
                .collect()
        }};
    }
    match store {
        Store::Postgres(s) => rows!(
            s.pool(),
            format!(
                "SELECT {COLS}, request_id::text AS rid, dry_run, selection::text AS sel
                 FROM reprocess_requests ORDER BY id"
            ),
            bool
        ),
        Store::Sqlite(s) => rows!(
            s.pool(),
            format!("SELECT {COLS}, request_id AS rid, dry_run, selection AS sel FROM reprocess_requests ORDER BY id"),
            bool
        ),
    }
}

/// Runs one statement on either backend (test fixtures such as failure triggers).
pub async fn exec(store: &Store, pg: &str, sqlite: &str) {
    match store {
        Store::Postgres(s) => {
            sqlx::raw_sql(pg).execute(s.pool()).await.unwrap();
        }
        Store::Sqlite(s) => {
            sqlx::raw_sql(sqlite).execute(s.pool()).await.unwrap();
        }
    }
}

/// A reprocess request by event ids, as the API hands it to the store: `principal` authenticated
/// by `method` (`token` or `jwt`), with an Idempotency-Key and a request hash.
pub fn reprocess_by_ids(
    principal: &str,
    method: &'static str,
    key: &str,
    hash: &str,
    events: Vec<Uuid>,
) -> webhook_health_exporter::store::reprocess::ReprocessCommand {
    use webhook_health_exporter::store::reprocess::{AuditRow, Counts, ReprocessCommand, Selection};
    ReprocessCommand {
        audit: AuditRow {
            request_id: Uuid::new_v4(),
            requested_at: Utc::now(),
            principal: principal.into(),
            auth_method: method,
            remote_addr: None,
            idempotency_key: Some(key.into()),
            request_hash: Some(hash.into()),
            dry_run: false,
            selection: None,
            status: "completed",
            http_status: 200,
            counts: Counts::default(),
            error_code: None,
            response: None,
        },
        selection: Selection::Ids(events),
        max_batch: 10,
    }
}
