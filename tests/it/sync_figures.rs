//! The sync service's figures, on PostgreSQL and SQLite and on a pgmq queue: every figure the exporter serves about
//! what became of queued events equals a direct SQL count over the store, after history, after
//! incremental reads, after a restart and across retention; and every way of losing an event
//! (a queue item deleted, an item that never reached the queue, an item marked done without a
//! logged success) shows as unaccounted while every other event does not.

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use webhook_health_exporter::collector::{CollectorConfig, LogCollector};
use webhook_health_exporter::domain::sync::{SyncErrorClass, SyncOutcome, LAG_BUCKETS};
use webhook_health_exporter::snapshot::Snapshot;
use webhook_health_exporter::store::sync::{Claim, Finish};
use webhook_health_exporter::store::{NewOrganization, Store, SyncQueue};

use crate::support::pgmq::open_items_sql;
use crate::support::{counts_since, execute, receive_accepted};

const WINDOWS: [(&str, i64); 2] = [("1h", 60), ("24h", 1440)];

#[derive(Debug, Default, Clone, PartialEq)]
struct Figures {
    /// (window, org) -> count, only above 0.
    synced: BTreeMap<(String, String), u64>,
    given_up: BTreeMap<(String, String), u64>,
    unaccounted: BTreeMap<(String, String), u64>,
    /// "outcome/class/code" -> count.
    attempts: BTreeMap<String, u64>,
    /// Per bucket (not cumulative), +Inf last.
    lag: Vec<u64>,
    last_success: BTreeMap<String, i64>,
    in_flight: BTreeMap<String, u64>,
    lease_expired: BTreeMap<String, u64>,
    /// Waiting items, and of those reprocess items.
    depth: BTreeMap<String, u64>,
    reprocess_depth: BTreeMap<String, u64>,
    /// The oldest waiting item's age in milliseconds, which the served figure reads on its own
    /// clock (compared apart, by [`assert_exact`]).
    oldest_ms: BTreeMap<String, i64>,
}

impl Figures {
    fn without_ages(mut self) -> (Figures, BTreeMap<String, i64>) {
        let ages = std::mem::take(&mut self.oldest_ms);
        (self, ages)
    }
}

/// The org label of a row, as the exporter attributes window figures.
pub(crate) const ORG: &str =
    "CASE WHEN org_id IN (SELECT org_id FROM organizations WHERE active) THEN org_id ELSE '_unknown' END";

/// Accepted events received after `$1` that are neither synced, nor waiting or in flight, nor
/// given up, per org label: `webhook_sync_window_events_unaccounted`.
pub(crate) fn unaccounted_sql(open_items: &str) -> String {
    format!(
        "SELECT {ORG}, count(*) FROM webhook_events e
         WHERE received_at > $1 AND outcome = 'accepted'
           AND NOT EXISTS (SELECT 1 FROM sync_attempts a WHERE a.event_id = e.event_id
                           AND a.outcome IN ('succeeded', 'gave_up'))
           AND NOT EXISTS (SELECT 1 FROM ({open}) AS q WHERE q.event_id = CAST(e.event_id AS text))
         GROUP BY 1",
        open = open_items
    )
}

/// The queue's statements of this test, per implementation: a sync service giving up on three
/// waiting items of alpha by hand, two of them deleted, one of ghost's marked done without a
/// logged success, one given-up event reprocessed.
fn open_items(store: &Store) -> String {
    open_items_sql(store.backend(), store.queue())
}

