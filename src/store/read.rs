//! A refresh's reads, as one transaction of either backend (see `postgres::read`, `sqlite::read`).

use chrono::{DateTime, Utc};

use super::error::Result;
use super::postgres::read::PgReadTx;
use super::sqlite::read::SqliteReadTx;
use super::types::{
    AttemptAggregate, AttemptRow, Batch, EventAggregate, EventKey, EventRow, LifecycleAggregate,
    LifecycleRow, OpenWriter, OrgRow, Position, QueueStat,
};

/// Everything read through it is as of one moment of the store.
pub enum ReadTx {
    /// Boxed: it carries the rows its opening statement read.
    Postgres(Box<PgReadTx>),
    Sqlite(SqliteReadTx),
}

macro_rules! each {
    ($self:expr, $tx:ident => $body:expr) => {
        match $self {
            ReadTx::Postgres($tx) => $body,
            ReadTx::Sqlite($tx) => $body,
        }
    };
}

impl ReadTx {
    /// Where incremental reads of `webhook_events` continue after reading everything visible now.
    pub fn events_position(&self) -> Position {
        match self {
            ReadTx::Postgres(tx) => tx.position(),
            ReadTx::Sqlite(tx) => tx.events_position(),
        }
    }

    /// The same for `edge_function_events`.
    pub fn lifecycle_position(&self) -> Position {
        match self {
            ReadTx::Postgres(tx) => tx.position(),
            ReadTx::Sqlite(tx) => tx.lifecycle_position(),
        }
    }

    /// The same for `sync_attempts`.
    pub fn attempts_position(&self) -> Position {
        match self {
            ReadTx::Postgres(tx) => tx.position(),
            ReadTx::Sqlite(tx) => tx.attempts_position(),
        }
    }

    /// How many deleting statements have run on `webhook_events`; moves when rows are deleted.
    pub fn deletions(&self) -> i64 {
        each!(self, tx => tx.marks.deletions)
    }

    /// How many deleting statements have run on `sync_attempts`; moves when rows are deleted.
    pub fn sync_deletions(&self) -> i64 {
        each!(self, tx => tx.marks.sync_deletions)
    }

    /// Moves when a partition of `webhook_events` or `sync_attempts` is attached, detached,
    /// dropped or truncated: rows left or arrived without a trigger or an incremental read.
    pub fn partitions(&self) -> i64 {
        each!(self, tx => tx.marks.partitions)
    }

    /// How many writing statements have run on `organizations`; moves when they change.
    pub fn organization_changes(&self) -> i64 {
        each!(self, tx => tx.marks.organization_changes)
    }

    pub async fn organizations(&mut self) -> Result<Vec<OrgRow>> {
        each!(self, tx => tx.organizations().await)
    }

    /// Waiting sync-queue items per stored `org_id`.
    pub async fn queue_stats(&mut self) -> Result<Vec<QueueStat>> {
        each!(self, tx => tx.queue_stats().await)
    }

    /// Events with an open sync-queue item (waiting or in flight).
    pub async fn live_events(&mut self) -> Result<Vec<EventKey>> {
        each!(self, tx => tx.live_events().await)
    }

    /// Totals of every sync attempt ever logged, deleted ones included.
    pub async fn attempt_totals(&mut self) -> Result<Vec<AttemptAggregate>> {
        each!(self, tx => tx.attempt_totals().await)
    }

    /// Successes and give-ups logged after `since`, for the windows.
    pub async fn attempts_since(&mut self, since: DateTime<Utc>) -> Result<Vec<AttemptRow>> {
        each!(self, tx => tx.attempts_since(since).await)
    }

    pub async fn count_attempts_since(&mut self, since: DateTime<Utc>) -> Result<i64> {
        each!(self, tx => tx.count_attempts_since(since).await)
    }

    /// Attempts logged after `pos` and visible now, at most `limit`.
    pub async fn new_attempts(&mut self, pos: &Position, limit: i64) -> Result<Batch<AttemptRow>> {
        each!(self, tx => tx.new_attempts(pos, limit).await)
    }

    /// Totals of every event ever committed, deleted ones included.
    pub async fn event_totals(&mut self) -> Result<Vec<EventAggregate>> {
        each!(self, tx => tx.event_totals().await)
    }

    /// Events received after `since`, for the windows.
    pub async fn events_since(&mut self, since: DateTime<Utc>) -> Result<Vec<EventRow>> {
        each!(self, tx => tx.events_since(since).await)
    }

    pub async fn count_events_since(&mut self, since: DateTime<Utc>) -> Result<i64> {
        each!(self, tx => tx.count_events_since(since).await)
    }

    /// Totals of every lifecycle event ever committed, deleted ones included.
    pub async fn lifecycle_totals(&mut self) -> Result<Vec<LifecycleAggregate>> {
        each!(self, tx => tx.lifecycle_totals().await)
    }

    /// Per configured org, what `org="_unknown"` had counted of its payloads when it was
    /// configured.
    pub async fn unknown_carry(&mut self) -> Result<Vec<(String, i64)>> {
        each!(self, tx => tx.unknown_carry().await)
    }

    pub async fn lifecycle_since(&mut self, since: DateTime<Utc>) -> Result<Vec<LifecycleRow>> {
        each!(self, tx => tx.lifecycle_since(since).await)
    }

    /// Events committed after `pos` and visible now, at most `limit`.
    pub async fn new_events(&mut self, pos: &Position, limit: i64) -> Result<Batch<EventRow>> {
        each!(self, tx => tx.new_events(pos, limit).await)
    }

    pub async fn new_lifecycle(&mut self, pos: &Position, limit: i64) -> Result<Batch<LifecycleRow>> {
        each!(self, tx => tx.new_lifecycle(pos, limit).await)
    }

    pub async fn open_writers(&mut self) -> Result<Vec<OpenWriter>> {
        each!(self, tx => tx.open_writers().await)
    }

    pub async fn finish(self) -> Result<()> {
        each!(self, tx => tx.finish().await)
    }
}
