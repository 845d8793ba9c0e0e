//! One refresh's reads, in one read-only REPEATABLE READ transaction: everything the collector
//! sees in a refresh (organizations, queue, totals, new rows) is as of one snapshot.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{FromRow, Postgres, Transaction};

use super::snapshot::{Delta, PgSnapshot};
use super::PgStore;
use crate::store::error::{timed, Result, StoreError};
use crate::store::queue::SyncQueue;
use crate::store::sql;
use crate::store::types::{
    AttemptAggregate, AttemptRow, Batch, Cursor, EventAggregate, EventKey, EventRow, LifecycleAggregate,
    LifecycleRow, Marks, OpenWriter, OrgRow, Position, Positioned, QueueStat,
};

pub struct PgReadTx {
    tx: Transaction<'static, Postgres>,
    snapshot: PgSnapshot,
    pub(crate) marks: Marks,
    /// Read by the opening statement, handed out once.
    queue: Vec<QueueStat>,
    live: Vec<EventKey>,
    writers: Vec<OpenWriter>,
    timeout: Duration,
}

/// The refresh's opening statement: its snapshot, the three trigger marks, the partition
/// fingerprint, the queue, the events with an open queue item and the open writers in one round
/// trip (each statement of a refresh is a round trip on the scrape's path). Two row sets travel as
/// JSON arrays, the ids as `uuid[]`.
fn opening_sql(queue: &SyncQueue) -> String {
    format!(
        "SELECT pg_current_snapshot()::text,
                (SELECT statements FROM webhook_event_deletions),
                (SELECT statements FROM webhook_organization_changes),
                (SELECT statements FROM sync_attempt_deletions),
                ({PARTITIONS}),
                (SELECT coalesce(json_agg(q), '[]') FROM ({queue}) AS q),
                ARRAY({live}),
                (SELECT coalesce(json_agg(w), '[]') FROM ({OPEN_WRITERS}) AS w)",
        queue = queue.stats_sql("now()"),
        live = queue.live_sql(),
    )
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

type Opening = (
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    Json<Vec<QueueStat>>,
    Vec<uuid::Uuid>,
    Json<Vec<OpenWriter>>,
);

/// Transactions holding a write lock on a log table: rows they wrote wait for their commit.
/// `xact_start` is NULL for other roles' sessions without `pg_read_all_stats`.
const OPEN_WRITERS: &str = "SELECT l.virtualtransaction AS key, a.xact_start AS started_at
     FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock' AND l.granted
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.relation IN ('webhook_events'::regclass, 'edge_function_events'::regclass,
                          'sync_attempts'::regclass)
       AND l.pid <> pg_backend_pid()";

/// Rows of `table` that became visible between two snapshots, after a cursor, in `(tx_id, id)`
/// order. Two index range scans: the transactions that were open at the previous snapshot and
/// have ended (`$8`, only when there are any; after cursor `$1, $2`), and those that began since
/// (after cursor `$4, $5`, below `$6`, minus the still-open `$7`). A transaction open for an hour
/// costs one lookup when it ends, not a scan of the hour's rows. Each range starts at a row
/// cursor: PostgreSQL starts a btree scan at the row comparison, not at a separate `tx_id >=`
/// (which made it walk the whole index: 67 ms instead of 0.03 ms at 1M rows).
fn new_rows_sql(table: &str, columns: &str, with_ended: bool) -> String {
    let branch = |after: &str, cond: &str| {
        format!(
            "(SELECT {columns}, tx_id, id FROM {table}
              WHERE (tx_id, id) > {after} AND {cond} ORDER BY tx_id, id LIMIT $3)"
        )
    };
    let begun = branch("($4::text::xid8, $5)", "tx_id < $6::text::xid8 AND tx_id <> ALL($7::text[]::xid8[])");
    let body = if with_ended {
        format!("{} UNION ALL {begun}", branch("($1::text::xid8, $2)", "tx_id = ANY($8::text[]::xid8[])"))
    } else {
        begun
    };
    format!(
        "SELECT {columns}, tx_id::text::bigint AS tx, id FROM ({body}) AS u ORDER BY u.tx_id, u.id LIMIT $3"
    )
}

fn texts(xids: &[i64]) -> Vec<String> {
    xids.iter().map(i64::to_string).collect()
}

