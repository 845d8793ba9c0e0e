//! POST /api/v1/reprocess on PostgreSQL and SQLite, through the real binary over HTTP: results per
//! event, dry runs, filters, idempotency, limits, bad input, atomicity, the audit trail, metrics.

use crate::support;

use crate::api_support::*;
use serde_json::json;
use uuid::Uuid;
use webhook_health_exporter::store::{Store, SyncQueue};

async fn results_per_event(url: String, store: Store) {
    let seeded = seed(&store).await;
    let exporter = start_q(&store, &url, &[]);
    let missing = Uuid::new_v4();
    let ids = [seeded.rejected[0], seeded.failed[0], seeded.accepted[0], missing, seeded.unknown_org];
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&ids) })).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.body["totals"],
        json!({"requested": 5, "enqueued": 3, "would_enqueue": 0, "already_pending": 0, "not_found": 1, "not_eligible": 1})
    );
    let results = results(&a);
    let expected = ["enqueued", "enqueued", "not_eligible", "not_found", "enqueued"];
    for ((id, want), (got_id, got)) in ids.iter().zip(expected).zip(&results) {
        assert_eq!((id.to_string().as_str(), want), (got_id.as_str(), got.as_str()));
    }

    // Queue items carry the flag, the original event, who asked and the request id.
    let request_id = a.body["request_id"].as_str().unwrap().to_string();
    let items = reprocess_items(&store).await;
    assert_eq!(items.len(), 3);
    for item in &items {
        assert_eq!(item.state, "pending");
        assert_eq!(item.requested_by.as_deref(), Some("ops"));
        assert_eq!(item.request_id.as_deref(), Some(request_id.as_str()));
    }
    let queued: Vec<&str> = items.iter().map(|i| i.event_id.as_str()).collect();
    assert!(queued.contains(&seeded.unknown_org.to_string().as_str()));
    assert!(items.iter().any(|i| i.org_id == "ghost-org"));

    // Asking again while pending enqueues nothing new.
    let again = [seeded.rejected[0], seeded.rejected[1]];
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&again) })).await;
    assert_eq!(a.body["totals"]["enqueued"], 1, "{}", a.text);
    assert_eq!(a.body["totals"]["already_pending"], 1);
    assert_eq!(a.body["results"][0]["result"], "already_pending");
    assert_eq!(reprocess_items(&store).await.len(), 4);

    // Once the sync service is done with it, an event may be reprocessed again.
    crate::support::pgmq::finish_all(&store).await;
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&again) })).await;
    assert_eq!(a.body["totals"]["enqueued"], 2, "{}", a.text);
    assert_eq!(reprocess_items(&store).await.len(), 6);

    let metrics = reqwest::get(exporter.url("/metrics")).await.unwrap().text().await.unwrap();
    assert_eq!(support::metric(&metrics, "webhook_reprocess_requests_total{result=\"enqueued\"}"), Some(3.0));
    assert_eq!(support::metric(&metrics, "webhook_reprocess_requests_total{result=\"rejected\"}"), Some(0.0));
    assert_eq!(
        support::metric(&metrics, "webhook_reprocess_events_enqueued_total{org=\"contoso\"}"),
        Some(4.0)
    );
    assert_eq!(
        support::metric(&metrics, "webhook_reprocess_events_enqueued_total{org=\"fabrikam\"}"),
        Some(1.0)
    );
    assert_eq!(
        support::metric(&metrics, "webhook_reprocess_events_enqueued_total{org=\"_unknown\"}"),
        Some(1.0)
    );
    assert!(!metrics.contains("ghost-org"), "unconfigured orgs are not labels");
    assert_eq!(support::metric(&metrics, "webhook_queue_reprocess_depth{org=\"contoso\"}"), Some(2.0));
}
on_every_queue!(results_are_given_per_event, super::results_per_event);

