//! The portal sync service's side of the simulated history, written into the log store as a sync
//! service would have left it, so that the sync panels have something to show: items synced and
//! given up over the two days, two payloads unaccounted for, and one org whose sync stopped two
//! hours ago, with a backlog, items in flight and leases run out (the others are up to date). And the check of the "Recent sync give-ups" table against that log.

use super::sql::{assert_newest_rows, Cell, Rows};
use super::*;

/// The backlogged org of the simulator (its sync stopped in the last two hours).
const STALLED: &str = "northwind";
/// The org with two accepted payloads the sync service marked done without a logged sync.
const UNACCOUNTED: &str = "wingtip";
/// Items claimed by the test's worker at the end, and how many of them lost their lease.
const CLAIMED: i32 = 8;
const LEASE_EXPIRED: usize = 2;

/// Runs one statement of the fixture, naming it when it fails.
async fn exec(conn: &mut PgConnection, what: &str, statement: &str) {
    sqlx::query(statement).execute(&mut *conn).await.unwrap_or_else(|e| panic!("sync history, {what}: {e}"));
}

/// Writes the sync service's history over the simulated traffic ending at `now`.
pub(super) async fn sync_history(url: &str) {
    let mut conn = PgConnection::connect(url).await.expect("connecting to write the sync history");
    // This history is written here, over the payloads alone: what the simulator's own sync
    // service did is taken back (its log, its totals, its items' states).
    for statement in [
        "DELETE FROM sync_attempts",
        "DELETE FROM sync_attempt_totals",
        "UPDATE sync_queue SET state = 'pending', attempts = 0, claimed_by = NULL, claimed_at = NULL,
                lease_until = NULL, visible_at = NULL, last_error = NULL, last_error_class = NULL,
                last_http_status = NULL",
    ] {
        exec(&mut conn, "taking the simulated sync service's work back", statement).await;
    }
    // The history simulator enqueues only the backlogged org's last two hours: every other
    // accepted payload went through the queue as well (the same received time).
    exec(
        &mut conn,
        "enqueueing",
        "INSERT INTO sync_queue (org_id, event_id, enqueued_at, updated_at)
         SELECT e.org_id, e.event_id, e.received_at, e.received_at FROM webhook_events AS e
         WHERE e.outcome = 'accepted'
           AND NOT EXISTS (SELECT 1 FROM sync_queue AS q WHERE q.event_id = e.event_id)",
    )
    .await;
    // The silent divergence: an item 20 minutes old and one 30 hours old marked done by a sync
    // service that bypassed sync_finish (no attempt logged).
    exec(
        &mut conn,
        "marking items done without a logged sync",
        &format!(
            "UPDATE sync_queue SET state = 'done', attempts = 1, updated_at = now() WHERE id IN (
                (SELECT id FROM sync_queue WHERE org_id = '{UNACCOUNTED}' AND state = 'pending'
                   AND enqueued_at < now() - interval '20 minutes' ORDER BY enqueued_at DESC LIMIT 1),
                (SELECT id FROM sync_queue WHERE org_id = '{UNACCOUNTED}' AND state = 'pending'
                   AND enqueued_at < now() - interval '30 hours' ORDER BY enqueued_at DESC LIMIT 1))"
        ),
    )
    .await;
    // Every item older than 2 minutes (the stalled org's: older than 2h15) was finished: mostly
    // within seconds, every 10th in 7 minutes, every 50th in 1h30. Give-ups: every 8th of
    // fabrikam's, every 15th of tailspin's, every 40th of contoso's, each after a retry; every
    // 25th success came after an attempt abandoned by a lost worker.
    exec(
        &mut conn,
        "deciding each item's fate",
        &format!(
            "CREATE TEMP TABLE fate AS
             SELECT i.*,
                    CASE WHEN org_id = 'fabrikam' AND n % 8 = 0 THEN 'portal_rejected'
                         WHEN org_id = 'tailspin' AND n % 15 = 0 THEN 'portal_auth'
                         WHEN org_id = 'contoso' AND n % 40 = 0 THEN 'timeout' END AS gave_up,
                    least(received_at + make_interval(secs => CASE WHEN n % 50 = 0 THEN 5400
                                                                   WHEN n % 10 = 0 THEN 420
                                                                   ELSE 2 + n % 40 END),
                          now() - interval '1 minute') AS finished_at
             FROM (SELECT q.id, q.event_id, q.org_id, q.enqueued_at AS received_at,
                          row_number() OVER (PARTITION BY q.org_id ORDER BY q.enqueued_at) AS n
                   FROM sync_queue AS q
                   WHERE q.state = 'pending'
                     AND q.enqueued_at < now() - CASE WHEN q.org_id = '{STALLED}'
                                                      THEN interval '135 minutes'
                                                      ELSE interval '2 minutes' END) AS i"
        ),
    )
    .await;
    exec(
        &mut conn,
        "logging the attempts",
        "INSERT INTO sync_attempts (event_id, org_id, item_id, attempt, worker, received_at, started_at,
                                    finished_at, outcome, error_class, http_status, error_detail)
         SELECT event_id, org_id, id, a.attempt, 'sync-worker-' || (id % 3), received_at,
                finished_at - a.before - interval '1 second', finished_at - a.before,
                a.outcome, a.class, a.status, a.detail
         FROM fate CROSS JOIN LATERAL (VALUES
             (1, interval '30 seconds', 'retrying', 'portal_unavailable', 503, 'portal answered 503', gave_up IS NOT NULL),
             (2, interval '0', 'gave_up', gave_up,
              CASE gave_up WHEN 'portal_rejected' THEN 422 WHEN 'portal_auth' THEN 401 END,
              'portal refused the item: ' || gave_up, gave_up IS NOT NULL),
             (1, interval '60 seconds', 'abandoned', 'worker_lost', NULL, 'lease of worker sync-worker-0 ran out',
              gave_up IS NULL AND n % 25 = 0),
             (CASE WHEN n % 25 = 0 THEN 2 ELSE 1 END, interval '0', 'succeeded', NULL, NULL, NULL, gave_up IS NULL)
         ) AS a(attempt, before, outcome, class, status, detail, happened)
         WHERE a.happened",
    )
    .await;
    exec(
        &mut conn,
        "finishing the items",
        "UPDATE sync_queue AS q
         SET state = CASE WHEN f.gave_up IS NULL THEN 'done' ELSE 'failed' END,
             attempts = CASE WHEN f.gave_up IS NOT NULL OR f.n % 25 = 0 THEN 2 ELSE 1 END,
             updated_at = f.finished_at, last_error_class = f.gave_up
         FROM fate AS f WHERE q.id = f.id",
    )
    .await;
    // Now: a worker claims the oldest waiting items (the stalled org's), gives one up, retries
    // one later, and dies holding the rest, two of them past their lease already.
    let claimed: Vec<(i64, i32)> = sqlx::query_as(
        "SELECT item_id, attempt FROM sync_claim('dashboard-test-worker', $1, interval '10 minutes')",
    )
    .bind(CLAIMED)
    .fetch_all(&mut conn)
    .await
    .expect("claiming items");
    assert_eq!(claimed.len(), CLAIMED as usize, "the stalled org has too few waiting items to claim");
    for ((item, attempt), (outcome, class, status)) in
        claimed.iter().zip([("gave_up", "portal_rejected", 400), ("retrying", "portal_unavailable", 503)])
    {
        let done: bool =
            sqlx::query_scalar("SELECT sync_finish($1, $2, $3, $4, $5, 'test: ' || $4, interval '1 hour')")
                .bind(item)
                .bind(attempt)
                .bind(outcome)
                .bind(class)
                .bind(status)
                .fetch_one(&mut conn)
                .await
                .expect("finishing a claimed item");
        assert!(done, "sync_finish refused item {item}");
    }
    let expired: Vec<i64> = claimed[2..2 + LEASE_EXPIRED].iter().map(|(item, _)| *item).collect();
    exec(
        &mut conn,
        "letting leases run out",
        &format!(
            "UPDATE sync_queue SET lease_until = now() - interval '1 minute' WHERE id IN ({})",
            expired.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        ),
    )
    .await;
}