impl PgStore {
    /// Starts the refresh's transaction and takes its snapshot.
    pub async fn begin_read(&self) -> Result<PgReadTx> {
        let ms = self.timeout.as_millis();
        // SET LOCAL: the limits stay with this transaction, also behind a transaction pooler.
        let begin = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
             SET LOCAL statement_timeout = {ms}; SET LOCAL idle_in_transaction_session_timeout = {ms}"
        );
        timed(self.timeout, "starting a read", async {
            let mut tx = self.pool.begin_with(begin).await?;
            let opening: Opening = sqlx::query_as(&opening_sql(&self.queue)).fetch_one(&mut *tx).await?;
            Ok((tx, opening))
        })
        .await
        .and_then(
            |(
                tx,
                (text, deletions, organization_changes, sync_deletions, partitions, queue, live, writers),
            )| {
                Ok(PgReadTx {
                    tx,
                    snapshot: PgSnapshot::parse(&text)?,
                    marks: Marks {
                        deletions: deletions.unwrap_or(0),
                        organization_changes: organization_changes.unwrap_or(0),
                        sync_deletions: sync_deletions.unwrap_or(0),
                        partitions,
                    },
                    queue: queue.0,
                    live: live.into_iter().map(EventKey).collect(),
                    writers: writers.0,
                    timeout: self.timeout,
                })
            },
        )
    }
}

impl PgReadTx {
    pub fn position(&self) -> Position {
        Position::Postgres { read: self.snapshot.clone(), pending: None }
    }

    pub async fn organizations(&mut self) -> Result<Vec<OrgRow>> {
        let tx = &mut self.tx;
        timed(self.timeout, "reading organizations", sqlx::query_as(sql::ORGANIZATIONS).fetch_all(&mut **tx))
            .await
    }

    /// As of the transaction's snapshot (read by its opening statement).
    pub async fn queue_stats(&mut self) -> Result<Vec<QueueStat>> {
        Ok(std::mem::take(&mut self.queue))
    }

    /// As of the transaction's snapshot (read by its opening statement).
    pub async fn live_events(&mut self) -> Result<Vec<EventKey>> {
        Ok(std::mem::take(&mut self.live))
    }

    pub async fn attempt_totals(&mut self) -> Result<Vec<AttemptAggregate>> {
        let tx = &mut self.tx;
        timed(self.timeout, sql::ATTEMPT_TOTALS_OP, sqlx::query_as(sql::ATTEMPT_TOTALS).fetch_all(&mut **tx))
            .await
    }

    pub async fn attempts_since(&mut self, since: DateTime<Utc>) -> Result<Vec<AttemptRow>> {
        let tx = &mut self.tx;
        let sql = format!(
            "SELECT {} FROM sync_attempts WHERE finished_at > $1 AND {}",
            sql::ATTEMPT_COLUMNS,
            sql::WINDOW_OUTCOMES
        );
        // Streamed, as events_since is: a day of attempts can be hundreds of thousands of rows.
        timed(
            self.timeout,
            "reading recent sync attempts",
            sqlx::query_as(&sql).bind(since).fetch(&mut **tx).try_collect(),
        )
        .await
    }

    pub async fn count_attempts_since(&mut self, since: DateTime<Utc>) -> Result<i64> {
        let tx = &mut self.tx;
        let sql =
            format!("SELECT count(*) FROM sync_attempts WHERE finished_at > $1 AND {}", sql::WINDOW_OUTCOMES);
        timed(
            self.timeout,
            "counting recent sync attempts",
            sqlx::query_scalar(&sql).bind(since).fetch_one(&mut **tx),
        )
        .await
    }

    pub async fn new_attempts(&mut self, pos: &Position, limit: i64) -> Result<Batch<AttemptRow>> {
        self.new_rows("sync_attempts", sql::ATTEMPT_COLUMNS, "reading new sync attempts", pos, limit).await
    }

    pub async fn event_totals(&mut self) -> Result<Vec<EventAggregate>> {
        let tx = &mut self.tx;
        timed(self.timeout, sql::TOTALS_OP, sqlx::query_as(sql::EVENT_TOTALS).fetch_all(&mut **tx)).await
    }

    pub async fn events_since(&mut self, since: DateTime<Utc>) -> Result<Vec<EventRow>> {
        let tx = &mut self.tx;
        // Streamed, not fetched whole: a day of history can be hundreds of thousands of rows, and
        // holding every wire row next to its decoded copy doubled the exporter's peak memory.
        let sql = format!("SELECT {} FROM webhook_events WHERE received_at > $1", sql::EVENT_COLUMNS);
        timed(
            self.timeout,
            "reading recent events",
            sqlx::query_as(&sql).bind(since).fetch(&mut **tx).try_collect(),
        )
        .await
    }

