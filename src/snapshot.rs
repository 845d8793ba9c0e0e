//! What one scrape shows: plain data computed by the collector, encoded by `metrics`.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::RejectionReason;

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub taken_at: Option<DateTime<Utc>>,
    pub store_up: bool,
    pub backend: &'static str,
    pub orgs: Vec<Arc<OrgSnapshot>>,
    /// Orgs with pending sync-queue items only.
    pub queues: Vec<QueueSnapshot>,
    /// (reason, HTTP status code, count) over all organizations, sorted.
    pub rejected_totals: Vec<(RejectionReason, String, u64)>,
    /// (HTTP status code, count) over all organizations, sorted.
    pub failed_totals: Vec<(String, u64)>,
    pub edge_exits: Vec<EdgeExitCount>,
    pub sync: SyncStats,
    pub components: Vec<ComponentHealth>,
    pub exporter: ExporterStats,
    pub reprocess: ReprocessStats,
    pub lifecycle: LifecycleStats,
    pub failures: FailureStats,
    /// The exporter's own process (None where the platform does not tell).
    pub process: Option<crate::process::ProcessStats>,
}

impl Snapshot {
    /// Everything but the per-organization figures (which encoders take by reference).
    pub fn clone_rest(&self) -> Snapshot {
        Snapshot {
            taken_at: self.taken_at,
            store_up: self.store_up,
            backend: self.backend,
            orgs: Vec::new(),
            queues: Vec::new(),
            rejected_totals: self.rejected_totals.clone(),
            failed_totals: self.failed_totals.clone(),
            edge_exits: self.edge_exits.clone(),
            sync: self.sync.clone(),
            components: self.components.clone(),
            exporter: self.exporter.clone(),
            reprocess: self.reprocess.clone(),
            lifecycle: self.lifecycle.clone(),
            failures: self.failures.clone(),
            process: self.process.clone(),
        }
    }
}

/// One organization's traffic figures. Shared (`Arc`) and replaced only when a figure moved, so
/// that an encoder can keep the text it wrote for the previous one (see `metrics`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgSnapshot {
    pub org: Arc<str>,
    /// None for the `_unknown` pseudo-organization.
    pub endpoint: Option<Arc<Endpoint>>,
    pub received_total: u64,
    pub windows: Vec<WindowCounts>,
    pub last_received: Option<DateTime<Utc>>,
    /// The last successful sync (None until the first).
    pub last_synced: Option<DateTime<Utc>>,
}

/// The sync queue of an organization with open items (waiting or in flight). Apart from the traffic figures: the
/// oldest item's age moves with every scrape, the traffic figures only when rows arrive or leave
/// a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSnapshot {
    pub org: String,
    pub depth: u64,
    pub reprocess_depth: u64,
    /// None when the store does not tell when the items were enqueued, or none waits.
    pub oldest_age_seconds: Option<f64>,
    pub in_flight: u64,
    /// In flight with their lease run out: their worker vanished.
    pub lease_expired: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub url: String,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowCounts {
    pub window: Arc<str>,
    pub received: u64,
    pub rejected: u64,
    pub failed: u64,
    /// (reason, HTTP status code, count) with a count above 0, sorted.
    pub rejected_by_reason: Vec<(RejectionReason, Arc<str>, u64)>,
    /// Queue items the sync service applied to the portal (a logged success) in the window.
    pub synced: u64,
    /// Queue items the sync service gave up on in the window.
    pub given_up: u64,
    /// Accepted events received in the window that are neither synced, nor waiting or in flight,
    /// nor given up: 0 on a healthy pipeline.
    pub unaccounted: u64,
}

/// What the sync service did, over all organizations, since the log store began.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncStats {
    /// (outcome, error class or `none`, portal HTTP status or `none`, count), sorted.
    pub attempts: Vec<(&'static str, &'static str, Arc<str>, u64)>,
    pub lag: LagHistogram,
}

/// The end-to-end lag of successful syncs (received -> synced).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LagHistogram {
    /// (upper bound, count in this bucket alone), the last bound +Inf.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EdgeExitCount {
    pub reason: &'static str,
    pub error: bool,
    pub count: u64,
}

/// Health of one infrastructure component (an endpoint probe or the Edge Function).
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentHealth {
    pub component: String,
    pub up: bool,
    pub last_healthy: Option<DateTime<Utc>>,
    pub probe: Option<ProbeResult>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    pub success: bool,
    pub duration_seconds: f64,
    /// 0 when no HTTP answer came back.
    pub status_code: u16,
}

#[derive(Debug, Clone, Default)]
pub struct ExporterStats {
    pub collect_duration_seconds: f64,
    pub last_success: Option<DateTime<Utc>>,
    pub collect_errors_total: u64,
    pub event_rows_read_total: u64,
    pub lifecycle_rows_read_total: u64,
    pub attempt_rows_read_total: u64,
    /// Age of the oldest open transaction that has written log rows (0 if none).
    pub read_held_back_seconds: f64,
    /// Rebuilds of the windows after rows inside them were deleted.
    pub window_rebuilds_total: u64,
}

/// What the reprocessing API has done since the exporter started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReprocessStats {
    /// (result, count) for every result, zeros included.
    pub requests: Vec<(&'static str, u64)>,
    /// (org label, events enqueued), sorted.
    pub enqueued_by_org: Vec<(String, u64)>,
    /// (route, refusal reason, count) for every declared or refused route, zeros included.
    pub refused: Vec<(String, &'static str, u64)>,
}

/// Failures the exporter survived since it started (`failure_counters`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailureStats {
    pub scrape_deadline_exceeded: u64,
    /// (path, count) for every path, zeros included.
    pub store_errors: Vec<(&'static str, u64)>,
}

/// What the lifecycle ingestion endpoints have done since the exporter started (empty while
/// ingestion is disabled).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LifecycleStats {
    /// (source, event result, count) for every pair, zeros included.
    pub events: Vec<(&'static str, &'static str, u64)>,
    /// (source, batch result, count) for every pair, zeros included.
    pub batches: Vec<(&'static str, &'static str, u64)>,
}
