//! Turns the log store into a [`Snapshot`]: reads only what was committed since the last read
//! (a cursor), keeps totals and recent timestamps in memory, and computes the window gauges at
//! the moment of the scrape.
//!
//! Collection runs when `/metrics` is scraped (Prometheus's synchronous model) with a deadline:
//! one refresh at a time, shared by concurrent scrapes, running to completion in its own task even
//! when a scrape stops waiting for it. A scrape that outlives the deadline, or a store that is
//! down, gets the last-known values with `webhook_store_up 0`.

mod attempts;
mod config;
mod series;
mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt, Shared};

pub use config::CollectorConfig;
use state::State;
pub use state::Window;

use crate::failure_counters::FailureCounters;
use crate::health::HealthState;
use crate::lifecycle_counters::LifecycleCounters;
use crate::reprocess_counters::ReprocessCounters;
use crate::snapshot::{ExporterStats, Snapshot};
use crate::store::{OpenWriter, Position, ReadFrom, ReadTx, Store, StoreError};

#[derive(Debug, Default)]
struct Progress {
    /// None until history has been read (and again when it must be read anew).
    event_position: Option<Position>,
    /// Read together with events: both are None, or both are Some.
    attempt_position: Option<Position>,
    lifecycle_position: Option<Position>,
    /// The store's deletion count when the windows were last known to match it.
    deletions: Option<i64>,
    /// The same for the attempt log's windows.
    sync_deletions: Option<i64>,
    /// The partition fingerprint of the two logs when history was last read.
    partitions: Option<i64>,
    /// The store's organization-change count when the organizations were last read, and when.
    organizations_read: Option<(i64, Instant)>,
    store_up: bool,
    /// Open transactions that have written log rows, and when each was first seen (for stores
    /// that hide other sessions' start times).
    open_writers: HashMap<String, DateTime<Utc>>,
    /// When the oldest of them began.
    oldest_open_write: Option<DateTime<Utc>>,
    stats: ExporterStats,
}

/// The longest the organizations go unread when their change mark stands still.
const ORGANIZATIONS_REREAD: Duration = Duration::from_secs(60);

type InFlight = Shared<BoxFuture<'static, ()>>;

pub struct LogCollector {
    store: Store,
    config: CollectorConfig,
    max_window: i64,
    state: Mutex<State>,
    progress: Mutex<Progress>,
    in_flight: Mutex<Option<InFlight>>,
    health: Option<Arc<HealthState>>,
    reprocess: Arc<ReprocessCounters>,
    lifecycle: Arc<LifecycleCounters>,
    failures: Arc<FailureCounters>,
}

impl LogCollector {
    pub fn new(store: Store, config: CollectorConfig) -> Arc<LogCollector> {
        LogCollector::build(store, config, None)
    }

    /// A collector that also judges the Edge Function's health after each read and shows the
    /// components of `health` in its snapshots.
    pub fn with_health(store: Store, config: CollectorConfig, health: Arc<HealthState>) -> Arc<LogCollector> {
        LogCollector::build(store, config, Some(health))
    }

    fn build(store: Store, config: CollectorConfig, health: Option<Arc<HealthState>>) -> Arc<LogCollector> {
        let max_window = config.windows.iter().map(|w| w.micros).max().unwrap_or(0);
        Arc::new(LogCollector {
            store,
            config,
            max_window,
            state: Mutex::new(State::default()),
            progress: Mutex::new(Progress::default()),
            in_flight: Mutex::new(None),
            health,
            reprocess: Arc::default(),
            lifecycle: Arc::default(),
            failures: Arc::default(),
        })
    }

    /// Where the reprocessing API counts its requests, for the snapshot to report.
    pub fn reprocess_counters(&self) -> &Arc<ReprocessCounters> {
        &self.reprocess
    }

    /// Where the lifecycle ingestion endpoints count what they received.
    pub fn lifecycle_counters(&self) -> &Arc<LifecycleCounters> {
        &self.lifecycle
    }