    pub async fn count_events_since(&mut self, since: DateTime<Utc>) -> Result<i64> {
        let tx = &mut self.tx;
        let q = sqlx::query_scalar("SELECT count(*) FROM webhook_events WHERE received_at > $1").bind(since);
        timed(self.timeout, "counting recent events", q.fetch_one(&mut **tx)).await
    }

    pub async fn lifecycle_totals(&mut self) -> Result<Vec<LifecycleAggregate>> {
        let tx = &mut self.tx;
        timed(
            self.timeout,
            sql::LIFECYCLE_TOTALS_OP,
            sqlx::query_as(sql::LIFECYCLE_TOTALS).fetch_all(&mut **tx),
        )
        .await
    }

    pub async fn unknown_carry(&mut self) -> Result<Vec<(String, i64)>> {
        let tx = &mut self.tx;
        timed(self.timeout, sql::UNKNOWN_CARRY_OP, sqlx::query_as(sql::UNKNOWN_CARRY).fetch_all(&mut **tx))
            .await
    }

    pub async fn lifecycle_since(&mut self, since: DateTime<Utc>) -> Result<Vec<LifecycleRow>> {
        let tx = &mut self.tx;
        let sql =
            format!("SELECT {} FROM edge_function_events WHERE occurred_at > $1", sql::LIFECYCLE_COLUMNS);
        timed(
            self.timeout,
            "reading edge function events",
            sqlx::query_as(&sql).bind(since).fetch_all(&mut **tx),
        )
        .await
    }

    pub async fn new_events(&mut self, pos: &Position, limit: i64) -> Result<Batch<EventRow>> {
        self.new_rows("webhook_events", sql::EVENT_COLUMNS, "reading new events", pos, limit).await
    }

    pub async fn new_lifecycle(&mut self, pos: &Position, limit: i64) -> Result<Batch<LifecycleRow>> {
        self.new_rows(
            "edge_function_events",
            sql::LIFECYCLE_COLUMNS,
            "reading edge function events",
            pos,
            limit,
        )
        .await
    }

    async fn new_rows<T>(
        &mut self,
        table: &str,
        columns: &str,
        op: &'static str,
        pos: &Position,
        limit: i64,
    ) -> Result<Batch<T>>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let Position::Postgres { read, pending } = pos else {
            return Err(StoreError::Invalid {
                field: "position",
                detail: "not a PostgreSQL position".into(),
            });
        };
        // A read cut short finishes its snapshot first, so that the cursor's order holds.
        let (target, after) = match pending {
            Some((target, after)) => (target.clone(), *after),
            None => (self.snapshot.clone(), Cursor::default()),
        };
        let delta = Delta::between(read, &target);
        let sql = new_rows_sql(table, columns, !delta.ended.is_empty());
        // Ids start at 1: (from, 0) is before every row of transaction `from`.
        let begun_after = after.max(Cursor { tx: delta.from, id: 0 });
        let mut q = sqlx::query_as::<_, Positioned<T>>(&sql)
            .bind(after.tx.to_string())
            .bind(after.id)
            .bind(limit)
            .bind(begun_after.tx.to_string())
            .bind(begun_after.id)
            .bind(delta.to.to_string())
            .bind(texts(&delta.still_open));
        if !delta.ended.is_empty() {
            q = q.bind(texts(&delta.ended));
        }
        let tx = &mut self.tx;
        let rows = timed(self.timeout, op, q.fetch_all(&mut **tx)).await?;
        let complete = (rows.len() as i64) < limit;
        let next = match rows.last() {
            Some(last) if !complete => {
                Position::Postgres { read: read.clone(), pending: Some((target, last.cursor())) }
            }
            _ => Position::Postgres { read: target, pending: None },
        };
        Ok(Batch { rows: rows.into_iter().map(|p| p.row).collect(), next, complete })
    }

    /// As of the transaction's start (read by its opening statement).
    pub async fn open_writers(&mut self) -> Result<Vec<OpenWriter>> {
        Ok(std::mem::take(&mut self.writers))
    }

    pub async fn finish(self) -> Result<()> {
        timed(self.timeout, "ending a read", self.tx.commit()).await
    }
}