fn by_hand(store: &Store) -> [String; 4] {
    let SyncQueue::Pgmq(q) = store.queue() else {
        return [
            "UPDATE sync_queue SET state = 'failed', attempts = 5, last_error = 'portal API 500'
             WHERE id IN (SELECT id FROM sync_queue WHERE state = 'pending' AND org_id = 'alpha' ORDER BY id LIMIT 3)".into(),
            "DELETE FROM sync_queue WHERE id IN (SELECT id FROM sync_queue WHERE state = 'pending' AND org_id = 'alpha' ORDER BY id LIMIT 2)".into(),
            "UPDATE sync_queue SET state = 'done' WHERE id IN (SELECT id FROM sync_queue WHERE state = 'pending' AND org_id = 'ghost' ORDER BY id LIMIT 1)".into(),
            "INSERT INTO sync_queue (org_id, event_id, enqueued_at, updated_at, reprocess)
             SELECT org_id, event_id, enqueued_at, updated_at, true FROM sync_queue WHERE state = 'failed' LIMIT 1".into(),
        ];
    };
    let waiting = |org: &str, n: usize| {
        format!("(SELECT msg_id, message FROM pgmq.q_{q} WHERE read_ct = 0 AND message->>'org_id' = '{org}' ORDER BY msg_id LIMIT {n})")
    };
    [
        format!(
            "SELECT sync_record_attempt((w.message->>'event_id')::uuid, 'alpha', 5, now(), 'gave_up', NULL, NULL,
                 'portal API 500', NULL, w.msg_id, false, 'pgmq:{q}'), pgmq.archive('{q}', w.msg_id) FROM {} AS w",
            waiting("alpha", 3)
        ),
        format!("SELECT pgmq.delete('{q}', w.msg_id) FROM {} AS w", waiting("alpha", 2)),
        format!("SELECT pgmq.archive('{q}', w.msg_id) FROM {} AS w", waiting("ghost", 1)),
        format!(
            "SELECT pgmq.send('{q}', jsonb_build_object('event_id', event_id, 'org_id', org_id, 'reprocess', true))
             FROM (SELECT event_id, org_id FROM sync_attempts WHERE outcome = 'gave_up' LIMIT 1) AS g"
        ),
    ]
}

async fn counted(store: &Store, sql: &str, since: DateTime<Utc>) -> BTreeMap<String, u64> {
    counts_since(store, sql, since)
        .await
        .into_iter()
        .map(|(k, n)| (k, n as u64))
        .filter(|(_, n)| *n > 0)
        .collect()
}

