//! What one scrape shows: plain data computed by the collector, encoded by `metrics`.

use chrono::{DateTime, Utc};

use crate::domain::RejectionReason;

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub taken_at: Option<DateTime<Utc>>,
    pub store_up: bool,
    pub backend: &'static str,
    pub orgs: Vec<OrgSnapshot>,
    pub edge_exits: Vec<EdgeExitCount>,
    pub components: Vec<ComponentHealth>,
    pub exporter: ExporterStats,
    pub reprocess: ReprocessStats,
    pub lifecycle: LifecycleStats,
    /// The exporter's own process (None where the platform does not tell).
    pub process: Option<crate::process::ProcessStats>,
}

#[derive(Debug, Clone, Default)]
pub struct OrgSnapshot {
    pub org: String,
    /// None for the `_unknown` pseudo-organization.
    pub endpoint: Option<Endpoint>,
    pub received_total: u64,
    /// (reason, HTTP status code, count), sorted.
    pub rejected_total: Vec<(RejectionReason, String, u64)>,
    /// (HTTP status code, count), sorted.
    pub failed_total: Vec<(String, u64)>,
    pub windows: Vec<WindowCounts>,
    pub last_received: Option<DateTime<Utc>>,
    pub queue_depth: u64,
    pub queue_reprocess_depth: u64,
    pub queue_oldest_age_seconds: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub url: String,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowCounts {
    pub window: String,
    pub received: u64,
    /// Indexed by `RejectionReason::index()`.
    pub rejected_by_reason: [u64; RejectionReason::ALL.len()],
    /// (HTTP status code, count), sorted; codes seen in the window only.
    pub rejected_by_code: Vec<(String, u64)>,
    pub failed: u64,
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

/// What the lifecycle ingestion endpoints have done since the exporter started (empty while
/// ingestion is disabled).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LifecycleStats {
    /// (source, event result, count) for every pair, zeros included.
    pub events: Vec<(&'static str, &'static str, u64)>,
    /// (source, batch result, count) for every pair, zeros included.
    pub batches: Vec<(&'static str, &'static str, u64)>,
}