async fn dry_run_and_filters(url: String, store: Store) {
    let seeded = seed(&store).await;
    let exporter = start_q(&store, &url, &[]);
    let since = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let filter = json!({ "orgs": ["contoso", "fabrikam"], "since": since });
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "filter": filter, "dry_run": true })).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["dry_run"], true);
    assert_eq!(a.body["totals"]["would_enqueue"], 8, "accepted events are not selected by a filter");
    assert_eq!(a.body["totals"]["enqueued"], 0);
    assert!(a.body["results"].as_array().unwrap().iter().all(|r| r["result"] == "would_enqueue"));
    assert!(reprocess_items(&store).await.is_empty(), "a dry run writes no queue item");

    let only_failed = json!({ "orgs": ["contoso", "fabrikam"], "since": since, "outcome": "failed" });
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "filter": only_failed })).await;
    assert_eq!(a.body["totals"]["enqueued"], 3, "{}", a.text);
    let mut queued: Vec<String> = reprocess_items(&store).await.into_iter().map(|i| i.event_id).collect();
    let mut want: Vec<String> = seeded.failed.iter().map(Uuid::to_string).collect();
    queued.sort();
    want.sort();
    assert_eq!(queued, want);

    let by_reason =
        json!({ "orgs": ["contoso"], "since": since, "reasons": ["invalid_auth"], "status_code": 401 });
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "filter": by_reason, "dry_run": true })).await;
    assert_eq!(a.body["totals"]["would_enqueue"], 5, "{}", a.text);
    // The time range is honoured: nothing older than 10 minutes ago... within the last 5 minutes.
    let recent = json!({ "orgs": ["contoso"], "since": (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339() });
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "filter": recent, "dry_run": true })).await;
    assert_eq!(a.body["totals"]["requested"], 0, "{}", a.text);
    // Already pending events show as such in a dry run too.
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "filter": filter, "dry_run": true })).await;
    assert_eq!(a.body["totals"]["already_pending"], 3, "{}", a.text);
    assert_eq!(a.body["totals"]["would_enqueue"], 5);
}
on_every_queue!(dry_runs_and_filters, super::dry_run_and_filters);

async fn idempotency(url: String, store: Store) {
    let seeded = seed(&store).await;
    let exporter = start_q(&store, &url, &[]);
    let body = json!({ "event_ids": ids_json(&seeded.rejected[..3]) });
    let first = post(&exporter, Some(ADMIN_TOKEN), Some("key-1"), &body).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(!first.headers.contains_key("idempotent-replayed"));
    let replay = post(&exporter, Some(ADMIN_TOKEN), Some("key-1"), &body).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.text, first.text, "a replay answers with the stored response");
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(reprocess_items(&store).await.len(), 3);

    // The same request with other whitespace and key order is the same request.
    let reordered = format!("{{ \"dry_run\" : false, \"event_ids\": {} }}", ids_json(&seeded.rejected[..3]));
    let a = answer(
        reqwest::Client::new()
            .post(exporter.url("/api/v1/reprocess"))
            .bearer_auth(ADMIN_TOKEN)
            .header("Idempotency-Key", "key-1")
            .header("content-type", "application/json")
            .body(reordered)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.text, first.text);

    let other = json!({ "event_ids": ids_json(&seeded.rejected[3..]) });
    let a = post(&exporter, Some(ADMIN_TOKEN), Some("key-1"), &other).await;
    assert_eq!(a.status, 422);
    assert_eq!(code(&a), "idempotency_key_reused");
    assert_eq!(reprocess_items(&store).await.len(), 3, "a refused request writes nothing");

    // A dry run does not use up its key: the real request may follow with it.
    let a = post(
        &exporter,
        Some(ADMIN_TOKEN),
        Some("key-2"),
        &json!({ "event_ids": ids_json(&seeded.failed), "dry_run": true }),
    )
    .await;
    assert_eq!(a.body["totals"]["would_enqueue"], 3, "{}", a.text);
    let a =
        post(&exporter, Some(ADMIN_TOKEN), Some("key-2"), &json!({ "event_ids": ids_json(&seeded.failed) }))
            .await;
    assert_eq!(a.body["totals"]["enqueued"], 3, "{}", a.text);

    for bad in ["", "has space", &"k".repeat(256)] {
        let a = answer(
            reqwest::Client::new()
                .post(exporter.url("/api/v1/reprocess"))
                .bearer_auth(ADMIN_TOKEN)
                .header("Idempotency-Key", bad)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((a.status.as_u16(), code(&a)), (400, "invalid_idempotency_key"), "{bad:?}");
    }

    let metrics = reqwest::get(exporter.url("/metrics")).await.unwrap().text().await.unwrap();
    assert_eq!(support::metric(&metrics, "webhook_reprocess_requests_total{result=\"replayed\"}"), Some(2.0));
    assert_eq!(support::metric(&metrics, "webhook_reprocess_requests_total{result=\"dry_run\"}"), Some(1.0));
}
on_every_queue!(idempotency_keys_replay_and_refuse_other_requests, super::idempotency);

