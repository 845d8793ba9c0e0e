//! One refresh's reads, in one read transaction: under WAL every statement in it sees the
//! database as of its first read, so the figures of a refresh agree with each other.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Sqlite, Transaction};

use super::text::ts;
use super::SqliteStore;
use crate::store::error::{timed, Result, StoreError};
use crate::store::queue::table;
use crate::store::sql;
use crate::store::types::{
    AttemptAggregate, AttemptRow, Batch, EventAggregate, EventKey, EventRow, LifecycleAggregate,
    LifecycleRow, Marks, OpenWriter, OrgRow, Position, Positioned, QueueStat,
};

pub struct SqliteReadTx {
    tx: Transaction<'static, Sqlite>,
    last_event: i64,
    last_lifecycle: i64,
    last_attempt: i64,
    pub(crate) marks: Marks,
    timeout: Duration,
}

impl SqliteStore {
    pub async fn begin_read(&self) -> Result<SqliteReadTx> {
        timed(self.timeout, "starting a read", async {
            let mut tx = self.pool.begin().await?;
            let (last_event, last_lifecycle, last_attempt, deletions, organization_changes, sync_deletions): (
                i64,
                i64,
                i64,
                Option<i64>,
                Option<i64>,
                Option<i64>,
            ) = sqlx::query_as(
                "SELECT (SELECT coalesce(max(id), 0) FROM webhook_events),
                            (SELECT coalesce(max(id), 0) FROM edge_function_events),
                            (SELECT coalesce(max(id), 0) FROM sync_attempts),
                            (SELECT statements FROM webhook_event_deletions),
                            (SELECT statements FROM webhook_organization_changes),
                            (SELECT statements FROM sync_attempt_deletions)",
            )
            .fetch_one(&mut *tx)
            .await?;
            Ok(SqliteReadTx {
                tx,
                last_event,
                last_lifecycle,
                last_attempt,
                marks: Marks {
                    deletions: deletions.unwrap_or(0),
                    organization_changes: organization_changes.unwrap_or(0),
                    sync_deletions: sync_deletions.unwrap_or(0),
                    // SQLite has no partitions.
                    partitions: 0,
                },
                timeout: self.timeout,
            })
        })
        .await
    }
}

impl SqliteReadTx {
    pub fn events_position(&self) -> Position {
        Position::Sqlite { id: self.last_event }
    }

    pub fn lifecycle_position(&self) -> Position {
        Position::Sqlite { id: self.last_lifecycle }
    }

    pub fn attempts_position(&self) -> Position {
        Position::Sqlite { id: self.last_attempt }
    }

    pub async fn organizations(&mut self) -> Result<Vec<OrgRow>> {
        let tx = &mut self.tx;
        timed(self.timeout, "reading organizations", sqlx::query_as(sql::ORGANIZATIONS).fetch_all(&mut **tx))
            .await
    }

    pub async fn queue_stats(&mut self) -> Result<Vec<QueueStat>> {
        // SQLite has only the table queue (a pgmq selection is refused when the store opens).
        let sql = table::stats_sql("$1");
        let tx = &mut self.tx;
        let q = sqlx::query_as(&sql).bind(ts(Utc::now()));
        timed(self.timeout, "reading queue depth", q.fetch_all(&mut **tx)).await
    }

    pub async fn live_events(&mut self) -> Result<Vec<EventKey>> {
        let tx = &mut self.tx;
        timed(
            self.timeout,
            "reading open queue items",
            sqlx::query_scalar(table::LIVE_SQL).fetch_all(&mut **tx),
        )
        .await
    }

    pub async fn attempt_totals(&mut self) -> Result<Vec<AttemptAggregate>> {
        let tx = &mut self.tx;
        timed(self.timeout, sql::ATTEMPT_TOTALS_OP, sqlx::query_as(sql::ATTEMPT_TOTALS).fetch_all(&mut **tx))
            .await
    }

    pub async fn attempts_since(&mut self, since: DateTime<Utc>) -> Result<Vec<AttemptRow>> {
        let sql = format!(
            "SELECT {} FROM sync_attempts WHERE finished_at > $1 AND {}",
            sql::ATTEMPT_COLUMNS,
            sql::WINDOW_OUTCOMES
        );
        let tx = &mut self.tx;
        let q = sqlx::query_as(&sql).bind(ts(since));
        timed(self.timeout, "reading recent sync attempts", q.fetch_all(&mut **tx)).await
    }

