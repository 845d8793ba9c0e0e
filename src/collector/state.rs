//! The collector's in-memory state: totals since the store began, and recent timestamps for
//! the window gauges. Applying rows is synchronous, so a cancelled read changes nothing.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::series::TimeSeries;
use crate::domain::{classify_exit, status_label, Outcome, RejectionReason, UNKNOWN_ORG};
use crate::snapshot::{EdgeExitCount, Endpoint, OrgSnapshot, WindowCounts};
use crate::store::{EventAggregate, EventRow, LifecycleRow, OrgRow, QueueStat};

const REASONS: usize = RejectionReason::ALL.len();

/// A configured time window for the `webhook_window_*` gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// As the user wrote it, used as the `window` label (`1h`, `24h`).
    pub label: String,
    pub micros: i64,
}

#[derive(Debug, Default)]
struct OrgState {
    received_total: u64,
    rejected_total: BTreeMap<(RejectionReason, String), u64>,
    failed_total: BTreeMap<String, u64>,
    last_received: Option<i64>,
    recent_received: TimeSeries,
    recent_rejected: [TimeSeries; REASONS],
    recent_rejected_by_code: BTreeMap<String, TimeSeries>,
    recent_failed: TimeSeries,
}

#[derive(Debug, Default)]
pub struct State {
    orgs: BTreeMap<String, OrgState>,
    endpoints: HashMap<String, Endpoint>,
    queue: HashMap<String, QueueStat>,
    exits: BTreeMap<(&'static str, bool), u64>,
    last_error_exit: Option<DateTime<Utc>>,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl State {
    /// Replaces the organization list with the active ones; every active org gets its (zero)
    /// series. Returns whether the set of orgs changed (not just a URL): then history must be
    /// attributed anew, and orgs no longer active lose their series.
    pub fn set_organizations(&mut self, rows: Vec<OrgRow>) -> bool {
        let endpoints: HashMap<String, Endpoint> = rows
            .into_iter()
            .filter(|r| r.active)
            .map(|r| {
                let endpoint = Endpoint { url: r.endpoint_url, changed_at: r.endpoint_url_changed_at };
                (r.org_id, endpoint)
            })
            .collect();
        let changed = endpoints.len() != self.endpoints.len()
            || endpoints.keys().any(|org| !self.endpoints.contains_key(org));
        self.endpoints = endpoints;
        for org in self.endpoints.keys() {
            self.orgs.entry(org.clone()).or_default();
        }
        changed
    }

    /// Forgets every figure read from events, before history is read again.
    pub fn reset_events(&mut self) {
        self.orgs.clear();
        for org in self.endpoints.keys() {
            self.orgs.entry(org.clone()).or_default();
        }
    }

    fn org_label(&self, org_id: &str) -> String {
        if self.endpoints.contains_key(org_id) {
            org_id.to_string()
        } else {
            UNKNOWN_ORG.to_string()
        }
    }

    /// Adds history totals; `now` caps the last-received times (see [`State::apply_new`]).
    pub fn apply_aggregates(&mut self, aggregates: &[EventAggregate], now: DateTime<Utc>) {
        for a in aggregates {
            let n = a.count.max(0) as u64;
            self.add_totals(
                &a.org_id,
                &a.outcome,
                a.rejection_reason.as_deref(),
                a.http_status,
                n,
                a.last_received_at.min(now),
            );
        }
    }

    /// Adds rows to the window series only (their totals came from `apply_aggregates`).
    pub fn apply_recent(&mut self, rows: &[EventRow], window_start: i64) {
        for row in rows {
            self.record_recent(row, window_start);
        }
    }

    /// Adds newly committed rows to totals and windows. A row dated after `now` (a writer with a
    /// skewed clock) counts in the windows as SQL counts it, but was received no later than
    /// `now` as far as the last-received time goes: a skewed writer must not delay the silence
    /// alert by the skew.
    pub fn apply_new(&mut self, rows: &[EventRow], window_start: i64, now: DateTime<Utc>) {
        for row in rows {
            self.add_totals(
                &row.org_id,
                &row.outcome,
                row.rejection_reason.as_deref(),
                row.http_status,
                1,
                row.received_at.min(now),
            );
            self.record_recent(row, window_start);
        }
    }

    fn add_totals(
        &mut self,
        org_id: &str,
        outcome: &str,
        reason: Option<&str>,
        http_status: i32,
        n: u64,
        last: DateTime<Utc>,
    ) {
        let label = self.org_label(org_id);
        let org = self.orgs.entry(label).or_default();
        org.received_total += n;
        let last = micros(last);
        org.last_received = Some(org.last_received.map_or(last, |l| l.max(last)));
        match Outcome::parse(outcome) {
            Some(Outcome::Rejected) => {
                let reason = RejectionReason::from_stored(reason);
                *org.rejected_total.entry((reason, status_label(http_status))).or_default() += n;
            }
            Some(Outcome::Failed) => *org.failed_total.entry(status_label(http_status)).or_default() += n,
            Some(Outcome::Accepted) | None => {}
        }
    }

    fn record_recent(&mut self, row: &EventRow, window_start: i64) {
        let t = micros(row.received_at);
        if t <= window_start {
            return;
        }
        let label = self.org_label(&row.org_id);
        let org = self.orgs.entry(label).or_default();
        org.recent_received.insert(t);
        match Outcome::parse(&row.outcome) {
            Some(Outcome::Rejected) => {
                let reason = RejectionReason::from_stored(row.rejection_reason.as_deref());
                org.recent_rejected[reason.index()].insert(t);
                org.recent_rejected_by_code.entry(status_label(row.http_status)).or_default().insert(t);
            }
            Some(Outcome::Failed) => org.recent_failed.insert(t),
            Some(Outcome::Accepted) | None => {}
        }
    }

    /// Replaces the window series with `rows` (after rows inside a window were deleted).
    pub fn replace_recent(&mut self, rows: &[EventRow], window_start: i64) {
        for org in self.orgs.values_mut() {
            org.recent_received = TimeSeries::default();
            org.recent_rejected = Default::default();
            org.recent_rejected_by_code.clear();
            org.recent_failed = TimeSeries::default();
        }
        self.apply_recent(rows, window_start);
    }

    /// How many rows received after `window_start` the windows hold, over all orgs.
    pub fn recent_count(&self, window_start: i64) -> u64 {
        self.orgs.values().map(|o| o.recent_received.count_after(window_start)).sum()
    }

    /// Drops timestamps no window can count any more.
    pub fn prune(&mut self, window_start: i64) {
        for org in self.orgs.values_mut() {
            org.recent_received.prune(window_start);
            org.recent_failed.prune(window_start);
            for s in &mut org.recent_rejected {
                s.prune(window_start);
            }
            org.recent_rejected_by_code.retain(|_, s| {
                s.prune(window_start);
                !s.is_empty()
            });
        }
    }

    pub fn apply_lifecycle(&mut self, rows: &[LifecycleRow]) {
        for row in rows {
            if let Some((reason, error)) = classify_exit(&row.event_type, row.shutdown_reason.as_deref()) {
                *self.exits.entry((reason, error)).or_default() += 1;
                if error {
                    self.last_error_exit =
                        Some(self.last_error_exit.map_or(row.occurred_at, |t| t.max(row.occurred_at)));
                }
            }
        }
    }

    pub fn last_error_exit(&self) -> Option<DateTime<Utc>> {
        self.last_error_exit
    }

    /// Queue figures per org label: items of orgs that are not configured (or not active) are
    /// folded under `_unknown`, as their events are.
    pub fn set_queue(&mut self, stats: Vec<QueueStat>) {
        let mut queue: HashMap<String, QueueStat> = HashMap::new();
        for q in stats {
            let label = self.org_label(&q.org_id);
            match queue.get_mut(&label) {
                Some(f) => {
                    f.depth += q.depth;
                    f.reprocess_depth += q.reprocess_depth;
                    f.oldest_enqueued_at = match (f.oldest_enqueued_at, q.oldest_enqueued_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                None => {
                    if label == UNKNOWN_ORG {
                        self.orgs.entry(label.clone()).or_default();
                    }
                    queue.insert(label.clone(), QueueStat { org_id: label, ..q });
                }
            }
        }
        self.queue = queue;
    }

    pub fn edge_exits(&self) -> Vec<EdgeExitCount> {
        self.exits.iter().map(|(&(reason, error), &count)| EdgeExitCount { reason, error, count }).collect()
    }

    /// Per-organization figures as of `now`.
    pub fn org_snapshots(&self, now: DateTime<Utc>, windows: &[Window]) -> Vec<OrgSnapshot> {
        let now_us = micros(now);
        self.orgs
            .iter()
            .map(|(label, org)| {
                let queue = self.queue.get(label);
                OrgSnapshot {
                    org: label.clone(),
                    endpoint: self.endpoints.get(label).cloned(),
                    received_total: org.received_total,
                    rejected_total: org
                        .rejected_total
                        .iter()
                        .map(|((r, c), n)| (*r, c.clone(), *n))
                        .collect(),
                    failed_total: org.failed_total.iter().map(|(c, n)| (c.clone(), *n)).collect(),
                    windows: windows
                        .iter()
                        .map(|w| {
                            let cutoff = now_us - w.micros;
                            let mut rejected_by_reason = [0; REASONS];
                            for (i, s) in org.recent_rejected.iter().enumerate() {
                                rejected_by_reason[i] = s.count_after(cutoff);
                            }
                            WindowCounts {
                                window: w.label.clone(),
                                received: org.recent_received.count_after(cutoff),
                                rejected_by_reason,
                                rejected_by_code: org
                                    .recent_rejected_by_code
                                    .iter()
                                    .map(|(c, s)| (c.clone(), s.count_after(cutoff)))
                                    .filter(|(_, n)| *n > 0)
                                    .collect(),
                                failed: org.recent_failed.count_after(cutoff),
                            }
                        })
                        .collect(),
                    last_received: org.last_received.and_then(DateTime::from_timestamp_micros),
                    queue_depth: queue.map_or(0, |q| q.depth.max(0) as u64),
                    queue_reprocess_depth: queue.map_or(0, |q| q.reprocess_depth.max(0) as u64),
                    queue_oldest_age_seconds: queue
                        .and_then(|q| q.oldest_enqueued_at)
                        .map_or(0.0, |t| ((now - t).num_microseconds().unwrap_or(0) as f64 / 1e6).max(0.0)),
                }
            })
            .collect()
    }
}
