//! The collector's reads of the sync service's attempt log: new rows in batches, as events are
//! read, and the windows read anew when logged attempts inside them were deleted.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::LogCollector;
use crate::store::{Position, ReadTx, StoreError};

impl LogCollector {
    /// Reads attempts logged since `position`, batch after batch; returns whether it read up to
    /// the read's snapshot (false when the deadline cut it short).
    pub(super) async fn read_new_attempts(
        &self,
        tx: &mut ReadTx,
        mut position: Position,
        window_start: i64,
        now: DateTime<Utc>,
        started: Instant,
    ) -> Result<bool, StoreError> {
        loop {
            let batch = tx.new_attempts(&position, self.config.batch_size).await?;
            self.state.lock().unwrap().apply_new_attempts(&batch.rows, window_start, now);
            position = batch.next;
            let mut p = self.progress.lock().unwrap();
            p.attempt_position = Some(position.clone());
            p.stats.attempt_rows_read_total += batch.rows.len() as u64;
            if batch.complete {
                return Ok(true);
            }
            if started.elapsed() >= self.config.deadline / 2 {
                return Ok(false);
            }
        }
    }

    /// Logged attempts deleted from a window (retention, a clean-up) leave it: when the store says
    /// rows were deleted and the windows no longer match the table, they are read again, and so
    /// are the open events (an event whose logged success is gone is no longer known to be
    /// synced: the table says so, as it would to a restarted exporter). The counters stay: they
    /// come from the totals rollup.
    pub(super) async fn check_attempt_deletions(
        &self,
        tx: &mut ReadTx,
        since: DateTime<Utc>,
        window_start: i64,
    ) -> Result<(), StoreError> {
        let deletions = tx.sync_deletions();
        if self.progress.lock().unwrap().sync_deletions == Some(deletions) {
            return Ok(());
        }
        let in_store = tx.count_attempts_since(since).await?;
        if in_store.max(0) as u64 != self.state.lock().unwrap().recent_attempt_count(window_start) {
            let recent = tx.attempts_since(since).await?;
            let events = tx.events_since(since).await?;
            let mut state = self.state.lock().unwrap();
            state.replace_recent_attempts(&recent, window_start);
            state.set_open_events(&events, &recent, window_start);
            drop(state);
            let mut p = self.progress.lock().unwrap();
            p.stats.window_rebuilds_total += 1;
            p.stats.attempt_rows_read_total += recent.len() as u64;
        }
        self.progress.lock().unwrap().sync_deletions = Some(deletions);
        Ok(())
    }
}
