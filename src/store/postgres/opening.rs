//! The refresh's opening statement, made once per store (its text depends on the sync queue
//! only), and the decoding of its queue part.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::follow;
use crate::store::queue::SyncQueue;
use crate::store::types::QueueStat;

/// Both forms of the opening statement for one queue: the text is the same at every refresh.
#[derive(Debug)]
pub struct Openings {
    plain: String,
    follow: String,
}

impl Openings {
    pub fn new(queue: &SyncQueue) -> Openings {
        Openings { plain: opening_sql(queue, false), follow: opening_sql(queue, true) }
    }

    /// The statement, with the logs' new rows or without.
    pub fn sql(&self, follow: bool) -> &str {
        if follow {
            &self.follow
        } else {
            &self.plain
        }
    }
}

/// The refresh's opening statement: its snapshot, the three trigger marks, the partition
/// fingerprint, the queue, the events with an open queue item and the open writers in one round
/// trip (each statement of a refresh is a round trip on the scrape's path). Row sets travel as
/// column arrays (the open writers, normally none, as JSON). With `follow`, it also reads the logs'
/// new rows (see `follow`): the steady-state refresh's reads are then this one statement.
fn opening_sql(queue: &SyncQueue, follow: bool) -> String {
    let (ctes, rows, from) = if follow {
        let (items, from) = follow::columns();
        (follow::ctes(), format!(", {items}"), format!(", {from}"))
    } else {
        Default::default()
    };
    format!(
        "{ctes} SELECT pg_current_snapshot()::text,
                (SELECT statements FROM webhook_event_deletions),
                (SELECT statements FROM webhook_organization_changes),
                (SELECT statements FROM sync_attempt_deletions),
                ({PARTITIONS}),
                ARRAY({live}),
                (SELECT coalesce(json_agg(w), '[]') FROM ({OPEN_WRITERS}) AS w),
                {QUEUE_ITEMS}{rows}
         FROM (SELECT {QUEUE_ARRAYS} FROM ({queue}) AS q) AS queue_arrays{from}",
        queue = queue.stats_sql("now()"),
        live = queue.live_sql(),
    )
}

/// The queue's figures per org as one array per column (one element per org): a thousand orgs
/// decode in a fraction of what the same rows cost as JSON objects.
const QUEUE_ARRAYS: &str = "array_agg(org_id) AS org_id, array_agg(depth) AS depth,
     array_agg(reprocess_depth) AS reprocess_depth, array_agg(oldest_enqueued_at) AS oldest_enqueued_at,
     array_agg(in_flight) AS in_flight, array_agg(lease_expired) AS lease_expired";
const QUEUE_ITEMS: &str = "queue_arrays.org_id, queue_arrays.depth, queue_arrays.reprocess_depth,
     queue_arrays.oldest_enqueued_at, queue_arrays.in_flight, queue_arrays.lease_expired";

/// Decodes [`QUEUE_ITEMS`] from column `at` on.
pub fn queue_stats(row: &PgRow, at: usize) -> std::result::Result<Vec<QueueStat>, sqlx::Error> {
    let array = |i: usize| row.try_get::<Option<Vec<i64>>, _>(at + i).map(Option::unwrap_or_default);
    let orgs = row.try_get::<Option<Vec<String>>, _>(at)?.unwrap_or_default();
    let oldest = row.try_get::<Option<Vec<Option<DateTime<Utc>>>>, _>(at + 3)?.unwrap_or_default();
    let (depth, reprocess, in_flight, expired) = (array(1)?, array(2)?, array(4)?, array(5)?);
    let n = orgs.len();
    if [depth.len(), reprocess.len(), oldest.len(), in_flight.len(), expired.len()].iter().any(|l| *l != n) {
        return Err(sqlx::Error::Decode("the queue's figures: column arrays of different lengths".into()));
    }
    Ok((0..n)
        .zip(orgs)
        .map(|(i, org_id)| QueueStat {
            org_id,
            depth: depth[i],
            reprocess_depth: reprocess[i],
            oldest_enqueued_at: oldest[i],
            in_flight: in_flight[i],
            lease_expired: expired[i],
        })
        .collect())
}

/// The partitions of the two incrementally read logs, as a 64-bit hash of each table's and
/// partition's oid and the version of its catalog row: ATTACH, DETACH, DROP and TRUNCATE of a
/// partition fire no trigger of the parent, and each writes or removes that row (a partition
/// detached, written and attached again between two refreshes included). Read from the catalogs,
/// without locking the partitions: about 1 ms for 730 of them. (An `ALTER TABLE` of a log, or a
/// freeze of `pg_class`, moves it too: one harmless read of history.)
const PARTITIONS: &str = "WITH RECURSIVE tree(rel) AS (
         SELECT unnest(ARRAY['webhook_events'::regclass, 'sync_attempts'::regclass])::oid
         UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.rel)
     SELECT ('x' || left(md5(string_agg(c.oid::text || ':' || c.xmin::text, ',' ORDER BY c.oid)), 16))::bit(64)::bigint
     FROM tree JOIN pg_class c ON c.oid = tree.rel";

/// The opening statement's columns before the new rows': seven, then the queue's six.
pub const OPENING_COLUMNS: usize = 13;

/// Transactions holding a write lock on a log table: rows they wrote wait for their commit.
/// `xact_start` is NULL for other roles' sessions without `pg_read_all_stats`.
const OPEN_WRITERS: &str = "SELECT l.virtualtransaction AS key, a.xact_start AS started_at
     FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock' AND l.granted
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.relation IN ('webhook_events'::regclass, 'edge_function_events'::regclass,
                          'sync_attempts'::regclass)
       AND l.pid <> pg_backend_pid()";