async fn limits(url: String, store: Store) {
    let seeded = seed(&store).await;
    let exporter = start_q(
        &store,
        &url,
        &["--api.max-batch", "3", "--api.max-body-bytes", "2048", "--api.max-page-size", "10"],
    );
    let a =
        post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&seeded.rejected[..4]) }))
            .await;
    assert_eq!((a.status.as_u16(), code(&a)), (422, "batch_too_large"));
    let msg = a.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("at most 3") && msg.contains("--api.max-batch") && msg.contains("lists 4"), "{msg}");

    let since = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let a = post(
        &exporter,
        Some(ADMIN_TOKEN),
        None,
        &json!({ "filter": { "orgs": ["contoso"], "since": since } }),
    )
    .await;
    assert_eq!((a.status.as_u16(), code(&a)), (422, "batch_too_large"));
    assert!(a.body["error"]["message"].as_str().unwrap().contains("matches 5 events"), "{}", a.text);

    let huge: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&huge) })).await;
    assert_eq!((a.status.as_u16(), code(&a)), (413, "body_too_large"));
    let msg = a.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("2048 bytes") && msg.contains("--api.max-body-bytes"), "{msg}");

    let a = get(&exporter, Some(ADMIN_TOKEN), "/api/v1/events?limit=11").await;
    assert_eq!((a.status.as_u16(), code(&a)), (422, "page_size_too_large"));
    assert!(a.body["error"]["message"].as_str().unwrap().contains("maximum page size of 10"), "{}", a.text);
    let a = get(&exporter, Some(ADMIN_TOKEN), "/api/v1/events?limit=10").await;
    assert_eq!(a.status, 200);

    assert!(reprocess_items(&store).await.is_empty());
    let audit = audit_rows(&store).await;
    assert_eq!(audit.len(), 3, "each refused reprocess request is audited: {audit:?}");
    assert!(audit.iter().all(|r| r["status"] == "rejected"));
    let codes: Vec<i64> = audit.iter().map(|r| r["http_status"].as_i64().unwrap()).collect();
    assert_eq!(codes, [422, 422, 413]);
}
on_every_queue!(limits_name_the_limit_and_its_value, super::limits);

