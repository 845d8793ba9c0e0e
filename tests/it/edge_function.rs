//! The reference Edge Function (`edge-function/`, issue #14) as a team deploys it (its Deno unit
//! tests and lints: `edge_function_deno.rs`): the function itself under `deno run`
//! against a fresh PostgreSQL database, every rejection reason of docs/log-store.md produced by a
//! real HTTP request, the rows checked in SQL, and the exporter's `/metrics` showing them.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sqlx::PgPool;
use webhook_health_exporter::store::{Store, SyncQueue};

use crate::support::{self, deno, deno::EdgeFunction, Exporter};

/// reasons.ts against docs/log-store.md's table (same reasons, in order, each answered with a status
/// the table gives it), and lifecycle.ts's Shutdown reasons against the exporter's vocabulary.
#[test]
fn the_function_speaks_the_documented_vocabulary() {
    let docs = include_str!("../../docs/log-store.md");
    let table = &docs[docs.find("### Rejection reasons").unwrap()..];
    let documented: Vec<(&str, Vec<&str>)> = table
        .lines()
        .skip_while(|l| !l.starts_with("|---"))
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`'), cells[2].split(" / ").collect())
        })
        .collect();
    let reasons_ts = include_str!("../../edge-function/dynamics-webhook/reasons.ts");
    let block = &reasons_ts[reasons_ts.find("REJECTION_STATUS = {").unwrap()..];
    let answered: Vec<(&str, &str)> = block
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('}'))
        .map(|l| l.trim().trim_end_matches(',').split_once(": ").unwrap())
        .collect();
    assert_eq!(answered.len(), documented.len(), "{answered:?}");
    for ((reason, status), (doc_reason, doc_statuses)) in answered.iter().zip(&documented) {
        assert_eq!(reason, doc_reason);
        assert!(doc_statuses.contains(status), "{reason} answered {status}, documented {doc_statuses:?}");
    }

    let lifecycle = include_str!("../../edge-function/dynamics-webhook/lifecycle.ts");
    let block = &lifecycle[lifecycle.find("SHUTDOWN_REASONS: Record<string, string> = {").unwrap()..];
    let mapped: Vec<&str> = block
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('}'))
        .map(|l| l.split('"').nth(1).unwrap())
        .collect();
    assert_eq!(mapped.len(), 5, "{mapped:?}");
    for reason in mapped {
        assert!(webhook_health_exporter::domain::SHUTDOWN_REASONS.contains(&reason), "{reason}");
    }
}

pub(crate) const KEY: &str = "current-key";
const PREVIOUS_KEY: &str = "previous-key";

/// A Dataverse webhook body (RemoteExecutionContext), a new delivery for each `request_id`.
pub(crate) fn context(message: &str, request_id: uuid::Uuid) -> Value {
    json!({
        "BusinessUnitId": "3a277578-5996-e711-80e4-00155d0e1e16",
        "CorrelationId": "b374239d-4233-41a9-8b17-a3d1d8e2f1a1",
        "Depth": 1,
        "InputParameters": [{"key": "Target", "value": {"LogicalName": "account", "Attributes": []}}],
        "MessageName": message,
        "Mode": 1,
        "OperationId": "00000000-0000-0000-0000-000000000000",
        "OrganizationId": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "OrganizationName": "contoso",
        "OwningExtension": {"Id": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901", "LogicalName": "sdkmessageprocessingstep"},
        "PrimaryEntityId": "fd8f8d3a-9a1c-4c4e-8c61-1ad3b8a7d0c9",
        "PrimaryEntityName": "account",
        "RequestId": request_id,
        "Stage": 40,
        "UserId": "75c2dc7c-26b1-4f8d-9f6e-8d4a0e1d1e2f",
    })
}

/// One request of the scenario and the answer it must get (`reason` empty when accepted).
struct Case {
    path: &'static str,
    key: Option<&'static str>,
    body: String,
    size_exceeded: bool,
    status: u16,
    reason: &'static str,
}

impl Case {
    fn new(
        path: &'static str,
        key: Option<&'static str>,
        body: String,
        status: u16,
        reason: &'static str,
    ) -> Case {
        Case { path, key, body, size_exceeded: false, status, reason }
    }
}

/// A request as Dataverse makes it: POST, JSON, its headers; the key as auth type HttpHeader.
pub(crate) async fn post(
    function: &EdgeFunction,
    path: &str,
    key: Option<&str>,
    body: String,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(function.url(path))
        .header("content-type", "application/json; charset=utf-8")
        .header("x-ms-dynamics-request-name", "Create")
        .header("x-ms-dynamics-entity-name", "account")
        .header("x-ms-correlation-request-id", uuid::Uuid::new_v4().to_string())
        .body(body);
    if let Some(key) = key {
        req = req.header("x-webhook-key", key);
    }
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", function.log()));
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The one place that knows how a rejection shows on `/metrics`: the org's 1h window gauge by
/// (reason, code), and the counter by (reason, code) over all orgs.
fn shows_rejections(page: &str, org: &str, reason: &str, code: u16, n: f64) -> bool {
    let window = format!(
        "webhook_window_payloads_rejected_by_reason{{org=\"{org}\",window=\"1h\",reason=\"{reason}\",code=\"{code}\"}}"
    );
    let total = format!("webhook_payloads_rejected_total{{reason=\"{reason}\",code=\"{code}\"}}");
    support::metric(page, &window) == Some(n) && support::metric(page, &total).is_some_and(|t| t >= n)
}

pub(crate) async fn exec(pool: &PgPool, sql: &str) {
    sqlx::query(sql).execute(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_reason_through_real_requests_reaches_the_metrics() {
    let (url, store) = support::fresh_postgres().await;
    every_reason(url, store).await;
}

/// The same with the function configured for pgmq (`WEBHOOK_SYNC_QUEUE=pgmq:<name>`): its
/// messages sent in the transactions of their rows, the exporter reading that queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_reason_reaches_the_metrics_with_a_pgmq_queue() {
    let (url, store) = support::pgmq::fresh_pgmq().await;
    every_reason(url, store).await;
}

/// The queue's table and how its rows name their org, event and flag (the table, or pgmq's).
fn queue_columns(store: &Store) -> (String, &'static str, &'static str, &'static str) {
    match store.queue() {
        SyncQueue::Table => {
            ("sync_queue".into(), "q.org_id", "q.event_id", "q.state = 'pending' AND NOT q.reprocess")
        }
        SyncQueue::Pgmq(name) => (
            format!("pgmq.q_{name}"),
            "(q.message->>'org_id')",
            "(q.message->>'event_id')::uuid",
            "q.read_ct = 0 AND q.message->'reprocess' IS NULL",
        ),
    }
}

async fn every_reason(url: String, store: Store) {
    let Store::Postgres(pg) = &store else { unreachable!() };
    let pool = pg.pool().clone();
    exec(
        &pool,
        "INSERT INTO organizations (org_id, display_name, endpoint_url, active) VALUES
           ('contoso', 'Contoso', 'https://p.supabase.co/functions/v1/dynamics-webhook/contoso', true),
           ('fabrikam', 'Fabrikam', 'https://p.supabase.co/functions/v1/dynamics-webhook/fabrikam', true),
           ('burst', 'Burst', 'https://p.supabase.co/functions/v1/dynamics-webhook/burst', true),
           ('failing', 'Failing', 'https://p.supabase.co/functions/v1/dynamics-webhook/failing', true),
           ('lateorg', 'Late', 'https://p.supabase.co/functions/v1/dynamics-webhook/lateorg', true),
           ('retired', 'Retired', 'https://p.supabase.co/functions/v1/dynamics-webhook/retired', false)",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let function = EdgeFunction::start(
        &[
            ("SUPABASE_DB_URL", url.as_str()),
            ("WEBHOOK_KEY", KEY),
            ("WEBHOOK_KEY_PREVIOUS", PREVIOUS_KEY),
            ("WEBHOOK_MAX_BODY_BYTES", "65536"),
            ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "3"),
            ("WEBHOOK_SYNC_QUEUE", &store.queue().label().replace("sync_queue", "table")),
        ],
        dir.path(),
    );
    let new = uuid::Uuid::new_v4;
    let create = || context("Create", new()).to_string();
    let first = context("Create", new()).to_string();

    let contoso = "/dynamics-webhook/contoso";
    let mut cases = vec![
        Case::new(contoso, Some(KEY), first.clone(), 202, ""),
        Case::new(contoso, Some(KEY), create(), 202, ""),
        // Auth type WebhookKey, with the key being rotated out.
        Case::new("/dynamics-webhook/fabrikam?code=previous-key", None, create(), 202, ""),
        Case::new(contoso, None, create(), 401, "missing_auth"),
        Case::new(contoso, Some("rotated-away"), create(), 401, "invalid_auth"),
        Case::new(contoso, Some(KEY), json!({"MessageName": "Create"}).to_string(), 400, "invalid_payload"),
        Case::new(contoso, Some(KEY), "x".repeat(70_000), 413, "payload_too_large"),
        Case { size_exceeded: true, ..Case::new(contoso, Some(KEY), create(), 413, "payload_too_large") },
        Case::new("/dynamics-webhook/nobody", Some(KEY), create(), 404, "unknown_organization"),
        Case::new("/dynamics-webhook/retired", Some(KEY), create(), 404, "unknown_organization"),
        Case::new(contoso, Some(KEY), context("Assign", new()).to_string(), 422, "unsupported_event"),
        Case::new(contoso, Some(KEY), first.clone(), 409, "duplicate"),
    ];
    for _ in 0..3 {
        cases.push(Case::new("/dynamics-webhook/burst", Some(KEY), create(), 202, ""));
    }
    cases.push(Case::new("/dynamics-webhook/burst", Some(KEY), create(), 429, "rate_limited"));
    for c in cases {
        let extra: &[(&str, &str)] =
            if c.size_exceeded { &[("x-ms-dynamics-msg-size-exceeded", "true")] } else { &[] };
        let (got, answer) = post(&function, c.path, c.key, c.body, extra).await;
        assert_eq!(got, c.status, "{} {}: {answer}\n{}", c.path, c.reason, function.log());
        if !c.reason.is_empty() {
            assert_eq!(answer["reason"], c.reason, "{answer}");
        }
    }

    // internal_error: the org lookup fails (the table is away) for an org no isolate has cached.
    exec(&pool, "ALTER TABLE organizations RENAME TO organizations_away").await;
    let (got, answer) = post(&function, "/dynamics-webhook/lateorg", Some(KEY), create(), &[]).await;
    exec(&pool, "ALTER TABLE organizations_away RENAME TO organizations").await;
    assert_eq!((got, answer["reason"].as_str()), (500, Some("internal_error")), "{}", function.log());
    assert_eq!(answer["error"], "internal error", "the cause stays in the log store");

    // failed: decided, but the queue refuses the item; the whole transaction goes back.
    let (table, org, _, _) = queue_columns(&store);
    let org = org.replace("q.", "");
    exec(
        &pool,
        &format!("ALTER TABLE {table} ADD CONSTRAINT refuse_failing CHECK ({org} <> 'failing') NOT VALID"),
    )
    .await;
    let (got, answer) = post(&function, "/dynamics-webhook/failing", Some(KEY), create(), &[]).await;
    exec(&pool, &format!("ALTER TABLE {table} DROP CONSTRAINT refuse_failing")).await;
    assert_eq!((got, answer["outcome"].as_str()), (500, Some("failed")), "{}", function.log());

    // A probe's GET is answered without a row.
    let probe = reqwest::get(function.url("/dynamics-webhook/contoso")).await.unwrap();
    assert_eq!(probe.status().as_u16(), 405);

    check_rows(&pool, &store).await;
    check_metrics(&url, &store).await;
}

/// Every row as the contract defines it, and the queue item in the same transaction as its row.
async fn check_rows(pool: &PgPool, store: &Store) {
    let (table, org, event, fresh) = queue_columns(store);
    let rows: Vec<(String, String, i32, Option<String>, i64)> = sqlx::query_as(
        "SELECT org_id, outcome, http_status, rejection_reason, count(*)
         FROM webhook_events GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let got: BTreeMap<String, i64> = rows
        .into_iter()
        .map(|(o, out, s, r, n)| (format!("{o} {out} {s} {}", r.unwrap_or_default()), n))
        .collect();
    let expected: BTreeMap<String, i64> = [
        ("burst accepted 202 ", 3),
        ("burst rejected 429 rate_limited", 1),
        ("contoso accepted 202 ", 2),
        ("contoso rejected 400 invalid_payload", 1),
        ("contoso rejected 401 invalid_auth", 1),
        ("contoso rejected 401 missing_auth", 1),
        ("contoso rejected 409 duplicate", 1),
        ("contoso rejected 413 payload_too_large", 2),
        ("contoso rejected 422 unsupported_event", 1),
        ("fabrikam accepted 202 ", 1),
        ("failing failed 500 ", 1),
        ("lateorg rejected 500 internal_error", 1),
        ("nobody rejected 404 unknown_organization", 1),
        ("retired rejected 404 unknown_organization", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(got, expected);

    // One queue item per accepted row, written by the row's own transaction (xmin is the 32-bit
    // part of tx_id), and none for anything else.
    let (accepted, queued, same_tx, strays): (i64, i64, i64, i64) = sqlx::query_as(&format!(
        "SELECT (SELECT count(*) FROM webhook_events WHERE outcome = 'accepted'),
                (SELECT count(*) FROM {table}),
                (SELECT count(*) FROM {table} q JOIN webhook_events e ON e.event_id = {event} AND e.org_id = {org}
                  WHERE e.outcome = 'accepted' AND {fresh}
                    AND q.xmin::text::numeric = e.tx_id::text::numeric % 4294967296),
                (SELECT count(*) FROM {table} q JOIN webhook_events e ON e.event_id = {event}
                  WHERE e.outcome <> 'accepted')"
    ))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((accepted, queued, same_tx, strays), (6, 6, 6, 0));

    // Payloads kept for reprocessing where there was one to keep; never for a refused key.
    let kept: Vec<(String, bool)> = sqlx::query_as(
        "SELECT coalesce(rejection_reason, outcome), bool_and(payload IS NOT NULL)
         FROM webhook_events GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let kept: BTreeMap<String, bool> = kept.into_iter().collect();
    for reason in ["accepted", "failed", "unsupported_event", "rate_limited"] {
        assert!(kept[reason], "{reason} rows keep the payload: {kept:?}");
    }
    for reason in ["missing_auth", "invalid_auth", "unknown_organization", "duplicate", "internal_error"] {
        assert!(!kept[reason], "{reason} rows carry no payload: {kept:?}");
    }
    let (detail, correlation): (String, Option<String>) = sqlx::query_as(
        "SELECT error_detail, correlation_id FROM webhook_events WHERE rejection_reason = 'duplicate'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(detail.starts_with("duplicate of event "), "{detail}");
    assert!(correlation.is_some(), "x-ms-correlation-request-id is kept");
}

/// The exporter against the same database: every count per reason and code.
async fn check_metrics(url: &str, store: &Store) {
    let flags = support::pgmq::flags(store);
    let exporter = Exporter::start(url, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let expected: [(&str, &str, u16, f64); 9] = [
        ("contoso", "missing_auth", 401, 1.0),
        ("contoso", "invalid_auth", 401, 1.0),
        ("contoso", "invalid_payload", 400, 1.0),
        ("contoso", "payload_too_large", 413, 2.0),
        ("contoso", "unsupported_event", 422, 1.0),
        ("contoso", "duplicate", 409, 1.0),
        ("burst", "rate_limited", 429, 1.0),
        ("lateorg", "internal_error", 500, 1.0),
        // Orgs not configured, or switched off, count under _unknown.
        ("_unknown", "unknown_organization", 404, 2.0),
    ];
    let page = exporter
        .scrape_until("the Edge Function's rows", |page| {
            expected.iter().all(|(org, reason, code, n)| shows_rejections(page, org, reason, *code, *n))
        })
        .await;
    let received =
        |org: &str| support::metric(&page, &format!("webhook_payloads_received_total{{org=\"{org}\"}}"));
    assert_eq!(received("contoso"), Some(9.0));
    assert_eq!(received("burst"), Some(4.0));
    assert_eq!(received("fabrikam"), Some(1.0));
    assert_eq!(support::received_total(&page), 18.0);
    assert_eq!(support::metric(&page, "webhook_payloads_failed_total{code=\"500\"}"), Some(1.0));
    assert_eq!(
        support::metric(&page, "webhook_window_payloads_failed{org=\"failing\",window=\"1h\"}"),
        Some(1.0)
    );
    assert_eq!(support::metric(&page, "webhook_queue_depth{org=\"burst\"}"), Some(3.0));
}

/// The function's lifecycle hooks with its real store: an unhandled rejection and a beforeunload
/// (as the edge runtime dispatches it at a wall-clock limit) become edge_function_events rows, and
/// the exporter counts both as error exits of the Edge Function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_rows_are_error_exits_on_the_exporter() {
    let (url, _store) = support::fresh_postgres().await;
    const SCRIPT: &str = r#"
        import { connect, PgStore } from "./store.ts";
        import { installLifecycleHooks } from "./lifecycle.ts";
        const sql = connect(Deno.env.get("SUPABASE_DB_URL")!);
        const store = new PgStore(sql);
        const writes: Promise<unknown>[] = [];
        installLifecycleHooks(globalThis, (t, r, d) => store.lifecycle("dynamics-webhook", t, r, d), (p) => writes.push(p));
        Promise.reject(new TypeError("cannot read properties of undefined"));
        await new Promise((r) => setTimeout(r, 50));
        globalThis.dispatchEvent(new CustomEvent("beforeunload", { detail: { reason: "wall_clock" } }));
        await Promise.all(writes);
        await sql.end();
    "#;
    let out = deno::command()
        .current_dir(deno::workspace().join("dynamics-webhook"))
        .args(["eval", "--frozen", "--ext=ts", "--allow-net", "--allow-env", SCRIPT])
        .env("SUPABASE_DB_URL", &url)
        .output()
        .expect("running deno eval");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the script failed (the rejection must be handled):\n{stderr}");
    assert!(stderr.contains("unhandled rejection"), "logged too:\n{stderr}");

    let exporter = Exporter::start(&url, &[]);
    let exits =
        |reason: &str| format!("webhook_edge_function_exits_total{{reason=\"{reason}\",error=\"true\"}}");
    let page = exporter
        .scrape_until("both exits", |page| {
            support::metric(page, &exits("UncaughtException")) == Some(1.0)
                && support::metric(page, &exits("WallClockTime")) == Some(1.0)
        })
        .await;
    assert_eq!(support::metric(&page, "webhook_infrastructure_up{component=\"edge_function\"}"), Some(0.0));
}