/// The newest give-ups and abandoned attempts of the selected organizations in the range, at
/// most LIMIT, with their attempt, error class and the portal's status.
pub(super) async fn check_sync_give_ups(
    admin: &mut PgConnection,
    at: &str,
    selection: Selection,
    range: (DateTime<Utc>, DateTime<Utc>),
    limit: usize,
    rows: &Rows,
) {
    let truth = "SELECT finished_at, org_id, event_id::text FROM sync_attempts
                 WHERE outcome IN ('gave_up', 'abandoned') AND finished_at BETWEEN $1 AND $2";
    assert_newest_rows(admin, at, selection, range, (limit, rows), truth).await;
    for row in rows {
        let outcome = row["outcome"].text();
        assert!(["gave_up", "abandoned"].contains(&outcome), "{at}: outcome {outcome}");
        assert!(matches!(row["attempt"], Cell::Int(1..)), "{at}: attempt {:?}", row["attempt"]);
        let class = row["error_class"].text();
        assert!(!class.is_empty(), "{at}: a give-up without an error class");
        assert!(outcome != "abandoned" || class == "worker_lost", "{at}: abandoned as {class}");
        assert!(
            matches!(row["http_status"], Cell::Int(100..=599) | Cell::Null),
            "{at}: {:?}",
            row["http_status"]
        );
        assert!(matches!(row["error_detail"], Cell::Text(_)), "{at}: error_detail {:?}", row["error_detail"]);
    }
}
