//! Conformance suite, run on PostgreSQL and SQLite: every figure the exporter serves equals a
//! direct SQL count over the store at the same moment, after history and after incremental reads.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::Row;
use webhook_health_exporter::collector::{CollectorConfig, LogCollector};
use webhook_health_exporter::domain::RejectionReason;
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::snapshot::{OrgSnapshot, Snapshot};
use webhook_health_exporter::store::{sqlite_timestamp, Store};

/// Figures keyed the way the metrics are labelled.
#[derive(Debug, Default, PartialEq)]
struct Figures {
    received: BTreeMap<String, u64>,
    /// Over all orgs: (reason, code)
    rejected: BTreeMap<(String, String), u64>,
    /// Over all orgs: code
    failed: BTreeMap<String, u64>,
    window_received: BTreeMap<(String, String), u64>,
    window_rejected: BTreeMap<(String, String), u64>,
    /// (window, org, reason, code)
    window_rejected_by_reason: BTreeMap<(String, String, String, String), u64>,
    window_failed: BTreeMap<(String, String), u64>,
    queue_depth: BTreeMap<String, u64>,
}

/// The same mapping the exporter documents: unknown orgs to `_unknown`, unknown reasons to `other`.
fn grouped_sql(filter: &str) -> String {
    let vocab: Vec<String> = RejectionReason::ALL.iter().map(|r| format!("'{}'", r.as_str())).collect();
    format!(
        "SELECT CASE WHEN org_id IN (SELECT org_id FROM organizations) THEN org_id ELSE '_unknown' END AS org,
                outcome, http_status,
                CASE WHEN rejection_reason IN ({}) THEN rejection_reason ELSE 'other' END AS reason,
                count(*) AS n
         FROM webhook_events {filter} GROUP BY 1, 2, 3, 4",
        vocab.join(", ")
    )
}

type Group = (String, String, i32, String, i64);

async fn groups(store: &Store, since: Option<DateTime<Utc>>) -> Vec<Group> {
    let sql = grouped_sql(if since.is_some() { "WHERE received_at > $1" } else { "" });
    macro_rules! run {
        ($pool:expr, $bind:expr) => {{
            let mut q = sqlx::query(&sql);
            if let Some(b) = $bind {
                q = q.bind(b);
            }
            q.fetch_all($pool)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get("org"), r.get("outcome"), r.get("http_status"), r.get("reason"), r.get("n")))
                .collect()
        }};
    }
    match store {
        Store::Postgres(s) => run!(s.pool(), since),
        Store::Sqlite(s) => run!(s.pool(), since.map(sqlite_timestamp)),
    }
}

async fn queue_depths(store: &Store) -> BTreeMap<String, u64> {
    let sql = "SELECT org_id, count(*) AS n FROM sync_queue WHERE state = 'pending' GROUP BY org_id";
    let rows: Vec<(String, i64)> = match store {
        Store::Postgres(s) => sqlx::query_as(sql).fetch_all(s.pool()).await.unwrap(),
        Store::Sqlite(s) => sqlx::query_as(sql).fetch_all(s.pool()).await.unwrap(),
    };
    rows.into_iter().map(|(o, n)| (o, n as u64)).collect()
}

async fn ground_truth(store: &Store, now: DateTime<Utc>, windows: &[(&str, Duration)]) -> Figures {
    let mut f = Figures::default();
    for (org, outcome, code, reason, n) in groups(store, None).await {
        let n = n as u64;
        *f.received.entry(org.clone()).or_default() += n;
        match outcome.as_str() {
            "rejected" => *f.rejected.entry((reason, code.to_string())).or_default() += n,
            "failed" => *f.failed.entry(code.to_string()).or_default() += n,
            _ => {}
        }
    }
    for (label, d) in windows {
        for (org, outcome, code, reason, n) in groups(store, Some(now - *d)).await {
            let n = n as u64;
            let w = label.to_string();
            *f.window_received.entry((w.clone(), org.clone())).or_default() += n;
            match outcome.as_str() {
                "rejected" => {
                    *f.window_rejected.entry((w.clone(), org.clone())).or_default() += n;
                    *f.window_rejected_by_reason.entry((w, org, reason, code.to_string())).or_default() += n;
                }
                "failed" => *f.window_failed.entry((w, org)).or_default() += n,
                _ => {}
            }
        }
    }
    f.queue_depth = queue_depths(store).await;
    f
}

