//! Sync failures in the reprocessing API, on PostgreSQL and SQLite through the real binary:
//! accepted events whose queue item the sync service gave up on (or whose worker vanished) are
//! listed with their failure, filtered by stage and error class, and reprocessed like refused
//! events; synced and still-open events are not enqueued. And the issue's hand test: ten pending
//! items of a simulated store failed by a plain UPDATE are listed, reprocessed and replayed.

use serde_json::{json, Value};
use uuid::Uuid;
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::store::{Store, SyncQueue};

use crate::api_support::sync::*;
use crate::api_support::*;

/// Accepted events in every state of the sync, beside `seed`'s refused ones.
struct Fixture {
    seeded: Seeded,
    /// Given up with a class and the portal's status.
    given_up: Uuid,
    /// Given up by a writer that set only the state, attempts and error.
    unclassified: Uuid,
    /// Given up with a class outside the vocabulary.
    odd_class: Uuid,
    /// Processing, lease run out: its worker vanished.
    abandoned: Uuid,
    in_flight: Uuid,
    retrying: Uuid,
    synced: Uuid,
    /// Given up, then reprocessed successfully.
    resynced: Uuid,
    /// A rejected event whose reprocess the sync service gave up on.
    rejected_then_failed: Uuid,
}

async fn fixture(store: &Store, exporter: &crate::support::Exporter) -> Fixture {
    let seeded = seed(store).await;
    let f = Fixture {
        given_up: accepted(store, "contoso", 11).await,
        unclassified: accepted(store, "fabrikam", 25).await,
        odd_class: accepted(store, "fabrikam", 13).await,
        abandoned: accepted(store, "fabrikam", 35).await,
        in_flight: accepted(store, "contoso", 36).await,
        retrying: accepted(store, "contoso", 37).await,
        synced: accepted(store, "contoso", 38).await,
        resynced: accepted(store, "contoso", 39).await,
        rejected_then_failed: seeded.rejected[4],
        seeded,
    };
    let failed = "state = 'failed', attempts = 5, last_error_class = 'portal_unavailable', \
                  last_http_status = 503, last_error = 'portal answered 503'";
    update_items(store, f.given_up, failed, "").await;
    let hand = "state = 'failed', attempts = 5, last_error = 'portal API 500'";
    update_items(store, f.unclassified, hand, "").await;
    update_items(store, f.odd_class, "state = 'failed', attempts = 3, last_error_class = 'disk_full'", "")
        .await;
    let (claimed, ran_out, later) = (at(-10), at(-5), at(5));
    let lost = format!(
        "state = 'processing', attempts = 2, claimed_by = 'worker-7', claimed_at = '{claimed}', lease_until = '{ran_out}'"
    );
    update_items(store, f.abandoned, &lost, "").await;
    let busy =
        format!("state = 'processing', attempts = 1, claimed_by = 'worker-8', lease_until = '{later}'");
    update_items(store, f.in_flight, &busy, "").await;
    let retry = format!("attempts = 2, last_error_class = 'timeout', visible_at = '{later}'");
    update_items(store, f.retrying, &retry, "").await;
    synced(store, f.synced, "contoso").await;
    update_items(store, f.resynced, "state = 'failed', attempts = 5", "").await;
    let t = at(0);
    let again = format!(
        "INSERT INTO sync_queue (org_id, event_id, state, enqueued_at, updated_at, reprocess)
         VALUES ('contoso', '{}', 'done', '{t}', '{t}', true)",
        f.resynced
    );
    exec(store, &again, &again).await;
    let a =
        post(exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&[f.rejected_then_failed]) }))
            .await;
    assert_eq!(a.body["totals"]["enqueued"], 1, "{}", a.text);
    update_items(
        store,
        f.rejected_then_failed,
        "state = 'failed', attempts = 1, last_error_class = 'timeout'",
        "",
    )
    .await;
    f
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["event_id"].as_str().unwrap().to_string()).collect()
}

