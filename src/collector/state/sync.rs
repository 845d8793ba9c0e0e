//! The sync service's half of the collector's state: what became of accepted events after they
//! were queued. Figures come from the attempt log (`sync_attempts`), read incrementally like
//! events, and from the queue's open items, read whole at every refresh (normally a handful).
//!
//! Every accepted event of the longest window is tracked until a success is logged for it
//! ([`OpenEvents`]): one that is neither synced, nor waiting or in flight in the queue, nor given up
//! is *unaccounted*, the silent divergence the exporter exists to catch. On a healthy pipeline only
//! the events in the queue are tracked, so the per-refresh work follows the queue, not the history.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::orgs::{FastMap, Slot};
use super::{micros, State, Window};
use crate::collector::series::TimeSeries;
use crate::domain::sync::{SyncErrorClass, SyncOutcome, LAG_BUCKETS};
use crate::domain::Outcome;
use crate::snapshot::{LagHistogram, SyncStats};
use crate::store::{AttemptAggregate, AttemptRow, EventKey, EventRow};

/// One organization's sync figures.
#[derive(Debug, Default)]
pub(super) struct OrgSync {
    /// Finish times of successes and give-ups, for the windows.
    pub(super) synced: TimeSeries,
    pub(super) given_up: TimeSeries,
    /// Receive times of the org's unaccounted events, as of the last complete read.
    pub(super) unaccounted: TimeSeries,
    pub(super) last_success: Option<i64>,
}

impl OrgSync {
    /// The earliest moment (µs) a count of one of the windows drops, after `now_us`.
    pub(super) fn next_expiry(&mut self, now_us: i64, windows: &[Window]) -> Option<i64> {
        let mut next = None;
        for s in [&mut self.synced, &mut self.given_up, &mut self.unaccounted] {
            for (i, w) in windows.iter().enumerate() {
                if let Some(t) = s.first_in_window(i, now_us - w.micros) {
                    next = Some(next.map_or(t + w.micros, |n: i64| n.min(t + w.micros)));
                }
            }
        }
        next
    }

    pub(super) fn prune(&mut self, window_start: i64) {
        self.synced.prune(window_start);
        self.given_up.prune(window_start);
        self.unaccounted.prune(window_start);
    }
}

/// An accepted event without a logged success.
#[derive(Debug, Clone)]
struct Open {
    /// The org it counts under.
    org: Slot,
    received: i64,
    given_up: bool,
}

/// Accepted events of the longest window not synced yet, by event id.
#[derive(Debug, Default)]
pub(super) struct OpenEvents {
    events: FastMap<EventKey, Open>,
}

/// Counters over all organizations, from the totals rollup and then from new rows.
#[derive(Debug, Default)]
pub(super) struct SyncTotals {
    attempts: BTreeMap<(SyncOutcome, Option<SyncErrorClass>, Arc<str>), u64>,
    /// Per bucket of `LAG_BUCKETS`, then +Inf; not cumulative.
    lag_buckets: [u64; LAG_BUCKETS.len() + 1],
    lag_sum: f64,
}

fn bucket(le: f64) -> usize {
    LAG_BUCKETS.iter().position(|b| *b == le).unwrap_or(LAG_BUCKETS.len())
}

fn lag_seconds(row: &AttemptRow) -> Option<f64> {
    let received = row.received_at?;
    Some(((row.finished_at - received).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6).max(0.0))
}

impl State {
    fn code_label(&mut self, status: Option<i32>) -> Arc<str> {
        match status {
            Some(s) => self.code(s),
            None => Arc::clone(self.codes.entry(0).or_insert_with(|| "none".into())),
        }
    }

    /// Forgets every figure read from the attempt log (before history is read again).
    pub fn reset_sync(&mut self) {
        self.sync_totals = SyncTotals::default();
        self.open = OpenEvents::default();
        for org in self.orgs.values_mut() {
            org.sync = OrgSync::default();
            org.shown = None;
        }
    }

