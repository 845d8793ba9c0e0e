//! The collector's in-memory state: totals since the store began, and recent timestamps for
//! the window gauges. Applying rows is synchronous, so a cancelled read changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

mod exits;
mod orgs;
mod sync;

use super::series::TimeSeries;
use crate::domain::{status_label, Outcome, RejectionReason, UNKNOWN_ORG};
use crate::snapshot::{Endpoint, OrgSnapshot, QueueSnapshot, WindowCounts};
use crate::store::{EventAggregate, EventKey, EventRow, OrgRow, QueueStat};
use orgs::{FastMap, Orgs, Slot};
use sync::{OpenEvents, OrgSync, SyncTotals};

/// A configured time window for the `webhook_window_*` gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// As the user wrote it, used as the `window` label (`1h`, `24h`).
    pub label: Arc<str>,
    pub micros: i64,
}

#[derive(Debug, Default)]
struct OrgState {
    received_total: u64,
    last_received: Option<i64>,
    recent_received: TimeSeries,
    recent_rejected: BTreeMap<(RejectionReason, Arc<str>), TimeSeries>,
    recent_failed: TimeSeries,
    sync: OrgSync,
    /// Its open sync-queue items, as of the last refresh.
    queue: Option<Queued>,
    /// The figures last shown, while they still hold: any row read clears it.
    shown: Option<Shown>,
}

/// An org's open sync-queue items (the figures of [`QueueStat`]).
#[derive(Debug, Clone, Copy)]
struct Queued {
    depth: i64,
    reprocess_depth: i64,
    oldest_enqueued_at: Option<DateTime<Utc>>,
    in_flight: i64,
    lease_expired: i64,
}

/// Figures computed at `at` (µs) stay exact until `until`, when the oldest row a window counted
/// leaves that window: between the two, only a new row can change them. Every rejected or failed
/// row is also a received row, so the received series alone tells when that happens.
#[derive(Debug)]
struct Shown {
    figures: Arc<OrgSnapshot>,
    at: i64,
    until: i64,
}