async fn listing_and_reprocessing(url: String, store: Store) {
    let exporter = start(&url, &[]);
    let f = fixture(&store, &exporter).await;

    // Everything: 9 refused events (one of them with a failed reprocess) and 4 sync failures,
    // newest first across both kinds, the same walked page by page.
    let all = get(&exporter, Some(ADMIN_TOKEN), "/api/v1/events").await;
    assert_eq!(all.status, 200, "{}", all.text);
    let events = all.body["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 13, "{}", all.text);
    let times: Vec<&str> = events.iter().map(|e| e["received_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    assert_eq!(ids(&list_all(&exporter, "").await), ids(&events), "pages of 3 walk the same list");
    for quiet in [f.in_flight, f.retrying, f.synced, f.resynced, f.seeded.accepted[0]] {
        assert!(listed(&events, quiet).is_none(), "{quiet} has no failure to list");
    }

    let given_up = listed(&events, f.given_up).unwrap();
    assert_eq!((&given_up["outcome"], &given_up["http_status"]), (&json!("accepted"), &json!(202)));
    assert_eq!(given_up["reprocess_pending"], false);
    let failure = &given_up["sync_failure"];
    assert_eq!(failure["state"], "given_up");
    assert_eq!(failure["error_class"], "portal_unavailable");
    assert_eq!(failure["http_status"], 503);
    assert_eq!(failure["attempts"], 5);
    assert_eq!(failure["last_error"], "portal answered 503");
    assert!(failure["lease_expired_at"].is_null() && failure["worker"].is_null(), "{failure}");
    // When it was given up: the give-up the log's trigger recorded, moments ago.
    let when = chrono::DateTime::parse_from_rfc3339(failure["given_up_at"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - when.to_utc()).num_seconds().abs() < 120, "{failure}");
    assert_eq!(listed(&events, f.unclassified).unwrap()["sync_failure"]["error_class"], "other");
    assert_eq!(listed(&events, f.odd_class).unwrap()["sync_failure"]["error_class"], "other");
    let abandoned = &listed(&events, f.abandoned).unwrap()["sync_failure"];
    assert_eq!(abandoned["state"], "abandoned");
    assert_eq!(abandoned["error_class"], "worker_lost");
    assert_eq!(abandoned["worker"], "worker-7");
    assert_eq!(abandoned["attempts"], 2);
    assert!(abandoned["lease_expired_at"].is_string() && abandoned["given_up_at"].is_null(), "{abandoned}");
    let refused = listed(&events, f.rejected_then_failed).unwrap();
    assert_eq!(refused["outcome"], "rejected");
    assert_eq!(refused["sync_failure"]["error_class"], "timeout");
    assert!(listed(&events, f.seeded.rejected[0]).unwrap()["sync_failure"].is_null());

    let count = |q: &'static str| {
        let exporter = &exporter;
        async move { list_all(exporter, q).await.len() }
    };
    assert_eq!(count("stage=sync").await, 5);
    assert_eq!(count("stage=webhook").await, 9);
    assert_eq!(count("sync_error_class=other").await, 2);
    assert_eq!(count("sync_error_class=portal_unavailable&sync_error_class=worker_lost").await, 2);
    assert_eq!(count("sync_error_class=timeout&stage=webhook").await, 1);
    assert_eq!(count("outcome=rejected&stage=sync").await, 1);
    assert_eq!(count("org=fabrikam&stage=sync").await, 3);
    assert_eq!(count("org=fabrikam&outcome=failed&stage=sync").await, 0);
    for (query, want) in
        [("stage=portal", "invalid_stage"), ("sync_error_class=disk_full", "invalid_sync_error_class")]
    {
        let a = get(&exporter, Some(ADMIN_TOKEN), &format!("/api/v1/events?{query}")).await;
        assert_eq!((a.status.as_u16(), code(&a)), (422, want), "{query}: {}", a.text);
    }

    // Reprocessing by id: sync failures are enqueued; open items are already pending (the
    // abandoned one comes back with the next claim); synced events are not eligible (the
    // seeded accepted ones are synced; one that never reached the queue is unaccounted for and
    // eligible: api_unaccounted.rs).
    let missing = Uuid::new_v4();
    let asked = [
        (f.given_up, "enqueued"),
        (f.unclassified, "enqueued"),
        (f.abandoned, "already_pending"),
        (f.in_flight, "already_pending"),
        (f.retrying, "already_pending"),
        (f.synced, "not_eligible"),
        (f.resynced, "not_eligible"),
        (f.seeded.accepted[0], "not_eligible"),
        (f.rejected_then_failed, "enqueued"),
        (missing, "not_found"),
    ];
    let chosen: Vec<Uuid> = asked.iter().map(|(id, _)| *id).collect();
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&chosen) })).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let results = results(&a);
    let want: Vec<(String, String)> = asked.iter().map(|(id, r)| (id.to_string(), r.to_string())).collect();
    assert_eq!(results, want);
    let request_id = a.body["request_id"].as_str().unwrap().to_string();
    let items = reprocess_items(&store).await;
    for id in [f.given_up, f.unclassified] {
        let item = items.iter().find(|i| i.event_id == id.to_string()).expect("a reprocess item");
        assert_eq!(item.state, "pending");
        assert_eq!(
            (item.requested_by.as_deref(), item.request_id.as_deref()),
            (Some("ops"), Some(&*request_id))
        );
    }
    for id in [f.abandoned, f.in_flight, f.retrying, f.synced] {
        assert!(!items.iter().any(|i| i.event_id == id.to_string()), "{id} was enqueued");
    }
    let audit = audit_rows(&store).await;
    let row = audit.last().unwrap();
    assert_eq!(row["request_id"], request_id.as_str());
    assert_eq!(
        [&row["status"], &row["enqueued"], &row["already_pending"], &row["not_eligible"], &row["not_found"]],
        [&json!("completed"), &json!(3), &json!(3), &json!(3), &json!(1)]
    );

    // A reprocessed failure stays listed, pending, and is not enqueued twice.
    let events = list_all(&exporter, "stage=sync").await;
    let pending = listed(&events, f.given_up).unwrap();
    assert_eq!(
        (&pending["reprocess_pending"], &pending["sync_failure"]["state"]),
        (&json!(true), &json!("given_up"))
    );
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&[f.given_up]) })).await;
    assert_eq!(a.body["results"][0]["result"], "already_pending", "{}", a.text);

    // By filter: the stage and the error classes select.
    let since = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let orgs = json!(["contoso", "fabrikam"]);
    let dry = |filter: Value| {
        let exporter = &exporter;
        async move {
            let a =
                post(exporter, Some(ADMIN_TOKEN), None, &json!({ "filter": filter, "dry_run": true })).await;
            assert_eq!(a.status, 200, "{}", a.text);
            a.body["totals"].clone()
        }
    };
    let t = dry(json!({ "orgs": orgs, "since": since, "stage": "sync" })).await;
    assert_eq!(
        (&t["requested"], &t["would_enqueue"], &t["already_pending"]),
        (&json!(5), &json!(1), &json!(4)),
        "{t}"
    );
    let t = dry(json!({ "orgs": orgs, "since": since, "sync_error_classes": ["worker_lost"] })).await;
    assert_eq!((&t["requested"], &t["already_pending"]), (&json!(1), &json!(1)), "{t}");
    let a = post(
        &exporter,
        Some(ADMIN_TOKEN),
        None,
        &json!({ "filter": { "orgs": orgs, "since": since, "stage": "sync" } }),
    )
    .await;
    assert_eq!(a.body["totals"]["enqueued"], 1, "the odd-class failure: {}", a.text);
    for (filter, want) in [
        (json!({ "orgs": orgs, "since": since, "stage": "portal" }), "invalid_stage"),
        (
            json!({ "orgs": orgs, "since": since, "sync_error_classes": ["disk_full"] }),
            "invalid_sync_error_class",
        ),
    ] {
        let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "filter": filter })).await;
        assert_eq!((a.status.as_u16(), code(&a)), (422, want), "{}", a.text);
    }

    // Once the reprocess synced, the event is no failure any more, and not eligible.
    update_items(&store, f.given_up, "state = 'done'", "AND reprocess").await;
    assert!(listed(&list_all(&exporter, "").await, f.given_up).is_none());
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&[f.given_up]) })).await;
    assert_eq!(a.body["results"][0]["result"], "not_eligible", "{}", a.text);
}
on_both_backends!(sync_failures_are_listed_filtered_and_reprocessed, super::listing_and_reprocessing);

