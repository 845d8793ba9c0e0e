//! Turns the log store into a [`Snapshot`]: reads only what was committed since the last read
//! (a cursor), keeps totals and recent timestamps in memory, and computes the window gauges at
//! the moment of the scrape.
//!
//! Collection runs when `/metrics` is scraped (Prometheus's synchronous model) with a deadline:
//! one refresh at a time, shared by concurrent scrapes, running to completion in its own task even
//! when a scrape stops waiting for it. A scrape that outlives the deadline, or a store that is
//! down, gets the last-known values with `webhook_store_up 0`.

mod series;
mod state;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt, Shared};

use state::State;
pub use state::Window;

use crate::health::HealthState;
use crate::reprocess_counters::ReprocessCounters;
use crate::snapshot::{ExporterStats, Snapshot};
use crate::store::{Cursor, Store, StoreError};

/// How the collector reads.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub windows: Vec<Window>,
    /// Rows per incremental read; a backlog is read in several.
    pub batch_size: i64,
    /// A refresh stops reading further batches after this long, to answer the scrape.
    pub deadline: Duration,
    /// How far back Edge Function lifecycle events are read at start.
    pub lifecycle_lookback: chrono::Duration,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            windows: vec![
                Window { label: "1h".into(), micros: 3_600_000_000 },
                Window { label: "24h".into(), micros: 86_400_000_000 },
            ],
            batch_size: 50_000,
            deadline: Duration::from_secs(5),
            lifecycle_lookback: chrono::Duration::hours(24),
        }
    }
}

#[derive(Debug, Default)]
struct Progress {
    event_cursor: Option<Cursor>,
    lifecycle_cursor: Option<Cursor>,
    store_up: bool,
    /// The horizon an open write transaction holds back, and since when it has stood still.
    held_back: Option<(i64, DateTime<Utc>)>,
    stats: ExporterStats,
}

type InFlight = Shared<BoxFuture<'static, ()>>;

pub struct Collector {
    store: Store,
    config: CollectorConfig,
    max_window: i64,
    state: Mutex<State>,
    progress: Mutex<Progress>,
    in_flight: Mutex<Option<InFlight>>,
    health: Option<Arc<HealthState>>,
    reprocess: Arc<ReprocessCounters>,
}

impl Collector {
    pub fn new(store: Store, config: CollectorConfig) -> Arc<Collector> {
        Collector::build(store, config, None)
    }

    /// A collector that also judges the Edge Function's health after each read and shows the
    /// components of `health` in its snapshots.
    pub fn with_health(store: Store, config: CollectorConfig, health: Arc<HealthState>) -> Arc<Collector> {
        Collector::build(store, config, Some(health))
    }

    fn build(store: Store, config: CollectorConfig, health: Option<Arc<HealthState>>) -> Arc<Collector> {
        let max_window = config.windows.iter().map(|w| w.micros).max().unwrap_or(0);
        Arc::new(Collector {
            store,
            config,
            max_window,
            state: Mutex::new(State::default()),
            progress: Mutex::new(Progress::default()),
            in_flight: Mutex::new(None),
            health,
            reprocess: Arc::default(),
        })
    }

    /// Where the reprocessing API counts its requests, for the snapshot to report.
    pub fn reprocess_counters(&self) -> &Arc<ReprocessCounters> {
        &self.reprocess
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
            tracing::warn!(deadline = ?self.config.deadline, "log store read outlived the scrape deadline");
            self.progress.lock().unwrap().store_up = false;
        }
        self.snapshot(Utc::now())
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