    pub async fn count_attempts_since(&mut self, since: DateTime<Utc>) -> Result<i64> {
        let sql =
            format!("SELECT count(*) FROM sync_attempts WHERE finished_at > $1 AND {}", sql::WINDOW_OUTCOMES);
        let tx = &mut self.tx;
        let q = sqlx::query_scalar(&sql).bind(ts(since));
        timed(self.timeout, "counting recent sync attempts", q.fetch_one(&mut **tx)).await
    }

    pub async fn new_attempts(&mut self, pos: &Position, limit: i64) -> Result<Batch<AttemptRow>> {
        let last = self.last_attempt;
        self.new_rows("sync_attempts", sql::ATTEMPT_COLUMNS, "reading new sync attempts", pos, last, limit)
            .await
    }

    pub async fn event_totals(&mut self) -> Result<Vec<EventAggregate>> {
        let tx = &mut self.tx;
        timed(self.timeout, sql::TOTALS_OP, sqlx::query_as(sql::EVENT_TOTALS).fetch_all(&mut **tx)).await
    }

    pub async fn events_since(&mut self, since: DateTime<Utc>) -> Result<Vec<EventRow>> {
        let sql = format!("SELECT {} FROM webhook_events WHERE received_at > $1", sql::EVENT_COLUMNS);
        let tx = &mut self.tx;
        timed(
            self.timeout,
            "reading recent events",
            sqlx::query_as(&sql).bind(ts(since)).fetch_all(&mut **tx),
        )
        .await
    }

    pub async fn count_events_since(&mut self, since: DateTime<Utc>) -> Result<i64> {
        let tx = &mut self.tx;
        let q =
            sqlx::query_scalar("SELECT count(*) FROM webhook_events WHERE received_at > $1").bind(ts(since));
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
        let sql =
            format!("SELECT {} FROM edge_function_events WHERE occurred_at > $1", sql::LIFECYCLE_COLUMNS);
        let tx = &mut self.tx;
        timed(
            self.timeout,
            "reading edge function events",
            sqlx::query_as(&sql).bind(ts(since)).fetch_all(&mut **tx),
        )
        .await
    }

    pub async fn new_events(&mut self, pos: &Position, limit: i64) -> Result<Batch<EventRow>> {
        let last = self.last_event;
        self.new_rows("webhook_events", sql::EVENT_COLUMNS, "reading new events", pos, last, limit).await
    }

    pub async fn new_lifecycle(&mut self, pos: &Position, limit: i64) -> Result<Batch<LifecycleRow>> {
        let last = self.last_lifecycle;
        self.new_rows(
            "edge_function_events",
            sql::LIFECYCLE_COLUMNS,
            "reading edge function events",
            pos,
            last,
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
        last: i64,
        limit: i64,
    ) -> Result<Batch<T>>
    where
        T: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let Position::Sqlite { id: after } = *pos else {
            return Err(StoreError::Invalid { field: "position", detail: "not a SQLite position".into() });
        };
        let sql = format!(
            "SELECT {columns}, 0 AS tx, id FROM {table} WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3"
        );
        let tx = &mut self.tx;
        let q = sqlx::query_as::<_, Positioned<T>>(&sql).bind(after).bind(last).bind(limit);
        let rows = timed(self.timeout, op, q.fetch_all(&mut **tx)).await?;
        let complete = (rows.len() as i64) < limit;
        let next = match rows.last() {
            Some(row) if !complete => row.id,
            _ => last.max(after),
        };
        Ok(Batch {
            rows: rows.into_iter().map(|p| p.row).collect(),
            next: Position::Sqlite { id: next },
            complete,
        })
    }

    /// SQLite has one writer, which holds no transaction open across refreshes worth reporting.
    pub async fn open_writers(&mut self) -> Result<Vec<OpenWriter>> {
        Ok(Vec::new())
    }

    pub async fn finish(self) -> Result<()> {
        timed(self.timeout, "ending a read", self.tx.commit()).await
    }
}