async fn times(store: &Store, sql: &str) -> Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> {
    match store {
        Store::Postgres(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
        Store::Sqlite(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn ground_truth(store: &Store, now: DateTime<Utc>) -> Figures {
    let mut f = Figures::default();
    for (label, minutes) in WINDOWS {
        let since = now - Duration::minutes(minutes);
        let per_org = |outcome: &str| {
            format!("SELECT {ORG}, count(*) FROM sync_attempts WHERE outcome = '{outcome}' AND finished_at > $1 GROUP BY 1")
        };
        for (org, n) in counted(store, &per_org("succeeded"), since).await {
            f.synced.insert((label.into(), org), n);
        }
        for (org, n) in counted(store, &per_org("gave_up"), since).await {
            f.given_up.insert((label.into(), org), n);
        }
        for (org, n) in counted(store, &unaccounted_sql(&open_items(store)), since).await {
            f.unaccounted.insert((label.into(), org), n);
        }
    }
    let epoch = DateTime::from_timestamp(0, 0).unwrap();
    f.attempts = counted(
        store,
        "SELECT outcome || '/' || coalesce(error_class, 'none') || '/' || coalesce(CAST(http_status AS text), 'none'),
                count(*) FROM sync_attempts WHERE finished_at > $1 GROUP BY 1",
        epoch,
    )
    .await;
    f.lag = vec![0; LAG_BUCKETS.len() + 1];
    let successes = format!(
        "SELECT {ORG}, finished_at, received_at FROM sync_attempts WHERE outcome = 'succeeded' ORDER BY finished_at"
    );
    for (org, finished, received) in times(store, &successes).await {
        let last = f.last_success.entry(org).or_default();
        *last = (*last).max(finished.timestamp_micros());
        if let Some(received) = received {
            let lag = ((finished - received).num_microseconds().unwrap() as f64 / 1e6).max(0.0);
            f.lag[LAG_BUCKETS.iter().position(|b| lag <= *b).unwrap_or(LAG_BUCKETS.len())] += 1;
        }
    }
    let queue = |cond: &str| {
        format!(
            "SELECT {ORG}, count(*) FROM ({}) AS q WHERE {cond} AND enqueued_at > $1 GROUP BY 1",
            open_items(store)
        )
    };
    f.in_flight = counted(store, &queue("held"), epoch).await;
    f.depth = counted(store, &queue("NOT held"), epoch).await;
    f.reprocess_depth = counted(store, &queue("NOT held AND reprocess"), epoch).await;
    let oldest = format!(
        "SELECT {ORG}, min(enqueued_at), min(enqueued_at) FROM ({}) AS q WHERE NOT held GROUP BY 1",
        open_items(store)
    );
    for (org, at, _) in times(store, &oldest).await {
        f.oldest_ms.insert(org, (now - at).num_microseconds().unwrap() / 1000);
    }
    f.lease_expired = counted(store, &queue("expired"), epoch).await;
    f
}

fn served(s: &Snapshot) -> Figures {
    let mut f = Figures::default();
    for o in &s.orgs {
        let org = o.org.to_string();
        for w in &o.windows {
            let key = (w.window.to_string(), org.clone());
            for (map, n) in [
                (&mut f.synced, w.synced),
                (&mut f.given_up, w.given_up),
                (&mut f.unaccounted, w.unaccounted),
            ] {
                if n > 0 {
                    map.insert(key.clone(), n);
                }
            }
        }
        if let Some(t) = o.last_synced {
            f.last_success.insert(org, t.timestamp_micros());
        }
    }
    for (outcome, class, code, n) in &s.sync.attempts {
        f.attempts.insert(format!("{outcome}/{class}/{code}"), *n);
    }
    f.lag = s.sync.lag.buckets.iter().map(|(_, n)| *n).collect();
    for q in &s.queues {
        if q.in_flight > 0 {
            f.in_flight.insert(q.org.clone(), q.in_flight);
        }
        if q.lease_expired > 0 {
            f.lease_expired.insert(q.org.clone(), q.lease_expired);
        }
        if q.depth > 0 {
            f.depth.insert(q.org.clone(), q.depth);
        }
        if q.reprocess_depth > 0 {
            f.reprocess_depth.insert(q.org.clone(), q.reprocess_depth);
        }
        if let Some(age) = q.oldest_age_seconds {
            f.oldest_ms.insert(q.org.clone(), (age * 1e6).round() as i64 / 1000);
        }
    }
    f
}

fn collector(store: &Store) -> std::sync::Arc<LogCollector> {
    let labels: Vec<String> = WINDOWS.iter().map(|(l, _)| l.to_string()).collect();
    let windows = webhook_health_exporter::config::parse_windows(&labels).unwrap();
    LogCollector::new(store.clone(), CollectorConfig { windows, batch_size: 7, ..CollectorConfig::default() })
}

async fn assert_exact(store: &Store, collector: &LogCollector, what: &str) -> Figures {
    let now = Utc::now();
    collector.collect(now, Instant::now()).await.unwrap();
    let (truth, ages) = ground_truth(store, now).await.without_ages();
    let (got, got_ages) = served(&collector.snapshot(now)).without_ages();
    assert_eq!(got, truth, "{what}: the exporter's sync figures differ from SQL");
    assert_eq!(got_ages.keys().collect::<Vec<_>>(), ages.keys().collect::<Vec<_>>(), "{what}: oldest ages");
    for (org, age) in &ages {
        let late = got_ages[org] - age;
        assert!(
            (0..1000).contains(&late),
            "{what}: oldest item of {org}: {} ms served, {age} ms in SQL",
            got_ages[org]
        );
    }
    truth
}

fn claim(worker: &str, limit: i64, lease_ms: u64) -> Claim<'_> {
    Claim { worker, limit, lease: StdDuration::from_millis(lease_ms), max_attempts: 3 }
}

async fn work(store: &Store, limit: i64, finish: &Finish) -> usize {
    let items = store.sync_claim(&claim("w1", limit, 60_000)).await.unwrap();
    for item in &items {
        assert!(store.sync_finish(item.item_id, item.attempt, finish).await.unwrap());
    }
    items.len()
}

async fn every_figure_is_exact(_url: String, store: Store) {
    let now = Utc::now();
    for org in ["alpha", "beta"] {
        let o = NewOrganization {
            org_id: org.into(),
            display_name: org.into(),
            endpoint_url: format!("https://{org}.example/hook"),
            changed_at: now - Duration::days(3),
        };
        store.upsert_organization(&o).await.unwrap();
    }
    receive_accepted(&store, "beta", 6, now - Duration::minutes(90), true).await;
    receive_accepted(&store, "alpha", 30, now - Duration::minutes(10), true).await;
    receive_accepted(&store, "ghost", 3, now - Duration::minutes(5), true).await;

    // The oldest items first: beta's all synced, 90 minutes after they arrived.
    assert_eq!(work(&store, 6, &Finish::succeeded()).await, 6);
    let c = collector(&store);
    let f = assert_exact(&store, &c, "history").await;
    assert_eq!(f.synced.get(&("24h".into(), "beta".into())), Some(&6));
    assert!(f.unaccounted.is_empty(), "nothing lost yet: {f:?}");

    // A steady mix: successes, retries (503), give-ups (422), and unknown classes folded.
    work(&store, 6, &Finish::succeeded()).await;
    let mut retry =
        Finish::failed(SyncOutcome::Retrying, SyncErrorClass::PortalUnavailable, Some(503), "down");
    retry.retry_in = StdDuration::ZERO;
    work(&store, 2, &retry).await;
    work(
        &store,
        2,
        &Finish::failed(SyncOutcome::GaveUp, SyncErrorClass::InvalidData, Some(422), "bad field"),
    )
    .await;
    let f = assert_exact(&store, &c, "incremental").await;
    assert_eq!(f.given_up.get(&("1h".into(), "alpha".into())), Some(&2));
    assert!(f.attempts.contains_key("retrying/portal_unavailable/503"), "{f:?}");

    // A worker vanishes mid-item: its items are in flight, then past their lease.
    let held = store.sync_claim(&claim("w2", 3, 1)).await.unwrap();
    assert_eq!(held.len(), 3);
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    let f = assert_exact(&store, &c, "leases run out").await;
    assert_eq!(f.lease_expired.values().sum::<u64>(), 3, "{f:?}");
    // The next claim returns them, logging each abandoned attempt; its own items succeed.
    work(&store, 4, &Finish::succeeded()).await;
    let f = assert_exact(&store, &c, "abandoned").await;
    assert_eq!(f.attempts.get("abandoned/worker_lost/none"), Some(&3), "{f:?}");

    // The hand test: a sync service giving up by writing the queue directly.
    let [give_up, delete, done, reprocess] = by_hand(&store);
    execute(&store, &give_up).await;
    let f = assert_exact(&store, &c, "given up by hand").await;
    assert_eq!(f.given_up.get(&("1h".into(), "alpha".into())), Some(&5), "{f:?}");
    assert!(f.unaccounted.is_empty(), "a give-up is accounted for: {f:?}");

    // Three ways to lose an event, each counted once.
    execute(&store, &delete).await;
    receive_accepted(&store, "alpha", 2, now - Duration::minutes(2), false).await;
    execute(&store, &done).await;
    let f = assert_exact(&store, &c, "losses").await;
    assert_eq!(f.unaccounted.get(&("1h".into(), "alpha".into())), Some(&4), "{f:?}");
    assert_eq!(f.unaccounted.get(&("24h".into(), "_unknown".into())), Some(&1), "{f:?}");

    // Reprocessing a given-up event (a new flagged item) makes it waiting, not lost.
    execute(&store, &reprocess).await;
    let before = assert_exact(&store, &c, "reprocess enqueued").await;

    // A restart reads it all back as history.
    let restarted = collector(&store);
    let after = assert_exact(&store, &restarted, "after a restart").await;
    assert_eq!(after.without_ages().0, before.clone().without_ages().0);

    // Retention of the attempt log: windows and unaccounted events follow the table, counters,
    // the histogram and last-success times stay (the totals rollup), also across a restart.
    execute(&store, "DELETE FROM sync_attempts WHERE org_id = 'beta'").await;
    for c in [&restarted, &collector(&store)] {
        let now = Utc::now();
        c.collect(now, Instant::now()).await.unwrap();
        let (truth, got) = (ground_truth(&store, now).await, served(&c.snapshot(now)));
        assert_eq!(got.synced, truth.synced, "retention: windows follow the table");
        assert!(!got.synced.contains_key(&("24h".into(), "beta".into())));
        assert_eq!(got.unaccounted, truth.unaccounted, "retention: what the table says of each event");
        assert_eq!(
            (&got.attempts, &got.lag, &got.last_success),
            (&before.attempts, &before.lag, &before.last_success),
            "retention: counters stay"
        );
    }
}
on_every_queue!(sync_figures_are_exact, super::every_figure_is_exact);