    /// Adds the totals of every attempt logged before the read began.
    pub fn apply_attempt_aggregates(&mut self, aggregates: &[AttemptAggregate], now: DateTime<Utc>) {
        for a in aggregates {
            let Some(outcome) = SyncOutcome::parse(&a.outcome) else { continue };
            let n = a.count.max(0) as u64;
            let code = self.code_label(a.http_status);
            let class = a.error_class.as_deref().map(SyncErrorClass::from_stored);
            *self.sync_totals.attempts.entry((outcome, class, code)).or_default() += n;
            if outcome == SyncOutcome::Succeeded {
                if let Some(le) = a.lag_le {
                    self.sync_totals.lag_buckets[bucket(le)] += n;
                    self.sync_totals.lag_sum += a.lag_sum;
                }
                let org = self.org_mut(&a.org_id);
                org.shown = None;
                let last = micros(a.last_finished_at.min(now));
                org.sync.last_success = Some(org.sync.last_success.map_or(last, |l| l.max(last)));
            }
        }
    }

    /// Adds successes and give-ups to the window series only (their totals came with the rollup).
    pub fn apply_recent_attempts(&mut self, rows: &[AttemptRow], window_start: i64) {
        for row in rows {
            let slot = self.slot(&row.org_id);
            self.record_recent_attempt(slot, row, window_start);
        }
    }

    /// Adds newly logged attempts to totals, windows and the open events.
    pub fn apply_new_attempts(&mut self, rows: &[AttemptRow], window_start: i64, now: DateTime<Utc>) {
        for row in rows {
            let Some(outcome) = SyncOutcome::parse(&row.outcome) else { continue };
            let slot = self.slot(&row.org_id);
            let code = self.code_label(row.http_status);
            let class = row.error_class.as_deref().map(SyncErrorClass::from_stored);
            *self.sync_totals.attempts.entry((outcome, class, code)).or_default() += 1;
            match outcome {
                SyncOutcome::Succeeded => {
                    if let Some(lag) = lag_seconds(row) {
                        let i = LAG_BUCKETS.iter().position(|b| lag <= *b).unwrap_or(LAG_BUCKETS.len());
                        self.sync_totals.lag_buckets[i] += 1;
                        self.sync_totals.lag_sum += lag;
                    }
                    self.open.events.remove(&row.event_id);
                    let org = self.orgs.get_mut(slot);
                    org.shown = None;
                    let last = micros(row.finished_at.min(now));
                    org.sync.last_success = Some(org.sync.last_success.map_or(last, |l| l.max(last)));
                }
                SyncOutcome::GaveUp => {
                    if let Some(open) = self.open.events.get_mut(&row.event_id) {
                        open.given_up = true;
                    }
                }
                SyncOutcome::Retrying | SyncOutcome::Abandoned => {}
            }
            self.record_recent_attempt(slot, row, window_start);
        }
    }

    fn record_recent_attempt(&mut self, slot: Slot, row: &AttemptRow, window_start: i64) {
        let t = micros(row.finished_at);
        if t <= window_start {
            return;
        }
        let outcome = SyncOutcome::parse(&row.outcome);
        if !matches!(outcome, Some(SyncOutcome::Succeeded | SyncOutcome::GaveUp)) {
            return;
        }
        let org = self.orgs.get_mut(slot);
        org.shown = None;
        match outcome {
            Some(SyncOutcome::Succeeded) => org.sync.synced.insert(t),
            _ => org.sync.given_up.insert(t),
        }
    }

    /// Replaces the sync window series with `rows` (after logged attempts inside a window were deleted).
    pub fn replace_recent_attempts(&mut self, rows: &[AttemptRow], window_start: i64) {
        for org in self.orgs.values_mut() {
            org.sync.synced = TimeSeries::default();
            org.sync.given_up = TimeSeries::default();
            org.shown = None;
        }
        self.apply_recent_attempts(rows, window_start);
    }