    /// Reads everything new from the store into memory. Public for tests that need a precise `now`.
    pub async fn collect(&self, now: DateTime<Utc>, started: Instant) -> Result<(), StoreError> {
        let window_start = now.timestamp_micros() - self.max_window;
        let (event_cursor, lifecycle_cursor) = {
            let p = self.progress.lock().unwrap();
            (p.event_cursor, p.lifecycle_cursor)
        };
        let (lifecycle_cursor, lifecycle_since) = match lifecycle_cursor {
            Some(c) => (c, None),
            None => (Cursor::default(), Some(now - self.config.lifecycle_lookback)),
        };
        let batch_size = self.config.batch_size;
        let first_events = async {
            match event_cursor {
                Some(cursor) => self.store.events_after(cursor, batch_size).await.map(Some),
                None => Ok(None),
            }
        };
        // The reads are independent: run concurrently, a refresh costs about one round trip to
        // the store instead of one per table (bench/).
        let (mut orgs, first_events, lifecycle, queue) = tokio::try_join!(
            self.store.organizations(),
            first_events,
            self.store.lifecycle_after(lifecycle_cursor, lifecycle_since, batch_size),
            self.store.queue_stats(),
        )?;
        // An organization created together with its first events may have committed after the
        // organizations were read: read them again rather than count its events as `_unknown`.
        if let Some(batch) = &first_events {
            let known: HashSet<&str> = orgs.iter().map(|o| o.org_id.as_str()).collect();
            if batch.rows.iter().any(|r| !known.contains(r.org_id.as_str())) {
                orgs = self.store.organizations().await?;
            }
        }
        self.state.lock().unwrap().set_organizations(orgs);

        let mut batch = match first_events {
            Some(batch) => batch,
            None => {
                let since = DateTime::from_timestamp_micros(window_start).unwrap_or(now);
                let boot = self.store.bootstrap_events(since).await?;
                {
                    let mut state = self.state.lock().unwrap();
                    state.apply_aggregates(&boot.totals);
                    state.apply_recent(&boot.recent, window_start);
                    let mut p = self.progress.lock().unwrap();
                    p.event_cursor = Some(boot.next);
                    p.stats.event_rows_read_total += boot.recent.len() as u64;
                }
                self.store.events_after(boot.next, batch_size).await?
            }
        };
        loop {
            {
                let mut state = self.state.lock().unwrap();
                state.apply_new(&batch.rows, window_start);
                let mut p = self.progress.lock().unwrap();
                p.event_cursor = Some(batch.next);
                p.stats.event_rows_read_total += batch.rows.len() as u64;
                if batch.complete {
                    p.held_back = match p.held_back {
                        _ if !batch.held_back => None,
                        Some((horizon, since)) if horizon == batch.next.tx => Some((horizon, since)),
                        _ => Some((batch.next.tx, now)),
                    };
                }
            }
            if batch.complete || started.elapsed() >= self.config.deadline / 2 {
                break;
            }
            batch = self.store.events_after(batch.next, batch_size).await?;
        }

        let last_error_exit = {
            let mut state = self.state.lock().unwrap();
            state.apply_lifecycle(&lifecycle.rows);
            state.set_queue(queue);
            state.prune(window_start);
            let mut p = self.progress.lock().unwrap();
            p.lifecycle_cursor = Some(lifecycle.next);
            p.stats.lifecycle_rows_read_total += lifecycle.rows.len() as u64;
            state.last_error_exit()
        };
        if let Some(health) = &self.health {
            // As of `now`: a lifecycle row committed a moment ago may still be unread.
            health.observe_edge(last_error_exit, now);
        }
        Ok(())
    }

    /// The figures as of `now`, from memory only.
    pub fn snapshot(&self, now: DateTime<Utc>) -> Snapshot {
        let state = self.state.lock().unwrap();
        let p = self.progress.lock().unwrap();
        Snapshot {
            taken_at: Some(now),
            store_up: p.store_up,
            backend: self.store.backend().as_str(),
            orgs: state.org_snapshots(now, &self.config.windows),
            edge_exits: state.edge_exits(),
            components: self.health.as_ref().map(|h| h.components()).unwrap_or_default(),
            exporter: ExporterStats {
                read_held_back_seconds: p.held_back.map_or(0.0, |(_, since)| {
                    (now - since).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
                }),
                ..p.stats.clone()
            },
            reprocess: self.reprocess.stats(),
        }
    }
}
