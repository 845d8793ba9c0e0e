//! PostgreSQL assigns a sequence value at insert but the row becomes visible at commit, so ids
//! appear out of order. The collector must neither miss nor double-count such rows.

use crate::support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use webhook_health_exporter::collector::{CollectorConfig, LogCollector};
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::store::Store;

const ORGS: [&str; 3] = ["contoso", "fabrikam", "northwind"];

async fn setup() -> (Store, PgPool) {
    let (_url, store) = support::fresh_postgres().await;
    simulate::seed_organizations(&store, &SimConfig { orgs: ORGS.len(), ..SimConfig::default() })
        .await
        .unwrap();
    let Store::Postgres(pg) = &store else { unreachable!() };
    let pool = pg.pool().clone();
    (store, pool)
}

async fn insert(conn: &mut sqlx::PgConnection, org: &str) {
    sqlx::query(
        "INSERT INTO webhook_events (event_id, org_id, outcome, http_status) VALUES ($1, $2, 'accepted', 202)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(org)
    .execute(conn)
    .await
    .unwrap();
}

fn total(collector: &LogCollector) -> u64 {
    collector.snapshot(Utc::now()).orgs.iter().map(|o| o.received_total).sum()
}

async fn count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM webhook_events").fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_committed_after_a_newer_one_is_not_missed() {
    let (store, pool) = setup().await;
    let collector = LogCollector::new(store, CollectorConfig::default());
    collector.collect(Utc::now(), Instant::now()).await.unwrap();

    // A takes its id first but commits last.
    let mut a = pool.begin().await.unwrap();
    insert(&mut a, "contoso").await;
    let mut b = pool.begin().await.unwrap();
    insert(&mut b, "fabrikam").await;
    insert(&mut b, "fabrikam").await;
    b.commit().await.unwrap();

    collector.collect(Utc::now(), Instant::now()).await.unwrap();
    let seen_while_a_open = total(&collector);
    assert!(seen_while_a_open <= 2, "only B's rows can be visible");

    // The exporter says how long the open transaction has been holding rows back.
    let deadline = Instant::now() + Duration::from_secs(10);
    let held = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        collector.collect(Utc::now(), Instant::now()).await.unwrap();
        let held = collector.snapshot(Utc::now()).exporter.read_held_back_seconds;
        if held >= 0.3 || Instant::now() > deadline {
            break held;
        }
    };
    assert!(held >= 0.3, "webhook_exporter_read_held_back_seconds stayed at {held}");

    a.commit().await.unwrap();
    // Write transactions elsewhere in the cluster (other tests) can hold the horizon back for a
    // moment: rows may arrive late, never twice and never lost.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        collector.collect(Utc::now(), Instant::now()).await.unwrap();
        let seen = total(&collector);
        assert!(seen <= 3, "counted {seen} of 3 rows");
        if seen == 3 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(total(&collector), 3, "A's smaller id, committed late, is counted; nothing twice");
    let held = collector.snapshot(Utc::now()).exporter.read_held_back_seconds;
    assert!(held < 0.3, "A has committed, yet the read is reported held back for {held}s");
    assert_eq!(collector.snapshot(Utc::now()).exporter.event_rows_read_total, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_committing_out_of_order_are_counted_exactly_once() {
    let (store, pool) = setup().await;
    let collector =
        LogCollector::new(store, CollectorConfig { batch_size: 100, ..CollectorConfig::default() });
    let done = Arc::new(AtomicBool::new(false));

    // The collector reads continuously while the writers run.
    let reader = {
        let collector = Arc::clone(&collector);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut reads = 0u32;
            while !done.load(Ordering::SeqCst) {
                collector.collect(Utc::now(), Instant::now()).await.unwrap();
                reads += 1;
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            reads
        })
    };

    let mut writers = Vec::new();
    for w in 0..6u64 {
        let pool = pool.clone();
        writers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(w);
            let mut committed = 0i64;
            for _ in 0..40 {
                let mut tx = pool.begin().await.unwrap();
                let n = rng.gen_range(1..=15);
                for _ in 0..n {
                    insert(&mut tx, ORGS[rng.gen_range(0..ORGS.len())]).await;
                }
                // Hold the transaction open so that later ids commit first.
                tokio::time::sleep(Duration::from_millis(rng.gen_range(0..25))).await;
                if rng.gen_bool(0.2) {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    committed += n;
                }
            }
            committed
        }));
    }
    let mut committed = 0;
    for w in writers {
        committed += w.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let reads = reader.await.unwrap();
    assert!(reads > 5, "the collector read only {reads} times while writers ran");

    let deadline = Instant::now() + Duration::from_secs(30);
    while total(&collector) < committed as u64 && Instant::now() < deadline {
        collector.collect(Utc::now(), Instant::now()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(&pool).await, committed);
    assert_eq!(total(&collector), committed as u64, "every committed row exactly once");
    assert_eq!(collector.snapshot(Utc::now()).exporter.event_rows_read_total, committed as u64);

    // And per organization, against SQL.
    let per_org: Vec<(String, i64)> =
        sqlx::query_as("SELECT org_id, count(*) FROM webhook_events GROUP BY org_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let snap = collector.snapshot(Utc::now());
    for (org, n) in per_org {
        let got = snap.orgs.iter().find(|o| *o.org == *org).map(|o| o.received_total);
        assert_eq!(got, Some(n as u64), "org {org}");
    }
}