async fn bad_input(url: String, store: Store) {
    let seeded = seed(&store).await;
    let exporter = start_q(&store, &url, &[]);
    let client = reqwest::Client::new();
    let send = |body: &'static str, content_type: &'static str| {
        client
            .post(exporter.url("/api/v1/reprocess"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(&str, &str, u16, &str)> = vec![
        ("{\"event_ids\": [", "application/json", 400, "malformed_json"),
        ("not json", "application/json", 400, "malformed_json"),
        ("{\"event_ids\": []}", "text/plain", 415, "unsupported_media_type"),
        ("{\"event_ids\": []}", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("{\"event_ids\": [\"5f0c3c3e-6c2b-4d2a-9a59-8f1f0c6f1a11\"], \"force\": true}", "application/json", 422, "invalid_request"),
        ("{\"event_ids\": [\"not-a-uuid\"]}", "application/json", 422, "invalid_event_id"),
        ("{\"event_ids\": [\"5f0c3c3e6c2b4d2a9a598f1f0c6f1a11\"]}", "application/json", 422, "invalid_event_id"),
        ("{\"event_ids\": [42]}", "application/json", 422, "invalid_request"),
        ("{\"event_ids\": null}", "application/json", 422, "invalid_request"),
        ("{\"event_ids\": []}", "application/json", 422, "invalid_selection"),
        ("{}", "application/json", 422, "invalid_selection"),
        ("[]", "application/json", 422, "invalid_request"),
        (
            "{\"event_ids\": [\"5f0c3c3e-6c2b-4d2a-9a59-8f1f0c6f1a11\"], \"filter\": {\"orgs\": [\"contoso\"], \"since\": \"2024-01-01T00:00:00Z\"}}",
            "application/json", 422, "invalid_selection",
        ),
        ("{\"filter\": {\"orgs\": [\"contoso' OR '1'='1\"], \"since\": \"2024-01-01T00:00:00Z\"}}", "application/json", 422, "invalid_org"),
        ("{\"filter\": {\"orgs\": [\"contoso\"], \"since\": \"2024-01-01T00:00:00Z\", \"reasons\": [\"x'; DROP TABLE sync_queue; --\"]}}", "application/json", 422, "invalid_reason"),
        ("{\"filter\": {\"orgs\": [\"contoso\"], \"since\": \"yesterday\"}}", "application/json", 422, "invalid_time"),
        ("{\"filter\": {\"orgs\": [\"contoso\"], \"since\": \"2024-01-01T00:00:00Z\", \"outcome\": \"accepted\"}}", "application/json", 422, "invalid_outcome"),
        ("{\"filter\": {\"orgs\": [\"contoso\"], \"since\": \"2024-01-01T00:00:00Z\", \"status_code\": 999}}", "application/json", 422, "invalid_status_code"),
        ("{\"filter\": {\"orgs\": [], \"since\": \"2024-01-01T00:00:00Z\"}}", "application/json", 422, "invalid_filter"),
        ("{\"filter\": {\"orgs\": [\"contoso\"]}}", "application/json", 422, "invalid_request"),
    ];
    for (body, content_type, status, want) in &cases {
        let a = answer(send(body, content_type).await.unwrap()).await;
        assert_eq!((a.status.as_u16(), code(&a)), (*status, *want), "{body} ({content_type}): {}", a.text);
    }
    assert!(reprocess_items(&store).await.is_empty(), "refused requests write no queue item");
    let audit = audit_rows(&store).await;
    assert_eq!(audit.len(), cases.len());
    assert!(audit.iter().all(|r| r["status"] == "rejected" && r["enqueued"] == 0));
    // The tables are intact after the SQL-ish strings.
    let a =
        post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&seeded.rejected) })).await;
    assert_eq!(a.body["totals"]["enqueued"], 5, "{}", a.text);
}
on_every_queue!(bad_input_is_refused_and_writes_nothing, super::bad_input);

async fn atomicity(url: String, store: Store) {
    let seeded = seed(&store).await;
    let exporter = start_q(&store, &url, &[]);
    let mut ids = seeded.rejected.clone();
    ids.sort();
    // Items are inserted in event id order: failing the last one proves the others roll back.
    let poison = *ids.last().unwrap();
    // The queue's table, and how its rows name their event.
    let (table, event) = match store.queue() {
        SyncQueue::Pgmq(q) => (format!("pgmq.q_{q}"), "(NEW.message->>'event_id')::uuid"),
        SyncQueue::Table => ("sync_queue".to_string(), "NEW.event_id"),
    };
    exec(
        &store,
        &format!(
            "CREATE FUNCTION whe_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF {event} = '{poison}' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$;
             CREATE TRIGGER whe_test_fail BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION whe_test_fail();"
        ),
        &format!(
            "CREATE TRIGGER whe_test_fail BEFORE INSERT ON sync_queue WHEN NEW.event_id = '{poison}'
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ),
    )
    .await;
    let body = json!({ "event_ids": ids_json(&ids) });
    let a = post(&exporter, Some(ADMIN_TOKEN), Some("atomic-1"), &body).await;
    assert_eq!((a.status.as_u16(), code(&a)), (500, "internal"));
    assert!(!a.text.contains("injected"), "store errors are not shown to callers: {}", a.text);
    assert!(reprocess_items(&store).await.is_empty(), "a failed transaction enqueues nothing");
    let audit = audit_rows(&store).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["status"], "failed");
    assert_eq!(audit[0]["http_status"], 500);
    assert_eq!(audit[0]["idempotency_key"], "atomic-1");

    // The key was not used up: a retry after the fault enqueues everything.
    exec(&store, &format!("DROP TRIGGER whe_test_fail ON {table}"), "DROP TRIGGER whe_test_fail").await;
    let a = post(&exporter, Some(ADMIN_TOKEN), Some("atomic-1"), &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["totals"]["enqueued"], 5);
    assert_eq!(reprocess_items(&store).await.len(), 5);
    let metrics = reqwest::get(exporter.url("/metrics")).await.unwrap().text().await.unwrap();
    assert_eq!(support::metric(&metrics, "webhook_reprocess_requests_total{result=\"error\"}"), Some(1.0));
}
on_every_queue!(a_failing_transaction_leaves_nothing, super::atomicity);

