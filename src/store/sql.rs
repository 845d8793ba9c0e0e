//! SQL text both backends share.

/// Totals of every event row ever committed, by the labels the metrics use, from the rollup the
/// insert trigger keeps (migrations 0003): retention deletes do not lower them.
pub const EVENT_TOTALS: &str =
    "SELECT org_id, outcome, http_status, nullif(rejection_reason, '') AS rejection_reason,
        CAST(sum(count) AS bigint) AS count, max(last_received_at) AS last_received_at
     FROM webhook_event_totals GROUP BY org_id, outcome, http_status, rejection_reason";
/// What a failed totals read is called; the usual cause is a store not migrated to version 3.
pub const TOTALS_OP: &str =
    "reading webhook_event_totals (if it does not exist: webhook-health-exporter migrate)";

/// The event columns the collector reads (the fields of `EventRow`).
pub const EVENT_COLUMNS: &str = "org_id, received_at, outcome, http_status, rejection_reason";

/// The lifecycle columns the collector reads (the fields of `LifecycleRow`).
pub const LIFECYCLE_COLUMNS: &str = "occurred_at, function_name, event_type, shutdown_reason";

pub const ORGANIZATIONS: &str = "SELECT org_id, display_name, endpoint_url, endpoint_url_changed_at, active
     FROM organizations ORDER BY org_id";

/// Waiting items per org; `reprocess_count` is the backend's way to count flagged rows.
pub fn queue_stats(reprocess_count: &str) -> String {
    format!(
        "SELECT org_id, count(*) AS depth, {reprocess_count} AS reprocess_depth,
                min(enqueued_at) AS oldest_enqueued_at
         FROM sync_queue WHERE state = 'pending' GROUP BY org_id"
    )
}

pub const COMPONENT_HEALTH: &str = "SELECT component, last_healthy_at FROM component_health";

/// Creates or updates an organization; `endpoint_url_changed_at` moves only when the URL changes.
pub const UPSERT_ORGANIZATION: &str = "INSERT INTO organizations
        (org_id, display_name, endpoint_url, endpoint_url_changed_at, created_at)
     VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (org_id) DO UPDATE SET
       display_name = excluded.display_name,
       endpoint_url = excluded.endpoint_url,
       endpoint_url_changed_at = CASE WHEN organizations.endpoint_url = excluded.endpoint_url
         THEN organizations.endpoint_url_changed_at ELSE excluded.endpoint_url_changed_at END";

/// Never moves a last-healthy time backwards; `greatest` is the backend's two-argument maximum.
pub fn record_healthy(greatest: &str) -> String {
    format!(
        "INSERT INTO component_health (component, last_healthy_at, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (component) DO UPDATE
         SET last_healthy_at = {greatest}(component_health.last_healthy_at, excluded.last_healthy_at),
             updated_at = excluded.updated_at"
    )
}
