//! The sync service's writes (migration 0007): claim items, finish an attempt, record an attempt.
//! On PostgreSQL these call the store's functions (`sync_claim`, `sync_finish`,
//! `sync_record_attempt`), exactly as a sync service in any language does; SQLite has no stored
//! functions, so `sqlite/sync.rs` runs the statements docs/log-store.md documents. Used by the
//! simulator, the demo and the tests, never by the exporter's read path.

use super::error::Result;
use super::handle::Store;
pub use super::work::{AttemptRecord, Claim, ClaimedItem, Finish};

impl Store {
    /// Returns items whose lease ran out (logging each abandoned attempt), then claims up to
    /// `claim.limit` waiting items for `claim.worker`, from the store's queue.
    pub async fn sync_claim(&self, claim: &Claim<'_>) -> Result<Vec<ClaimedItem>> {
        match self {
            Store::Postgres(s) => s.queue().claim_pg(s.pool(), s.timeout(), claim).await,
            Store::Sqlite(s) => super::sqlite::sync::claim(s, claim).await,
        }
    }

    /// Ends attempt `attempt` of item `item_id` and logs it; false (nothing changed) when the
    /// attempt no longer holds the item.
    pub async fn sync_finish(&self, item_id: i64, attempt: i32, finish: &Finish) -> Result<bool> {
        match self {
            Store::Postgres(s) => s.queue().finish_pg(s.pool(), s.timeout(), item_id, attempt, finish).await,
            Store::Sqlite(s) => super::sqlite::sync::finish(s, item_id, attempt, finish).await,
        }
    }

    /// Creates the store's queue unless it exists (the demo, the simulator).
    pub async fn ensure_queue(&self) -> Result<()> {
        match self {
            Store::Postgres(s) => s.queue().ensure_pg(s.pool(), s.timeout()).await,
            Store::Sqlite(_) => Ok(()),
        }
    }

    /// Logs one attempt without touching any queue; returns the attempt row's id.
    pub async fn sync_record_attempt(&self, record: &AttemptRecord<'_>) -> Result<i64> {
        match self {
            Store::Postgres(s) => super::postgres::sync::record_attempt(s, record).await,
            Store::Sqlite(s) => super::sqlite::sync::record_attempt(s, record).await,
        }
    }
}
