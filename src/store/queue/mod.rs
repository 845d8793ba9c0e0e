//! The sync queue seam: which queue the Edge Function fills and the sync service works, and so
//! where the exporter reads the queue's figures and writes its reprocessing items. The one
//! selection point: each implementation is one file (`table.rs`, the `sync_queue` table on both
//! backends; `pgmq.rs`, Supabase Queues on PostgreSQL; `pgmq_work.rs`, pgmq as the writers work
//! it), and each of these methods picks one.

pub mod pgmq;
pub mod pgmq_work;
pub mod table;
mod table_work;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::{PgConnection, PgPool, SqliteConnection};
use uuid::Uuid;

use crate::store::error::{Result, StoreError};
use crate::store::history::QueuedItem;
use crate::store::work::{Claim, ClaimedItem, Finish};

/// `--sync-queue`: `table` (default) or `pgmq:<queue name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SyncQueue {
    /// The `sync_queue` table (both backends).
    #[default]
    Table,
    /// A pgmq queue of this name (PostgreSQL only): tables `pgmq.q_<name>` and `pgmq.a_<name>`.
    Pgmq(String),
}

impl SyncQueue {
    /// The option's name, for configuration errors.
    pub const OPTION: &'static str = "--sync-queue";

    /// Parses `table` or `pgmq:<name>`; a pgmq name as pgmq accepts it (it becomes part of the
    /// table's name, and of SQL text: nothing else may pass).
    pub fn parse(text: &str) -> std::result::Result<SyncQueue, String> {
        match text.trim() {
            "table" | "sync_queue" => Ok(SyncQueue::Table),
            t => match t.strip_prefix("pgmq:") {
                Some(name)
                    if !name.is_empty()
                        && name.len() <= 47
                        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
                {
                    Ok(SyncQueue::Pgmq(name.to_string()))
                }
                Some(_) => {
                    Err("a pgmq queue name is 1-47 characters of a-z, 0-9 and _, not starting with a digit"
                        .into())
                }
                None => Err("expected `table` or `pgmq:<queue name>`".into()),
            },
        }
    }

    /// The queue's name in `sync_attempts.queue`: `sync_queue` or `pgmq:<name>`.
    pub fn label(&self) -> String {
        match self {
            SyncQueue::Table => "sync_queue".into(),
            SyncQueue::Pgmq(name) => pgmq::label(name),
        }
    }

    /// Open items per org, the columns of `QueueStat` (an org may have several rows, to be summed);
    /// `now` the backend's clock.
    pub fn stats_sql(&self, now: &str) -> String {
        match self {
            SyncQueue::Table => table::stats_sql(now),
            SyncQueue::Pgmq(name) => pgmq::stats_sql(name, now),
        }
    }

    /// The ids of events with an open item (one uuid column).
    pub fn live_sql(&self) -> String {
        match self {
            SyncQueue::Table => table::LIVE_SQL.into(),
            SyncQueue::Pgmq(name) => pgmq::live_sql(name),
        }
    }

    /// An SQL condition: event `event` has an open item (a reprocess one when `reprocess_only`).
    pub fn open_item(&self, event: &str, reprocess_only: bool) -> String {
        match self {
            SyncQueue::Table => table::open_item(event, reprocess_only),
            SyncQueue::Pgmq(name) => pgmq::open_item(name, event, reprocess_only),
        }
    }

    /// An SQL relation of sync failures, one row per event (see `reprocess/sync_failure.rs`).
    pub fn failures(&self, now: &str) -> String {
        match self {
            SyncQueue::Table => table::failures(now),
            SyncQueue::Pgmq(name) => pgmq::failures(name, now),
        }
    }

    /// Which of these events have an open item (PostgreSQL).
    pub async fn pending_pg(&self, tx: &mut PgConnection, events: &[(&str, Uuid)]) -> Result<HashSet<Uuid>> {
        match self {
            SyncQueue::Table => table::pending_pg(tx, events).await,
            SyncQueue::Pgmq(name) => pgmq::pending(tx, name, events).await,
        }
    }