async fn audit_trail(url: String, store: Store) {
    let seeded = seed(&store).await;
    let exporter = start_q(&store, &url, &[]);
    let body = json!({ "event_ids": ids_json(&[seeded.rejected[0], seeded.accepted[0]]) });
    let a = post(&exporter, Some(ADMIN_TOKEN), Some("audit-key"), &body).await;
    let request_id = a.body["request_id"].as_str().unwrap().to_string();
    post(&exporter, Some(ADMIN_TOKEN), Some("audit-key"), &body).await;
    post(
        &exporter,
        Some(ADMIN_TOKEN),
        None,
        &json!({ "event_ids": ids_json(&seeded.failed), "dry_run": true }),
    )
    .await;
    // Unauthenticated and unauthorized calls are logged, not written to the store.
    post(&exporter, None, None, &body).await;
    post(&exporter, Some(VIEWER_TOKEN), None, &body).await;

    let audit = audit_rows(&store).await;
    assert_eq!(audit.len(), 3, "{audit:?}");
    let first = &audit[0];
    assert_eq!(first["request_id"], request_id.as_str());
    assert_eq!(first["principal"], "ops");
    assert_eq!(first["auth_method"], "token");
    assert!(first["remote_addr"].as_str().unwrap().starts_with("127.0.0.1:"), "{first}");
    assert_eq!(first["idempotency_key"], "audit-key");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["dry_run"], false);
    assert_eq!(
        (first["requested"].as_i64(), first["enqueued"].as_i64(), first["not_eligible"].as_i64()),
        (Some(2), Some(1), Some(1))
    );
    let selection: serde_json::Value = serde_json::from_str(first["selection"].as_str().unwrap()).unwrap();
    assert_eq!(selection["event_ids"][0], seeded.rejected[0].to_string());
    assert_eq!(audit[1]["status"], "replayed");
    assert_ne!(audit[1]["request_id"], audit[0]["request_id"]);
    assert_eq!(audit[2]["status"], "dry_run");
    assert_eq!(audit[2]["dry_run"], true);
    assert_eq!(audit[2]["enqueued"], 3, "a dry run records what would have been enqueued");
}
on_every_queue!(every_authorized_request_is_audited, super::audit_trail);

/// An API token's principal and a JWT whose `sub` has the same text are two callers: one's
/// Idempotency-Key neither replays nor blocks the other's request.
async fn keys_per_caller(_url: String, store: Store) {
    use webhook_health_exporter::store::reprocess::{ReprocessOutcome, StoredResponse};
    let seeded = seed(&store).await;
    let command = |method: &'static str, hash: &str, event: Uuid| {
        reprocess_by_ids("alice@portal", method, "key-1", hash, vec![event])
    };
    let render = |_: &_| StoredResponse { http_status: 200, body: "{}".into() };
    let token = store.reprocess(command("token", "a", seeded.rejected[0]), render).await.unwrap();
    assert!(matches!(token, ReprocessOutcome::Completed { .. }), "{token:?}");
    let jwt = store.reprocess(command("jwt", "b", seeded.rejected[1]), render).await.unwrap();
    assert!(matches!(jwt, ReprocessOutcome::Completed { .. }), "the JWT caller's own key: {jwt:?}");
    let again = store.reprocess(command("jwt", "c", seeded.rejected[2]), render).await.unwrap();
    assert!(matches!(again, ReprocessOutcome::KeyReused), "the same caller reusing its key: {again:?}");
    assert_eq!(reprocess_items(&store).await.len(), 2);
}
on_every_queue!(idempotency_keys_belong_to_one_caller, super::keys_per_caller);
