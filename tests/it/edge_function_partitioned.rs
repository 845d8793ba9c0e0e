//! The reference Edge Function's duplicate decision on both layouts of docs/log-store.md: the
//! unpartitioned `webhook_events` and the partitioned one of
//! `deploy/postgres/partitioned_log_tables.sql`, through `deno run` and real HTTP requests.

use sqlx::PgPool;
use webhook_health_exporter::store::{ConnectOptions, Store};

use crate::edge_function::{context, exec, post, KEY};
use crate::support::{self, deno::EdgeFunction};

/// One Dataverse delivery and its retries, eight of them at once, on both layouts of
/// docs/log-store.md: one `accepted` row and one queue item, every other answer a `duplicate`.
/// A partitioned `webhook_events` has no unique key on `event_id` alone, so the function's
/// duplicate decision cannot be `ON CONFLICT (event_id)` there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_accepted_once_on_a_partitioned_store_too() {
    let plain = support::empty_postgres().await;
    let partitioned = support::empty_postgres().await;
    let pool = PgPool::connect(&partitioned).await.unwrap();
    sqlx::raw_sql(include_str!("../../deploy/postgres/partitioned_log_tables.sql"))
        .execute(&pool)
        .await
        .expect("creating the partitioned tables");
    for table in ["webhook_events", "sync_attempts"] {
        exec(
            &pool,
            &format!(
                "CREATE TABLE {table}_now PARTITION OF {table}
                 FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day')"
            ),
        )
        .await;
    }
    for url in [plain, partitioned] {
        let store = Store::open_and_migrate(&url, &ConnectOptions::default()).await.expect("migrating");
        let Store::Postgres(pg) = &store else { unreachable!() };
        let pool = pg.pool().clone();
        exec(
            &pool,
            "INSERT INTO organizations (org_id, display_name, endpoint_url, active)
             VALUES ('contoso', 'Contoso', 'https://p.supabase.co/functions/v1/dynamics-webhook/contoso', true)",
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let function =
            EdgeFunction::start(&[("SUPABASE_DB_URL", url.as_str()), ("WEBHOOK_KEY", KEY)], dir.path());
        let delivery = context("Create", uuid::Uuid::new_v4()).to_string();
        let posts =
            (0..8).map(|_| post(&function, "/dynamics-webhook/contoso", Some(KEY), delivery.clone(), &[]));
        let mut statuses: Vec<u16> =
            futures::future::join_all(posts).await.into_iter().map(|(s, _)| s).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [202, 409, 409, 409, 409, 409, 409, 409], "{}", function.log());
        let (accepted, duplicates, queued): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE outcome = 'accepted'),
                    count(*) FILTER (WHERE rejection_reason = 'duplicate'),
                    (SELECT count(*) FROM sync_queue)
             FROM webhook_events",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((accepted, duplicates, queued), (1, 7, 1), "{url}");
    }
}