    /// Where failures outside the collector's reads are logged and counted.
    pub fn failure_counters(&self) -> &Arc<FailureCounters> {
        &self.failures
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn windows(&self) -> &[Window] {
        &self.config.windows
    }

    /// Refreshes from the store, waiting at most the configured deadline, and returns the
    /// snapshot as of now.
    pub async fn scrape(self: &Arc<Self>) -> Snapshot {
        let refresh = self.refresh();
        if tokio::time::timeout(self.config.deadline, refresh).await.is_err() {
            self.failures.scrape_deadline_exceeded(self.config.deadline);
            self.progress.lock().unwrap().store_up = false;
        }
        self.snapshot(Utc::now())
    }

    /// The accepted events counted as unaccounted for, as of a refresh made now (or, when the
    /// store does not answer within the deadline, as of the last one): the reprocessing API lists
    /// these, and checks each against the store, instead of searching every accepted event of the
    /// window in SQL (seconds at a million a day).
    pub async fn unaccounted_events(self: &Arc<Self>) -> Vec<uuid::Uuid> {
        let _ = tokio::time::timeout(self.config.deadline, self.refresh()).await;
        self.state.lock().unwrap().unaccounted_events()
    }

    /// Starts a refresh, or joins the one in flight.
    pub fn refresh(self: &Arc<Self>) -> InFlight {
        let mut slot = self.in_flight.lock().unwrap();
        if let Some(running) = slot.as_ref() {
            if running.peek().is_none() {
                return running.clone();
            }
        }
        let me = Arc::clone(self);
        let fut: InFlight = async move { me.collect_now().await }.boxed().shared();
        // Driven by its own task, so that it completes, and `peek` sees it complete, even when no
        // caller awaits it (the warm-up at start): otherwise the next scrape would join a refresh
        // that finished long ago and serve figures as old as it.
        tokio::spawn(fut.clone());
        *slot = Some(fut.clone());
        fut
    }

    /// One refresh; the result is recorded in the exporter's own metrics.
    async fn collect_now(&self) {
        let started = Instant::now();
        let result = self.collect(Utc::now(), started).await;
        let mut p = self.progress.lock().unwrap();
        p.stats.collect_duration_seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                p.store_up = true;
                p.stats.last_success = Some(Utc::now());
            }
            Err(e) => {
                p.store_up = false;
                p.stats.collect_errors_total += 1;
                tracing::warn!(error = %e, "collecting from the log store failed; serving last-known values");
            }
        }
    }

    /// Reads everything new from the store into memory, as of one snapshot of the store. Public
    /// for tests that need a precise `now`.
    pub async fn collect(&self, now: DateTime<Utc>, started: Instant) -> Result<(), StoreError> {
        let window_start = now.timestamp_micros() - self.max_window;
        let since = DateTime::from_timestamp_micros(window_start).unwrap_or(now);
        let (event_position, attempt_position, lifecycle_position) = {
            let p = self.progress.lock().unwrap();
            (p.event_position.clone(), p.attempt_position.clone(), p.lifecycle_position.clone())
        };
        let from = ReadFrom {
            events: event_position.as_ref(),
            attempts: attempt_position.as_ref(),
            lifecycle: lifecycle_position.as_ref(),
            limit: self.config.batch_size,
        };
        let mut tx = self.store.begin_read(&from).await?;
        let orgs_changed = self.read_organizations(&mut tx).await?;
        let queue = tx.queue_stats().await?;
        let live = tx.live_events().await?;
        let writers = tx.open_writers().await?;
        self.note_open_writers(writers, now);

        // A new set of organizations moves history between them and `_unknown`; a partition
        // attached, detached or dropped takes rows out of the windows or brings rows whose old
        // transactions the incremental reads will never visit (and which the totals rollup does
        // not count). Either way, read history anew as of this snapshot, like at start (and at the
        // next refresh if this one fails).
        let partitions_moved = self.progress.lock().unwrap().partitions.is_some_and(|p| p != tx.partitions());
        let anew = orgs_changed || partitions_moved;
        if anew {
            let mut p = self.progress.lock().unwrap();
            p.event_position = None;
            p.attempt_position = None;
            p.stats.window_rebuilds_total += u64::from(partitions_moved);
        }
        let positions = event_position.zip(attempt_position).filter(|_| !anew);
        let (caught_up, attempts_from) = match positions {
            None => {
                self.read_history(&mut tx, now, since, window_start).await?;
                (true, None)
            }
            Some((mut position, attempts_from)) => loop {
                let batch = tx.new_events(&position, self.config.batch_size).await?;
                self.state.lock().unwrap().apply_new(&batch.rows, window_start, now);
                position = batch.next;
                let mut p = self.progress.lock().unwrap();
                p.event_position = Some(position.clone());
                p.stats.event_rows_read_total += batch.rows.len() as u64;
                if batch.complete {
                    break (true, Some(attempts_from));
                }
                if started.elapsed() >= self.config.deadline / 2 {
                    break (false, None);
                }
            },
        };
        // The attempt log is read only once events are: a success read before its event would
        // leave that event open for ever.
        let mut synced_up = caught_up;
        if caught_up {
            self.check_deletions(&mut tx, since, window_start).await?;
            if let Some(from) = attempts_from {
                synced_up = self.read_new_attempts(&mut tx, from, window_start, now, started).await?;
            }
            if synced_up {
                self.check_attempt_deletions(&mut tx, since, window_start).await?;
            }
        }

        // At start the exits come from the totals rollup, and the lookback only tells the last
        // error exit: counting the lookback's rows made the counter restart with the exporter.
        let (lifecycle_totals, lifecycle) = match lifecycle_position {
            Some(position) => {
                let batch = tx.new_lifecycle(&position, self.config.batch_size).await?;
                (None, (batch.rows, batch.next))
            }
            None => {
                let totals = tx.lifecycle_totals().await?;
                let recent = tx.lifecycle_since(now - self.config.lifecycle_lookback).await?;
                (Some(totals), (recent, tx.lifecycle_position()))
            }
        };
        // Every read is done: ending the read-only transaction changes nothing the figures depend
        // on, so the scrape does not wait for that round trip.
        tokio::spawn(async move {
            if let Err(error) = tx.finish().await {
                tracing::debug!(%error, "ending a log-store read");
            }
        });

        let last_error_exit = {
            let mut state = self.state.lock().unwrap();
            let functions = &self.config.edge_functions;
            match &lifecycle_totals {
                Some(totals) => {
                    state.apply_lifecycle_totals(totals, functions);
                    state.note_error_exits(&lifecycle.0, functions);
                }
                None => state.apply_lifecycle(&lifecycle.0, functions),
            }
            state.set_queue(queue);
            // Unaccounted events are counted only when the log and the queue were read to the
            // same moment; otherwise the last count stands until they are.
            if synced_up {
                state.set_live(&live);
            }
            state.prune(window_start);
            let mut p = self.progress.lock().unwrap();
            p.lifecycle_position = Some(lifecycle.1);
            p.stats.lifecycle_rows_read_total += lifecycle.0.len() as u64;
            state.last_error_exit()
        };
        if let Some(health) = &self.health {
            // As of `now`: a lifecycle row committed a moment ago may still be unread.
            health.observe_edge(last_error_exit, now);
        }
        Ok(())
    }

    /// Reads everything the figures start from, as of the read's snapshot: the totals rollups,
    /// the rows inside the longest window, and the accepted events not synced yet.
    async fn read_history(
        &self,
        tx: &mut ReadTx,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
        window_start: i64,
    ) -> Result<(), StoreError> {
        let totals = tx.event_totals().await?;
        let carry = tx.unknown_carry().await?;
        let recent = tx.events_since(since).await?;
        let attempt_totals = tx.attempt_totals().await?;
        let recent_attempts = tx.attempts_since(since).await?;
        let mut state = self.state.lock().unwrap();
        state.reset_events();
        state.reset_sync();
        state.apply_aggregates(&totals, now);
        state.apply_unknown_carry(&carry);
        state.apply_recent(&recent, window_start);
        state.apply_attempt_aggregates(&attempt_totals, now);
        state.apply_recent_attempts(&recent_attempts, window_start);
        state.set_open_events(&recent, &recent_attempts, window_start);
        let mut p = self.progress.lock().unwrap();
        p.event_position = Some(tx.events_position());
        p.attempt_position = Some(tx.attempts_position());
        p.deletions = Some(tx.deletions());
        p.sync_deletions = Some(tx.sync_deletions());
        p.partitions = Some(tx.partitions());
        p.stats.event_rows_read_total += recent.len() as u64;
        p.stats.attempt_rows_read_total += recent_attempts.len() as u64;
        Ok(())
    }

    /// Reads the organizations when the store's change mark moved, and at least every
    /// [`ORGANIZATIONS_REREAD`] (a write with triggers disabled, as a restore may do, does not move
    /// it). Returns whether the set of organizations changed.
    async fn read_organizations(&self, tx: &mut ReadTx) -> Result<bool, StoreError> {
        let mark = tx.organization_changes();
        let last = self.progress.lock().unwrap().organizations_read;
        if last.is_some_and(|(seen, at)| seen == mark && at.elapsed() < ORGANIZATIONS_REREAD) {
            return Ok(false);
        }
        let orgs = tx.organizations().await?;
        let changed = self.state.lock().unwrap().set_organizations(orgs);
        self.progress.lock().unwrap().organizations_read = Some((mark, Instant::now()));
        Ok(changed)
    }

    /// Rows deleted from `webhook_events` (retention, a clean-up) leave the windows: when the
    /// store says rows were deleted and the windows no longer match the table, they are read
    /// again as of this snapshot. Counters stay: they come from the totals rollup.
    async fn check_deletions(
        &self,
        tx: &mut ReadTx,
        since: DateTime<Utc>,
        window_start: i64,
    ) -> Result<(), StoreError> {
        let deletions = tx.deletions();
        if self.progress.lock().unwrap().deletions == Some(deletions) {
            return Ok(());
        }
        let in_store = tx.count_events_since(since).await?;
        if in_store.max(0) as u64 != self.state.lock().unwrap().recent_count(window_start) {
            let recent = tx.events_since(since).await?;
            // Deleted accepted events leave the open ones too.
            let attempts = tx.attempts_since(since).await?;
            let mut state = self.state.lock().unwrap();
            state.replace_recent(&recent, window_start);
            state.set_open_events(&recent, &attempts, window_start);
            drop(state);
            let mut p = self.progress.lock().unwrap();
            p.stats.window_rebuilds_total += 1;
            p.stats.event_rows_read_total += recent.len() as u64;
        }
        self.progress.lock().unwrap().deletions = Some(deletions);
        Ok(())
    }

    /// Keeps when each open writing transaction began, or was first seen where the store hides it.
    fn note_open_writers(&self, writers: Vec<OpenWriter>, now: DateTime<Utc>) {
        let mut p = self.progress.lock().unwrap();
        let mut seen = HashMap::with_capacity(writers.len());
        for w in writers {
            let first_seen = p.open_writers.get(&w.key).copied().unwrap_or(now);
            seen.insert(w.key, w.started_at.map_or(first_seen, |s| s.min(first_seen)));
        }
        p.oldest_open_write = seen.values().min().copied();
        p.open_writers = seen;
    }

    /// The figures as of `now`, from memory only.
    pub fn snapshot(&self, now: DateTime<Utc>) -> Snapshot {
        let mut state = self.state.lock().unwrap();
        let p = self.progress.lock().unwrap();
        Snapshot {
            taken_at: Some(now),
            store_up: p.store_up,
            backend: self.store.backend().as_str(),
            orgs: state.org_snapshots(now, &self.config.windows),
            queues: state.queue_snapshots(now),
            rejected_totals: state.rejected_totals(),
            failed_totals: state.failed_totals(),
            edge_exits: state.edge_exits(),
            sync: state.sync_stats(),
            components: self.health.as_ref().map(|h| h.components()).unwrap_or_default(),
            exporter: ExporterStats {
                read_held_back_seconds: p
                    .oldest_open_write
                    .map_or(0.0, |since| (now - since).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6),
                ..p.stats.clone()
            },
            reprocess: self.reprocess.stats(),
            lifecycle: self.lifecycle.stats(),
            failures: self.failures.stats(),
            process: crate::process::read(),
        }
    }
}