/// The issue's hand test.
async fn hand_test(url: String, store: Store) {
    let cfg = SimConfig { events: 5_000, orgs: 8, end: chrono::Utc::now(), ..SimConfig::default() };
    simulate::run(&store, &cfg, std::future::pending::<()>()).await.unwrap();
    // The simulated sync service works its queue off: 10 newly queued items, as the issue found them.
    crate::support::queue_accepted(&store, "contoso", 10).await;
    let exporter = start_q(&store, &url, &[]);
    // A sync service giving up on the 10 newest waiting items: on the table by setting them
    // `failed` (its trigger logs the give-ups); on pgmq by logging each give-up and archiving it.
    let (update, failed) = match store.queue() {
        SyncQueue::Table => {
            let pick = "SELECT id FROM sync_queue WHERE state = 'pending' AND NOT reprocess ORDER BY id DESC LIMIT 10";
            (
                format!(
                    "UPDATE sync_queue SET state = 'failed', attempts = 5, last_error = 'portal API 500' WHERE id IN ({pick})"
                ),
                "FROM sync_queue WHERE state = 'failed' AND last_error = 'portal API 500'".to_string(),
            )
        }
        SyncQueue::Pgmq(q) => (
            format!(
                "SELECT sync_record_attempt((p.message->>'event_id')::uuid, p.message->>'org_id', 5, now(), 'gave_up',
                        NULL, NULL, 'portal API 500', NULL, p.msg_id, false, 'pgmq:{q}'), pgmq.archive('{q}', p.msg_id)
                 FROM (SELECT msg_id, message FROM pgmq.q_{q} WHERE read_ct = 0
                       AND message->'reprocess' IS DISTINCT FROM 'true'::jsonb ORDER BY msg_id DESC LIMIT 10) AS p"
            ),
            "FROM sync_attempts WHERE outcome = 'gave_up' AND error_detail = 'portal API 500'".to_string(),
        ),
    };
    exec(&store, &update, &update).await;
    let mut events: Vec<Uuid> =
        strings(&store, &format!("SELECT event_id::text {failed}"), &format!("SELECT event_id {failed}"))
            .await
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
    events.sort();
    assert_eq!(events.len(), 10, "the simulated store has 10 pending items to fail");

    let listing = list_all(&exporter, "stage=sync&sync_error_class=other").await;
    for id in &events {
        let e = listed(&listing, *id).unwrap_or_else(|| panic!("{id} is not listed"));
        assert_eq!(e["outcome"], "accepted");
        assert_eq!(e["sync_failure"]["last_error"], "portal API 500");
        assert_eq!(
            (&e["sync_failure"]["state"], &e["sync_failure"]["attempts"]),
            (&json!("given_up"), &json!(5))
        );
        assert!(e["sync_failure"]["given_up_at"].is_string(), "{e}");
    }

    let body = json!({ "event_ids": ids_json(&events) });
    let first = post(&exporter, Some(ADMIN_TOKEN), Some("hand-test-1"), &body).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["totals"]["enqueued"], 10, "{}", first.text);
    let items = reprocess_items(&store).await;
    let mut queued: Vec<Uuid> = items.iter().map(|i| i.event_id.parse().unwrap()).collect();
    queued.sort();
    assert_eq!(queued, events, "one flagged item per event");
    let request_id = first.body["request_id"].as_str().unwrap();
    assert!(items.iter().all(|i| i.request_id.as_deref() == Some(request_id) && i.state == "pending"));

    let replay = post(&exporter, Some(ADMIN_TOKEN), Some("hand-test-1"), &body).await;
    assert_eq!(replay.text, first.text, "the stored response");
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(reprocess_items(&store).await.len(), 10, "the replay enqueued nothing");
    let audit = audit_rows(&store).await;
    let statuses: Vec<(&str, i64)> =
        audit.iter().map(|r| (r["status"].as_str().unwrap(), r["enqueued"].as_i64().unwrap())).collect();
    assert_eq!(statuses, [("completed", 10), ("replayed", 0)]);
    assert!(audit.iter().all(|r| r["idempotency_key"] == "hand-test-1" && r["principal"] == "ops"));
}
on_every_queue!(the_issues_hand_test_lists_reprocesses_and_replays, super::hand_test);
