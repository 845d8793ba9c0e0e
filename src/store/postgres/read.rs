//! One refresh's reads, in one read-only REPEATABLE READ transaction: everything the collector
//! sees in a refresh (organizations, queue, totals, new rows) is as of one snapshot.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{FromRow, Postgres, Row, Transaction};

use super::follow::{self, Follow, Followed};
use super::opening::{queue_stats, OPENING_COLUMNS};
use super::snapshot::{Delta, PgSnapshot};
use super::PgStore;
use crate::store::error::{timed, Result, StoreError};
use crate::store::sql;
use crate::store::types::{
    AttemptAggregate, AttemptRow, Batch, Cursor, EventAggregate, EventKey, EventRow, LifecycleAggregate,
    LifecycleRow, Marks, OpenWriter, OrgRow, Position, Positioned, QueueStat, ReadFrom,
};

pub struct PgReadTx {
    tx: Transaction<'static, Postgres>,
    snapshot: PgSnapshot,
    pub(crate) marks: Marks,
    /// Read by the opening statement, handed out once.
    queue: Vec<QueueStat>,
    live: Vec<EventKey>,
    writers: Vec<OpenWriter>,
    /// The new rows of the logs, when the opening statement read them.
    followed: Followed,
    /// The refresh starts with generic plans: planning the opening statement anew at every
    /// refresh cost more than running it (1.6 ms). Reads of a time range go back to plans made
    /// for their bound, which tell a day of rows from a month of them.
    generic_plans: bool,
    timeout: Duration,
}

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

/// The batch the opening statement read, when it was read from `pos` with at most `limit` rows.
fn take_followed<T>(
    followed: &mut Option<(Position, i64, Batch<T>)>,
    pos: &Position,
    limit: i64,
) -> Option<Batch<T>> {
    match followed.take() {
        Some((from, read_with, batch)) if from == *pos && read_with == limit => Some(batch),
        _ => None,
    }
}

fn texts(xids: &[i64]) -> Vec<String> {
    xids.iter().map(i64::to_string).collect()
}

impl PgStore {
    /// Starts the refresh's transaction and takes its snapshot; from complete positions, also
    /// reads the new rows of the logs (one statement in the steady state).
    pub async fn begin_read(&self, from: &ReadFrom<'_>) -> Result<PgReadTx> {
        let ms = self.timeout.as_millis();
        // SET LOCAL: the limits stay with this transaction, also behind a transaction pooler.
        let begin = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
             SET LOCAL statement_timeout = {ms}; SET LOCAL idle_in_transaction_session_timeout = {ms};
             SET LOCAL plan_cache_mode = force_generic_plan"
        );
        let follow = Follow::from_positions(from);
        let opening = self.openings.sql(follow.is_some());
        let (tx, row) = timed(self.timeout, "starting a read", async {
            let mut tx = self.pool.begin_with(begin).await?;
            let q = sqlx::query(opening);
            let q = match &follow {
                Some(f) => f.bind(q),
                None => q,
            };
            let row = q.fetch_one(&mut *tx).await?;
            Ok((tx, row))
        })
        .await?;
        let decoded = || -> std::result::Result<_, sqlx::Error> {
            let mark = |i: usize| Ok::<_, sqlx::Error>(row.try_get::<Option<i64>, _>(i)?.unwrap_or(0));
            let marks = Marks {
                deletions: mark(1)?,
                organization_changes: mark(2)?,
                sync_deletions: mark(3)?,
                partitions: row.try_get(4)?,
            };
            let live = row.try_get::<Vec<uuid::Uuid>, _>(5)?.into_iter().map(EventKey).collect();
            let writers = row.try_get::<Json<Vec<OpenWriter>>, _>(6)?.0;
            let queue = queue_stats(&row, 7)?;
            Ok((row.try_get::<String, _>(0)?, marks, queue, live, writers))
        };
        let (text, marks, queue, live, writers) =
            decoded().map_err(StoreError::query("reading the opening statement"))?;
        let snapshot = PgSnapshot::parse(&text)?;
        let followed = match &follow {
            Some(f) => follow::decode(&row, OPENING_COLUMNS, f, &snapshot)
                .map_err(StoreError::query("reading new rows of the logs"))?,
            None => Followed::default(),
        };
        Ok(PgReadTx {
            marks,
            queue,
            live,
            writers,
            tx,
            snapshot,
            followed,
            generic_plans: true,
            timeout: self.timeout,
        })
    }
}

impl PgReadTx {
    /// Before a read of a time range: plans made for its bound from then on.
    async fn custom_plans(&mut self) -> Result<()> {
        if std::mem::take(&mut self.generic_plans) {
            let tx = &mut self.tx;
            timed(
                self.timeout,
                "starting a read of history",
                sqlx::query("SET LOCAL plan_cache_mode = auto").execute(&mut **tx),
            )
            .await?;
        }
        Ok(())
    }

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
        self.custom_plans().await?;
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
        self.custom_plans().await?;
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
        if let Some(batch) = take_followed(&mut self.followed.attempts, pos, limit) {
            return Ok(batch);
        }
        self.new_rows("sync_attempts", sql::ATTEMPT_COLUMNS, "reading new sync attempts", pos, limit).await
    }

    pub async fn event_totals(&mut self) -> Result<Vec<EventAggregate>> {
        let tx = &mut self.tx;
        timed(self.timeout, sql::TOTALS_OP, sqlx::query_as(sql::EVENT_TOTALS).fetch_all(&mut **tx)).await
    }

    pub async fn events_since(&mut self, since: DateTime<Utc>) -> Result<Vec<EventRow>> {
        self.custom_plans().await?;
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
        self.custom_plans().await?;
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
        self.custom_plans().await?;
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
        if let Some(batch) = take_followed(&mut self.followed.events, pos, limit) {
            return Ok(batch);
        }
        self.new_rows("webhook_events", sql::EVENT_COLUMNS, "reading new events", pos, limit).await
    }

    pub async fn new_lifecycle(&mut self, pos: &Position, limit: i64) -> Result<Batch<LifecycleRow>> {
        if let Some(batch) = take_followed(&mut self.followed.lifecycle, pos, limit) {
            return Ok(batch);
        }
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
        let last = rows.last().map(Positioned::cursor);
        Ok(follow::batch(read, &target, rows.into_iter().map(|p| p.row).collect(), last, limit))
    }

    /// As of the transaction's start (read by its opening statement).
    pub async fn open_writers(&mut self) -> Result<Vec<OpenWriter>> {
        Ok(std::mem::take(&mut self.writers))
    }

    pub async fn finish(self) -> Result<()> {
        timed(self.timeout, "ending a read", self.tx.commit()).await
    }
}