/// The snapshot in the same shape, leaving out the zero series the exporter adds for known orgs.
fn served(s: &Snapshot) -> Figures {
    let mut f = Figures::default();
    for o in &s.orgs {
        let org = o.org.to_string();
        if o.received_total > 0 {
            f.received.insert(org.clone(), o.received_total);
        }
        for w in &o.windows {
            if w.received > 0 {
                f.window_received.insert((w.window.to_string(), org.clone()), w.received);
            }
            if w.rejected > 0 {
                f.window_rejected.insert((w.window.to_string(), org.clone()), w.rejected);
            }
            for (reason, code, n) in &w.rejected_by_reason {
                assert!(*n > 0, "only pairs that occurred in the window are served");
                let key = (w.window.to_string(), org.clone(), reason.as_str().into(), code.to_string());
                f.window_rejected_by_reason.insert(key, *n);
            }
            if w.failed > 0 {
                f.window_failed.insert((w.window.to_string(), org.clone()), w.failed);
            }
        }
    }
    for (reason, code, n) in &s.rejected_totals {
        f.rejected.insert((reason.as_str().into(), code.clone()), *n);
    }
    for (code, n) in &s.failed_totals {
        f.failed.insert(code.clone(), *n);
    }
    for q in &s.queues {
        if q.depth > 0 {
            f.queue_depth.insert(q.org.clone(), q.depth);
        }
    }
    f
}

const WINDOWS: [(&str, i64); 3] = [("15m", 15), ("1h", 60), ("24h", 1440)];

fn config(batch_size: i64) -> CollectorConfig {
    let windows = WINDOWS.iter().map(|(l, m)| (l.to_string(), vec![l.to_string()], *m)).collect::<Vec<_>>();
    let windows = webhook_health_exporter::config::parse_windows(
        &windows.iter().map(|(l, _, _)| l.clone()).collect::<Vec<_>>(),
    )
    .unwrap();
    CollectorConfig { windows, batch_size, ..CollectorConfig::default() }
}

fn window_durations() -> Vec<(&'static str, Duration)> {
    WINDOWS.iter().map(|(l, m)| (*l, Duration::minutes(*m))).collect()
}

async fn assert_exact(store: &Store, collector: &LogCollector, now: DateTime<Utc>) {
    let truth = ground_truth(store, now, &window_durations()).await;
    let got = served(&collector.snapshot(now));
    assert!(!truth.received.is_empty(), "the simulator wrote nothing");
    assert_eq!(got, truth, "the exporter's figures differ from SQL at {now}");
}

async fn history_then_incremental(_url: String, store: Store) {
    let t0 = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let sim = SimConfig {
        seed: 7,
        orgs: 12,
        events: 6_000,
        days: 2.0,
        end: t0 - Duration::hours(1),
        ..SimConfig::default()
    };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();

    let collector = LogCollector::new(store.clone(), config(250));
    collector.collect(t0, Instant::now()).await.unwrap();
    assert_exact(&store, &collector, t0).await;

    // More traffic, some of it older than rows already read (late rows), read in small batches.
    let sim2 = SimConfig { seed: 8, events: 4_000, days: 0.5, end: t0, ..sim.clone() };
    simulate::run(&store, &sim2, std::future::pending()).await.unwrap();
    let t1 = t0 + Duration::minutes(20);
    collector.collect(t1, Instant::now()).await.unwrap();
    assert_exact(&store, &collector, t1).await;

    // Time moves on with nothing new: windows shrink exactly.
    for later in [t1 + Duration::minutes(30), t1 + Duration::hours(5), t1 + Duration::hours(30)] {
        assert_exact(&store, &collector, later).await;
    }
}
on_both_backends!(exact_after_history_and_incremental_reads, super::history_then_incremental);

async fn bounded_labels(_url: String, store: Store) {
    let t0 = Utc::now();
    let sim = SimConfig { seed: 3, orgs: 4, events: 20_000, days: 1.0, end: t0, ..SimConfig::default() };
    simulate::run(&store, &sim, std::future::pending()).await.unwrap();
    let collector = LogCollector::new(store.clone(), config(50_000));
    collector.collect(t0, Instant::now()).await.unwrap();
    let s = collector.snapshot(t0);
    let unknown =
        s.orgs.iter().find(|o| &*o.org == "_unknown").expect("unknown orgs are grouped under _unknown");
    let reasons = |o: &OrgSnapshot| {
        let longest = o.windows.iter().max_by_key(|w| w.received).unwrap();
        longest.rejected_by_reason.iter().map(|(r, _, n)| (*r, *n)).collect::<Vec<_>>()
    };
    assert!(reasons(unknown).iter().all(|(r, _)| *r == RejectionReason::UnknownOrganization));
    let other: u64 = s
        .orgs
        .iter()
        .flat_map(|o| reasons(o))
        .filter(|(r, _)| *r == RejectionReason::Other)
        .map(|(_, n)| n)
        .sum();
    assert!(other > 0, "a reason outside the vocabulary (geo_blocked) is counted as other");
    assert_eq!(s.orgs.len(), 5, "4 orgs and _unknown, however many unknown org ids were sent");
    // Every configured org has its window series, zero or not.
    for o in s.orgs.iter().filter(|o| o.endpoint.is_some()) {
        assert_eq!(o.windows.len(), WINDOWS.len());
    }
}
on_both_backends!(labels_stay_bounded, super::bounded_labels);