    /// How many successes and give-ups finished after `window_start` the windows hold.
    pub fn recent_attempt_count(&self, window_start: i64) -> u64 {
        self.orgs
            .values()
            .map(|o| o.sync.synced.count_after(window_start) + o.sync.given_up.count_after(window_start))
            .sum()
    }

    /// An accepted event read as it committed: tracked until its success is logged.
    pub(super) fn open_event(&mut self, event_id: EventKey, org: Slot, received: i64) {
        self.open.events.insert(event_id, Open { org, received, given_up: false });
    }

    /// Replaces the open events with the accepted `events` of the window that no success among
    /// `attempts` (those finished in the same window) names (at start, and after deletions). Done
    /// here rather than by an anti-join in the store: the rows are read for the windows anyway,
    /// and a planner misled by stale statistics made that join quadratic (65 s for 30,000 rows).
    pub fn set_open_events(&mut self, events: &[EventRow], attempts: &[AttemptRow], window_start: i64) {
        self.open = OpenEvents::default();
        for row in events.iter().filter(|e| e.outcome == Outcome::Accepted.as_str()) {
            let t = micros(row.received_at);
            if t > window_start {
                let slot = self.slot(&row.org_id);
                self.open_event(row.event_id, slot, t);
            }
        }
        for a in attempts {
            match SyncOutcome::parse(&a.outcome) {
                Some(SyncOutcome::Succeeded) => {
                    self.open.events.remove(&a.event_id);
                }
                Some(SyncOutcome::GaveUp) => {
                    if let Some(open) = self.open.events.get_mut(&a.event_id) {
                        open.given_up = true;
                    }
                }
                _ => {}
            }
        }
    }

    /// Counts, per organization, the open events that are neither waiting nor in flight in the
    /// queue (`live`) nor given up: call it only when the attempt log has been read up to the
    /// same moment as `live`, or a success not read yet would count as a loss.
    pub fn set_live(&mut self, live: &[EventKey]) {
        let live: HashSet<&EventKey, foldhash::fast::RandomState> = live.iter().collect();
        let mut lost: Vec<Vec<i64>> = vec![vec![]; self.orgs.len()];
        self.unaccounted.clear();
        for (id, open) in &self.open.events {
            if !open.given_up && !live.contains(id) {
                lost[open.org].push(open.received);
                self.unaccounted.push(*id);
            }
        }
        for (slot, org) in self.orgs.iter_mut() {
            let times = &mut lost[slot];
            times.sort_unstable();
            if !org.sync.unaccounted.equals(times) {
                org.sync.unaccounted = TimeSeries::from_sorted(std::mem::take(times));
                org.shown = None;
            }
        }
    }

    /// The events the last [`State::set_live`] counted as unaccounted for.
    pub fn unaccounted_events(&self) -> Vec<uuid::Uuid> {
        self.unaccounted.iter().map(|k| k.0).collect()
    }

    /// Forgets open events no window counts any more.
    pub(super) fn prune_open(&mut self, window_start: i64) {
        self.open.events.retain(|_, o| o.received > window_start);
        // A catch-up holds a backlog of events until their successes are read: give the memory
        // back once it is worked off (the map is small on a healthy pipeline).
        if self.open.events.capacity() > 4 * self.open.events.len().max(1024) {
            self.open.events.shrink_to_fit();
        }
    }

    pub fn sync_stats(&self) -> SyncStats {
        let attempts = self
            .sync_totals
            .attempts
            .iter()
            .map(|((outcome, class, code), n)| {
                (outcome.as_str(), class.map_or("none", SyncErrorClass::as_str), Arc::clone(code), *n)
            })
            .collect();
        let buckets: Vec<(f64, u64)> =
            LAG_BUCKETS.iter().copied().chain([f64::INFINITY]).zip(self.sync_totals.lag_buckets).collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        SyncStats { attempts, lag: LagHistogram { buckets, sum: self.sync_totals.lag_sum, count } }
    }
}
