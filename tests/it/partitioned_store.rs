//! A log store whose `webhook_events` and `sync_attempts` are partitioned by time (declarative
//! range partitioning on real PostgreSQL, created before the migrations from
//! deploy/postgres/partitioned_log_tables.sql). Partitions are detached, attached back with rows
//! written meanwhile, dropped, and rows deleted through the parent; after every step the windows
//! equal SQL counts over the rows, the counters equal the totals rollups, never go down, and a
//! restarted collector serves the same counters.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::PgPool;
use webhook_health_exporter::collector::{CollectorConfig, LogCollector, Window};
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::snapshot::Snapshot;
use webhook_health_exporter::store::{Backend, ConnectOptions, Store, SyncQueue};

use crate::support;
use crate::sync_figures::{unaccounted_sql, ORG};

const WINDOWS: [(&str, i64); 2] = [("1h", 1), ("24h", 24)];

/// Partition bounds, hours from `base`: an old partition, then three of 12 hours and one reaching
/// into tomorrow. The 24h window covers part of `a`, all of `b` and `c`.
const BOUNDS: [(&str, i64, i64); 4] = [("old", -96, -30), ("a", -30, -18), ("b", -18, -6), ("c", -6, 48)];

fn config() -> CollectorConfig {
    let windows = WINDOWS
        .iter()
        .map(|(label, hours)| Window { label: (*label).into(), micros: hours * 3_600_000_000 })
        .collect();
    CollectorConfig { windows, batch_size: 500, ..CollectorConfig::default() }
}

