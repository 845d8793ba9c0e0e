//! The portal sync service's least-privilege role (deploy/postgres/sync_service_role.psql): it
//! claims, finishes and records attempts through the functions, and cannot change the queue or
//! the log behind their back.

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use webhook_health_exporter::store::sync::{Claim, Finish};
use webhook_health_exporter::store::{ConnectOptions, NewQueueItem, Store};

use crate::exporter_role::{apply_script, assert_refused, role_url, with_role, PASSWORD};

const SCRIPT: &str = "deploy/postgres/sync_service_role.psql";
const PASSWORD_ENV: &str = "WHE_SYNC_SERVICE_DB_PASSWORD";

async fn exercise(db_url: String, owner: Store, role: String) {
    let out = apply_script(SCRIPT, PASSWORD_ENV, &db_url, &role, None);
    assert!(!out.status.success(), "created a role without a password");
    assert!(String::from_utf8_lossy(&out.stderr).contains(PASSWORD_ENV));
    for password in [Some(PASSWORD), None] {
        let out = apply_script(SCRIPT, PASSWORD_ENV, &db_url, &role, password);
        assert!(out.status.success(), "{SCRIPT}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let seeded = crate::api_support::seed(&owner).await;
    let items: Vec<NewQueueItem> = seeded
        .accepted
        .iter()
        .map(|id| NewQueueItem { org_id: "contoso".into(), event_id: *id, enqueued_at: chrono::Utc::now() })
        .collect();
    owner.enqueue(&items).await.unwrap();
    let url = role_url(&db_url, &role);
    let store = Store::open_lazy(&url, &ConnectOptions::default()).unwrap();

    // Its own work, through the functions.
    let claim = Claim { worker: "sync-1", limit: 2, lease: Duration::from_secs(60), max_attempts: 3 };
    let items = store.sync_claim(&claim).await.expect("claiming as the sync service role");
    assert_eq!(items.len(), 2, "the two waiting items");
    assert!(store.sync_finish(items[0].item_id, items[0].attempt, &Finish::succeeded()).await.unwrap());

    let mut conn = PgConnection::connect(&url).await.unwrap();
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_events").fetch_one(&mut conn).await.unwrap();
    assert!(events > 0, "it reads the events it syncs");
    for (what, sql) in [
        ("update sync_queue", "UPDATE sync_queue SET state = 'done'"),
        ("delete from sync_queue", "DELETE FROM sync_queue"),
        (
            "insert into sync_queue",
            "INSERT INTO sync_queue (org_id, event_id) VALUES ('x', gen_random_uuid())",
        ),
        (
            "insert into sync_attempts",
            "INSERT INTO sync_attempts (event_id, org_id, attempt, started_at, outcome)
             VALUES (gen_random_uuid(), 'x', 1, now(), 'succeeded')",
        ),
        ("delete from sync_attempts", "DELETE FROM sync_attempts"),
        ("update webhook_events", "UPDATE webhook_events SET outcome = 'accepted'"),
        ("read the audit trail", "SELECT * FROM reprocess_requests"),
    ] {
        assert_refused(what, sqlx::query(sql).execute(&mut conn).await);
    }
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_service_role_works_the_queue_through_the_functions_only() {
    with_role("whe_sync", exercise).await;
}