    /// One reprocess item per event without an open one, at most one across replicas; returns
    /// the events enqueued (PostgreSQL).
    pub async fn enqueue_reprocess_pg(
        &self,
        tx: &mut PgConnection,
        events: &[(&str, Uuid)],
        request_id: Uuid,
        requested_by: &str,
    ) -> Result<HashSet<Uuid>> {
        match self {
            SyncQueue::Table => table::enqueue_reprocess_pg(tx, events, request_id, requested_by).await,
            SyncQueue::Pgmq(name) => {
                pgmq::enqueue_reprocess(tx, name, events, request_id, requested_by).await
            }
        }
    }

    /// [`Self::pending_pg`] on SQLite, whose queue is always the table.
    pub async fn pending_sqlite(
        &self,
        tx: &mut SqliteConnection,
        events: &[(&str, Uuid)],
    ) -> Result<HashSet<Uuid>> {
        table::pending_sqlite(tx, events).await
    }

    /// [`Self::enqueue_reprocess_pg`] on SQLite.
    pub async fn enqueue_reprocess_sqlite(
        &self,
        tx: &mut SqliteConnection,
        events: &[(&str, Uuid)],
        request_id: Uuid,
        requested_by: &str,
    ) -> Result<HashSet<Uuid>> {
        table::enqueue_reprocess_sqlite(tx, events, request_id, requested_by).await
    }

    /// SQLite has only the table: any other queue is a configuration error naming the option.
    pub fn check_sqlite(&self) -> Result<()> {
        match self {
            SyncQueue::Table => Ok(()),
            SyncQueue::Pgmq(name) => Err(StoreError::Invalid {
                field: SyncQueue::OPTION,
                detail: format!(
                    "pgmq:{name} needs a PostgreSQL store; SQLite has only the sync_queue table (--sync-queue table)"
                ),
            }),
        }
    }

    // ---- the writers' side (the simulator, the demo, the tests) on PostgreSQL ------------------

    /// Claims up to `claim.limit` waiting items (lease-expired ones first, their attempts logged
    /// as abandoned). On pgmq: `pgmq.read`, the lease its visibility timeout.
    pub async fn claim_pg(
        &self,
        pool: &PgPool,
        timeout: Duration,
        claim: &Claim<'_>,
    ) -> Result<Vec<ClaimedItem>> {
        match self {
            SyncQueue::Table => table_work::claim(pool, timeout, claim).await,
            SyncQueue::Pgmq(name) => pgmq_work::claim(pool, timeout, name, claim).await,
        }
    }

    /// Ends attempt `attempt` of item `item_id` and logs it; false when the attempt no longer
    /// holds the item.
    pub async fn finish_pg(
        &self,
        pool: &PgPool,
        timeout: Duration,
        item_id: i64,
        attempt: i32,
        finish: &Finish,
    ) -> Result<bool> {
        match self {
            SyncQueue::Table => table_work::finish(pool, timeout, item_id, attempt, finish).await,
            SyncQueue::Pgmq(name) => pgmq_work::finish(pool, timeout, name, item_id, attempt, finish).await,
        }
    }

    /// Creates the queue unless it exists; the table comes with the migrations.
    pub async fn ensure_pg(&self, pool: &PgPool, timeout: Duration) -> Result<()> {
        match self {
            SyncQueue::Table => Ok(()),
            SyncQueue::Pgmq(name) => pgmq_work::create(pool, timeout, name).await,
        }
    }

    /// Writes the simulator's items into a queue other than the table (which the bulk writer
    /// fills with its rows); returns each item's id by event id.
    pub async fn insert_items_pg(
        &self,
        tx: &mut PgConnection,
        items: &[QueuedItem],
    ) -> Option<std::result::Result<HashMap<String, i64>, sqlx::Error>> {
        match self {
            SyncQueue::Table => None,
            SyncQueue::Pgmq(name) => Some(pgmq_work::insert_items(tx, name, items).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SyncQueue;

    #[test]
    fn queue_names_are_checked() {
        assert_eq!(SyncQueue::parse("table"), Ok(SyncQueue::Table));
        assert_eq!(SyncQueue::parse("pgmq:portal_sync"), Ok(SyncQueue::Pgmq("portal_sync".into())));
        for bad in
            ["pgmq:", "pgmq:Portal", "pgmq:a;drop", "pgmq:1x", "redis", &format!("pgmq:{}", "a".repeat(48))]
        {
            assert!(SyncQueue::parse(bad).is_err(), "{bad}");
        }
    }
}