/// What must match: windows from the rows, counters from the rollups.
#[derive(Debug, Default, PartialEq)]
struct Figures {
    /// (window, org, figure) -> count, only above 0.
    windows: BTreeMap<(String, String, &'static str), u64>,
    /// org -> webhook_payloads_received_total; "attempts:<outcome>" -> webhook_sync_attempts_total.
    counters: BTreeMap<String, u64>,
}

async fn rows(pool: &PgPool, sql: &str, since: DateTime<Utc>) -> Vec<(String, i64)> {
    sqlx::query_as(sql).bind(since).fetch_all(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn truth(pool: &PgPool, now: DateTime<Utc>) -> Figures {
    let mut f = Figures::default();
    let lost = unaccounted_sql(&crate::support::pgmq::open_items_sql(Backend::Postgres, &SyncQueue::Table));
    for (label, hours) in WINDOWS {
        let since = now - Duration::hours(hours);
        let queries = [
            ("received", format!("SELECT {ORG}, count(*) FROM webhook_events WHERE received_at > $1 GROUP BY 1")),
            (
                "rejected",
                format!(
                    "SELECT {ORG}, count(*) FROM webhook_events WHERE received_at > $1 AND outcome = 'rejected' GROUP BY 1"
                ),
            ),
            (
                "synced",
                format!(
                    "SELECT {ORG}, count(*) FROM sync_attempts WHERE finished_at > $1 AND outcome = 'succeeded' GROUP BY 1"
                ),
            ),
            (
                "given_up",
                format!(
                    "SELECT {ORG}, count(*) FROM sync_attempts WHERE finished_at > $1 AND outcome = 'gave_up' GROUP BY 1"
                ),
            ),
            ("unaccounted", lost.clone()),
        ];
        for (figure, sql) in queries {
            for (org, n) in rows(pool, &sql, since).await.into_iter().filter(|(_, n)| *n > 0) {
                f.windows.insert((label.into(), org, figure), n as u64);
            }
        }
    }
    let epoch = DateTime::from_timestamp(0, 0).unwrap();
    let totals = format!(
        "SELECT {ORG}, CAST(sum(count) AS bigint) FROM webhook_event_totals
         WHERE last_received_at > $1 GROUP BY 1
         UNION ALL SELECT 'attempts:' || outcome, CAST(sum(count) AS bigint) FROM sync_attempt_totals
         WHERE last_finished_at > $1 GROUP BY outcome"
    );
    f.counters = rows(pool, &totals, epoch).await.into_iter().map(|(k, n)| (k, n as u64)).collect();
    f
}

fn served(s: &Snapshot) -> Figures {
    let mut f = Figures::default();
    for o in &s.orgs {
        if o.received_total > 0 {
            f.counters.insert(o.org.to_string(), o.received_total);
        }
        for w in &o.windows {
            let figures = [
                ("received", w.received),
                ("rejected", w.rejected),
                ("synced", w.synced),
                ("given_up", w.given_up),
                ("unaccounted", w.unaccounted),
            ];
            for (figure, n) in figures.into_iter().filter(|(_, n)| *n > 0) {
                f.windows.insert((w.window.to_string(), o.org.to_string(), figure), n);
            }
        }
    }
    for (outcome, _, _, n) in &s.sync.attempts {
        *f.counters.entry(format!("attempts:{outcome}")).or_default() += n;
    }
    f
}

/// One step's checks; returns the counters for the next step's "never down".
async fn check(
    step: &str,
    store: &Store,
    pool: &PgPool,
    collector: &LogCollector,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    let now = Utc::now();
    collector.collect(now, Instant::now()).await.unwrap_or_else(|e| panic!("{step}: {e}"));
    let served = served(&collector.snapshot(now));
    assert_eq!(served, truth(pool, now).await, "{step}: served figures (left) against SQL (right)");
    for (key, n) in before {
        let now_n = served.counters.get(key).copied().unwrap_or(0);
        assert!(now_n >= *n, "{step}: counter {key} went down from {n} to {now_n}");
    }
    let restarted = LogCollector::new(store.clone(), config());
    restarted.collect(now, Instant::now()).await.unwrap();
    assert_eq!(served_counters(&restarted, now), served.counters, "{step}: a restarted collector's counters");
    served.counters
}

fn served_counters(collector: &LogCollector, now: DateTime<Utc>) -> BTreeMap<String, u64> {
    served(&collector.snapshot(now)).counters
}

async fn sql(pool: &PgPool, statements: &str) {
    sqlx::raw_sql(statements).execute(pool).await.unwrap_or_else(|e| panic!("{statements}: {e}"));
}

/// Logs an attempt a minute after each accepted event of `from` (`filter` ones) into `table`: a success for two
/// in three, a give-up for one in six, none for the rest.
fn attempts_sql(table: &str, from: &str, filter: &str) -> String {
    format!(
        "INSERT INTO {table} (event_id, org_id, attempt, received_at, started_at, finished_at, outcome, error_class)
         SELECT event_id, org_id, 1, received_at, received_at, received_at + interval '1 minute',
                CASE WHEN n % 6 < 4 THEN 'succeeded' ELSE 'gave_up' END,
                CASE WHEN n % 6 < 4 THEN NULL ELSE 'portal_rejected' END
         FROM (SELECT event_id, org_id, received_at, row_number() OVER (ORDER BY id) AS n
               FROM {from} WHERE outcome = 'accepted' AND {filter}) AS e
         WHERE n % 6 < 5 AND received_at + interval '1 minute' < now()"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_and_counters_hold_as_partitions_come_and_go() {
    let url = support::empty_postgres().await;
    let pool = PgPool::connect(&url).await.unwrap();
    sql(&pool, include_str!("../../deploy/postgres/partitioned_log_tables.sql")).await;
    let base = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let at = |hours: i64| (base + Duration::hours(hours)).to_rfc3339();
    for (name, from, to) in BOUNDS {
        for table in ["webhook_events", "sync_attempts"] {
            sql(
                &pool,
                &format!(
                    "CREATE TABLE {table}_{name} PARTITION OF {table} FOR VALUES FROM ('{}') TO ('{}')",
                    at(from),
                    at(to)
                ),
            )
            .await;
        }
    }
    let store = Store::open_and_migrate(&url, &ConnectOptions::default()).await.expect("migrating");
    let kind: String =
        sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE oid = 'webhook_events'::regclass")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(kind, "p", "the migrations kept the partitioned table");
    let (_, migrated) = support::fresh_postgres().await;
    let Store::Postgres(migrated) = migrated else { unreachable!() };
    assert_eq!(columns(&pool).await, columns(migrated.pool()).await, "the partitioned tables' columns");

    // History across every partition, then attempts for it, all through the parents.
    let sim =
        SimConfig { seed: 61, orgs: 4, events: 3_000, days: 3.5, end: Utc::now(), ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();
    sql(&pool, &attempts_sql("sync_attempts", "webhook_events", "true")).await;
    let (rows_n, totals_n): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM webhook_events), (SELECT CAST(sum(count) AS bigint) FROM webhook_event_totals)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows_n, totals_n,
        "the parent's statement trigger (transition table) saw rows of every partition"
    );

    let collector = LogCollector::new(store.clone(), config());
    let counters = check("history", &store, &pool, &collector, &BTreeMap::new()).await;

    // Incremental reads through the parents.
    let more = SimConfig { seed: 62, events: 300, days: 0.05, end: Utc::now(), ..sim.clone() };
    simulate::run(&store, &more, std::future::pending()).await.unwrap();
    let counters = check("new rows", &store, &pool, &collector, &counters).await;

    // Partition b (12 hours inside the 24h window) leaves both logs: no trigger fires.
    sql(
        &pool,
        "ALTER TABLE webhook_events DETACH PARTITION webhook_events_b;
                ALTER TABLE sync_attempts DETACH PARTITION sync_attempts_b",
    )
    .await;
    let counters = check("detach", &store, &pool, &collector, &counters).await;

    // Rows written into the detached tables meanwhile (a restore, a backfill) come back with the
    // partition: their transactions are new to the exporter, but the rollup never counted them.
    sql(
        &pool,
        &format!(
            "INSERT INTO webhook_events_b (event_id, org_id, entity_name, received_at, outcome, http_status,
                                       rejection_reason)
         SELECT gen_random_uuid(), 'contoso', 'restored', '{}'::timestamptz + n * interval '1 minute',
                CASE WHEN n % 2 = 0 THEN 'accepted' ELSE 'rejected' END,
                CASE WHEN n % 2 = 0 THEN 202 ELSE 401 END, CASE WHEN n % 2 = 1 THEN 'invalid_auth' END
         FROM generate_series(1, 40) AS n;
         {}",
            at(-17),
            attempts_sql("sync_attempts_b", "webhook_events_b", "entity_name = 'restored'")
        ),
    )
    .await;
    sql(
        &pool,
        &format!(
        "ALTER TABLE webhook_events ATTACH PARTITION webhook_events_b FOR VALUES FROM ('{b0}') TO ('{b1}');
         ALTER TABLE sync_attempts ATTACH PARTITION sync_attempts_b FOR VALUES FROM ('{b0}') TO ('{b1}')",
        b0 = at(-18),
        b1 = at(-6)
    ),
    )
    .await;
    let counters = check("attach with rows", &store, &pool, &collector, &counters).await;

    // Retention by partition: a (partly inside the 24h window) is dropped.
    sql(&pool, "DROP TABLE webhook_events_a; DROP TABLE sync_attempts_a").await;
    let counters = check("drop", &store, &pool, &collector, &counters).await;

    // Detached, written and attached again between two refreshes: the catalog row still moved.
    sql(
        &pool,
        &format!(
            "ALTER TABLE webhook_events DETACH PARTITION webhook_events_c;
         INSERT INTO webhook_events_c (event_id, org_id, received_at, outcome, http_status)
         SELECT gen_random_uuid(), 'fabrikam', now() - n * interval '1 minute', 'failed', 500
         FROM generate_series(1, 10) AS n;
         ALTER TABLE webhook_events ATTACH PARTITION webhook_events_c FOR VALUES FROM ('{}') TO ('{}')",
            at(-6),
            at(48)
        ),
    )
    .await;
    let counters = check("detach, write, attach", &store, &pool, &collector, &counters).await;

    // Deletes through the parent fire its statement trigger: the deletion marks move.
    let before: (i64, i64) = marks(&pool).await;
    sql(&pool, "DELETE FROM sync_attempts WHERE finished_at > now() - interval '2 hours';
                DELETE FROM webhook_events WHERE received_at > now() - interval '2 hours' AND outcome = 'rejected'")
        .await;
    let after = marks(&pool).await;
    assert!(after.0 > before.0 && after.1 > before.1, "deletion marks {before:?} -> {after:?}");
    check("delete through the parent", &store, &pool, &collector, &counters).await;

    // What the docs warn of: a statement naming a partition fires none of the parent's triggers.
    let total = "SELECT CAST(sum(count) AS bigint) FROM webhook_event_totals";
    let before: i64 = sqlx::query_scalar(total).fetch_one(&pool).await.unwrap();
    sql(
        &pool,
        "INSERT INTO webhook_events_c (event_id, org_id, outcome, http_status)
                VALUES (gen_random_uuid(), 'contoso', 'accepted', 202)",
    )
    .await;
    let after: i64 = sqlx::query_scalar(total).fetch_one(&pool).await.unwrap();
    assert_eq!(after, before, "an insert into a partition is not in the totals: write through the parent");
    pool.close().await;
}

async fn marks(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT statements FROM webhook_event_deletions), (SELECT statements FROM sync_attempt_deletions)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The columns of both logs as the migrations define them: the partitioned tables must not drift.
async fn columns(pool: &PgPool) -> Vec<(String, String, String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, column_default::text
         FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name IN ('webhook_events', 'sync_attempts')
         ORDER BY table_name, column_name",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}