#[derive(Debug, Default)]
pub struct State {
    /// By label; shared `Arc<str>`s so that figures copy no text.
    orgs: Orgs<OrgState>,
    /// HTTP status labels, made once.
    codes: FastMap<i32, Arc<str>>,
    /// Over all organizations: reasons and codes are told apart per org in the windows only (see
    /// docs/metrics.md, "The series budget").
    rejected_totals: BTreeMap<(RejectionReason, Arc<str>), u64>,
    failed_totals: BTreeMap<Arc<str>, u64>,
    endpoints: HashMap<String, Arc<Endpoint>>,
    exits: BTreeMap<(&'static str, bool), u64>,
    last_error_exit: Option<DateTime<Utc>>,
    sync_totals: SyncTotals,
    open: OpenEvents,
    /// The open events counted as unaccounted for by the last [`State::set_live`].
    unaccounted: Vec<EventKey>,
    /// The window start of the last pruning (µs).
    pruned_to: i64,
}

/// Pruning frees memory only (windows count from their own start, whatever the series hold), and
/// visiting every org's series was a twentieth of a busy refresh: at most once per this (µs).
const PRUNE_EVERY: i64 = 10_000_000;

/// The label a stored org id counts under: its own when configured, `_unknown` otherwise.
fn label<'a>(endpoints: &HashMap<String, Arc<Endpoint>>, org_id: &'a str) -> &'a str {
    if endpoints.contains_key(org_id) {
        org_id
    } else {
        UNKNOWN_ORG
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl State {
    /// Replaces the organization list with the active ones; every active org gets its (zero)
    /// series. Returns whether the set of orgs changed (not just a URL): then history must be
    /// attributed anew, and orgs no longer active lose their series.
    pub fn set_organizations(&mut self, rows: Vec<OrgRow>) -> bool {
        let endpoints: HashMap<String, Arc<Endpoint>> = rows
            .into_iter()
            .filter(|r| r.active)
            .map(|r| {
                let endpoint = Endpoint { url: r.endpoint_url, changed_at: r.endpoint_url_changed_at };
                (r.org_id, Arc::new(endpoint))
            })
            .collect();
        let changed = endpoints.len() != self.endpoints.len()
            || endpoints.keys().any(|org| !self.endpoints.contains_key(org));
        self.orgs.forget_ids();
        for (org, endpoint) in &endpoints {
            let slot = self.orgs.ensure(org);
            if self.endpoints.get(org) != Some(endpoint) {
                self.orgs.get_mut(slot).shown = None;
            }
        }
        self.endpoints = endpoints;
        changed
    }

    /// Forgets every figure read from events, before history is read again (and the open
    /// events, which name orgs by slot).
    pub fn reset_events(&mut self) {
        self.orgs.clear();
        self.open = OpenEvents::default();
        self.rejected_totals.clear();
        self.failed_totals.clear();
        for org in self.endpoints.keys() {
            self.orgs.ensure(org);
        }
    }

    /// The slot of the org a row belongs to (configured, or `_unknown`), made on first use.
    fn slot(&mut self, org_id: &str) -> Slot {
        let endpoints = &self.endpoints;
        self.orgs.resolve(org_id, |id| label(endpoints, id))
    }

    fn org_mut(&mut self, org_id: &str) -> &mut OrgState {
        let slot = self.slot(org_id);
        self.orgs.get_mut(slot)
    }

    fn code(&mut self, http_status: i32) -> Arc<str> {
        Arc::clone(self.codes.entry(http_status).or_insert_with(|| status_label(http_status).into()))
    }

    /// Adds history totals; `now` caps the last-received times (see [`State::apply_new`]).
    pub fn apply_aggregates(&mut self, aggregates: &[EventAggregate], now: DateTime<Utc>) {
        for a in aggregates {
            let n = a.count.max(0) as u64;
            let last = a.last_received_at.min(now);
            let slot = self.slot(&a.org_id);
            self.add_totals(slot, &a.outcome, a.rejection_reason.as_deref(), a.http_status, n, last);
        }
    }

    /// `org="_unknown"` keeps what it had counted of a configured org's payloads before the org
    /// was configured, so its counter never goes down: `carry` is what the store recorded for
    /// each org when it was configured (migration 0010). Orgs not configured here are `_unknown`'s
    /// already, whole.
    pub fn apply_unknown_carry(&mut self, carry: &[(String, i64)]) {
        let kept: u64 = carry
            .iter()
            .filter(|(org_id, _)| self.endpoints.contains_key(org_id))
            .map(|(_, n)| (*n).max(0) as u64)
            .sum();
        if kept > 0 {
            let slot = self.orgs.ensure(UNKNOWN_ORG);
            let unknown = self.orgs.get_mut(slot);
            unknown.received_total += kept;
            unknown.shown = None;
        }
    }

    /// Adds rows to the window series only (their totals came from `apply_aggregates`).
    pub fn apply_recent(&mut self, rows: &[EventRow], window_start: i64) {
        for row in rows {
            let slot = self.slot(&row.org_id);
            self.record_recent(slot, row, window_start);
        }
    }

    /// Adds newly committed rows to totals and windows. A row dated after `now` (a writer with a
    /// skewed clock) counts in the windows as SQL counts it, but was received no later than
    /// `now` as far as the last-received time goes: a skewed writer must not delay the silence
    /// alert by the skew.
    pub fn apply_new(&mut self, rows: &[EventRow], window_start: i64, now: DateTime<Utc>) {
        for row in rows {
            let slot = self.slot(&row.org_id);
            let t = micros(row.received_at);
            if t > window_start && row.outcome == Outcome::Accepted.as_str() {
                self.open_event(row.event_id, slot, t);
            }
            let last = row.received_at.min(now);
            self.add_totals(slot, &row.outcome, row.rejection_reason.as_deref(), row.http_status, 1, last);
            self.record_recent(slot, row, window_start);
        }
    }

    fn add_totals(
        &mut self,
        slot: Slot,
        outcome: &str,
        reason: Option<&str>,
        http_status: i32,
        n: u64,
        last: DateTime<Utc>,
    ) {
        let org = self.orgs.get_mut(slot);
        org.shown = None;
        org.received_total += n;
        let last = micros(last);
        org.last_received = Some(org.last_received.map_or(last, |l| l.max(last)));
        match Outcome::parse(outcome) {
            Some(Outcome::Rejected) => {
                let key = (RejectionReason::from_stored(reason), self.code(http_status));
                *self.rejected_totals.entry(key).or_default() += n;
            }
            Some(Outcome::Failed) => {
                let code = self.code(http_status);
                *self.failed_totals.entry(code).or_default() += n;
            }
            Some(Outcome::Accepted) | None => {}
        }
    }

    fn record_recent(&mut self, slot: Slot, row: &EventRow, window_start: i64) {
        let t = micros(row.received_at);
        if t <= window_start {
            return;
        }
        let outcome = Outcome::parse(&row.outcome);
        let code = (outcome == Some(Outcome::Rejected)).then(|| self.code(row.http_status));
        let org = self.orgs.get_mut(slot);
        org.shown = None;
        org.recent_received.insert(t);
        match outcome {
            Some(Outcome::Rejected) => {
                let reason = RejectionReason::from_stored(row.rejection_reason.as_deref());
                let code = code.expect("made for rejected rows");
                org.recent_rejected.entry((reason, code)).or_default().insert(t);
            }
            Some(Outcome::Failed) => org.recent_failed.insert(t),
            Some(Outcome::Accepted) | None => {}
        }
    }

    /// Replaces the window series with `rows` (after rows inside a window were deleted).
    pub fn replace_recent(&mut self, rows: &[EventRow], window_start: i64) {
        for org in self.orgs.values_mut() {
            org.recent_received = TimeSeries::default();
            org.recent_rejected.clear();
            org.recent_failed = TimeSeries::default();
            org.shown = None;
        }
        self.apply_recent(rows, window_start);
    }

    /// How many rows received after `window_start` the windows hold, over all orgs.
    pub fn recent_count(&self, window_start: i64) -> u64 {
        self.orgs.values().map(|o| o.recent_received.count_after(window_start)).sum()
    }

    /// Drops timestamps no window can count any more (no figure changes), every
    /// [`PRUNE_EVERY`] of window movement.
    pub fn prune(&mut self, window_start: i64) {
        if window_start < self.pruned_to.saturating_add(PRUNE_EVERY) {
            return;
        }
        self.pruned_to = window_start;
        self.prune_open(window_start);
        for org in self.orgs.values_mut() {
            org.sync.prune(window_start);
            org.recent_received.prune(window_start);
            org.recent_failed.prune(window_start);
            org.recent_rejected.retain(|_, s| {
                s.prune(window_start);
                !s.is_empty()
            });
        }
    }

    /// Queue figures per org label: items of orgs that are not configured (or not active) are
    /// folded under `_unknown`, as their events are, and an org's several rows add up.
    pub fn set_queue(&mut self, stats: Vec<QueueStat>) {
        for org in self.orgs.values_mut() {
            org.queue = None;
        }
        for q in stats {
            let slot = self.slot(&q.org_id);
            let add = Queued {
                depth: q.depth,
                reprocess_depth: q.reprocess_depth,
                oldest_enqueued_at: q.oldest_enqueued_at,
                in_flight: q.in_flight,
                lease_expired: q.lease_expired,
            };
            let queue = &mut self.orgs.get_mut(slot).queue;
            *queue = Some(match *queue {
                None => add,
                Some(f) => Queued {
                    depth: f.depth + add.depth,
                    reprocess_depth: f.reprocess_depth + add.reprocess_depth,
                    oldest_enqueued_at: match (f.oldest_enqueued_at, add.oldest_enqueued_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    },
                    in_flight: f.in_flight + add.in_flight,
                    lease_expired: f.lease_expired + add.lease_expired,
                },
            });
        }
    }

    /// Rejected payloads over all organizations, by reason and code, since the store began.
    pub fn rejected_totals(&self) -> Vec<(RejectionReason, String, u64)> {
        self.rejected_totals.iter().map(|((r, code), n)| (*r, code.to_string(), *n)).collect()
    }

    /// Failed payloads over all organizations, by code, since the store began.
    pub fn failed_totals(&self) -> Vec<(String, u64)> {
        self.failed_totals.iter().map(|(code, n)| (code.to_string(), *n)).collect()
    }

    /// Per-organization figures as of `now`: those that cannot have moved since they were last
    /// computed are the same `Arc` as then.
    pub fn org_snapshots(&mut self, now: DateTime<Utc>, windows: &[Window]) -> Vec<Arc<OrgSnapshot>> {
        let now_us = micros(now);
        let endpoints = &self.endpoints;
        self.orgs
            .sorted_mut()
            .map(|(label, org)| {
                if let Some(shown) = org.shown.as_ref().filter(|s| (s.at..s.until).contains(&now_us)) {
                    return Arc::clone(&shown.figures);
                }
                let figures = org.figures(label, endpoints.get(&**label), now_us, windows);
                let received = &mut org.recent_received;
                let until = windows
                    .iter()
                    .enumerate()
                    .filter_map(|(i, w)| received.first_in_window(i, now_us - w.micros).map(|t| t + w.micros))
                    .min()
                    .into_iter()
                    .chain(org.sync.next_expiry(now_us, windows))
                    .min()
                    .unwrap_or(i64::MAX);
                // Unchanged figures keep their identity, so nothing downstream redoes its work.
                let figures = match org.shown.take() {
                    Some(old) if *old.figures == figures => old.figures,
                    _ => Arc::new(figures),
                };
                org.shown = Some(Shown { figures: Arc::clone(&figures), at: now_us, until });
                figures
            })
            .collect()
    }

    /// Queue figures of the orgs with pending items, as of `now`, sorted by org.
    pub fn queue_snapshots(&mut self, now: DateTime<Utc>) -> Vec<QueueSnapshot> {
        self.orgs
            .sorted_mut()
            .filter_map(|(label, org)| Some((label, org.queue?)))
            .filter(|(_, q)| q.depth > 0 || q.in_flight > 0)
            .map(|(label, q)| QueueSnapshot {
                org: label.to_string(),
                depth: q.depth.max(0) as u64,
                reprocess_depth: q.reprocess_depth.max(0) as u64,
                in_flight: q.in_flight.max(0) as u64,
                lease_expired: q.lease_expired.max(0) as u64,
                oldest_age_seconds: q
                    .oldest_enqueued_at
                    .map(|t| ((now - t).num_microseconds().unwrap_or(0) as f64 / 1e6).max(0.0)),
            })
            .collect()
    }
}

impl OrgState {
    fn figures(
        &mut self,
        label: &Arc<str>,
        endpoint: Option<&Arc<Endpoint>>,
        now_us: i64,
        windows: &[Window],
    ) -> OrgSnapshot {
        OrgSnapshot {
            org: Arc::clone(label),
            endpoint: endpoint.cloned(),
            received_total: self.received_total,
            windows: windows
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let cutoff = now_us - w.micros;
                    let rejected_by_reason: Vec<_> = self
                        .recent_rejected
                        .iter_mut()
                        .filter_map(|((r, code), s)| {
                            let n = s.in_window(i, cutoff);
                            (n > 0).then(|| (*r, Arc::clone(code), n))
                        })
                        .collect();
                    WindowCounts {
                        window: Arc::clone(&w.label),
                        received: self.recent_received.in_window(i, cutoff),
                        rejected: rejected_by_reason.iter().map(|(_, _, n)| n).sum(),
                        failed: self.recent_failed.in_window(i, cutoff),
                        rejected_by_reason,
                        synced: self.sync.synced.in_window(i, cutoff),
                        given_up: self.sync.given_up.in_window(i, cutoff),
                        unaccounted: self.sync.unaccounted.in_window(i, cutoff),
                    }
                })
                .collect(),
            last_received: self.last_received.and_then(DateTime::from_timestamp_micros),
            last_synced: self.sync.last_success.and_then(DateTime::from_timestamp_micros),
        }
    }
}

#[cfg(test)]
mod tests;
