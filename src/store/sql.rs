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
pub const EVENT_COLUMNS: &str = "event_id, org_id, received_at, outcome, http_status, rejection_reason";

/// The attempt columns the collector reads (the fields of `AttemptRow`).
pub const ATTEMPT_COLUMNS: &str =
    "event_id, org_id, finished_at, outcome, error_class, http_status, received_at";

/// Totals of every attempt ever logged, from the rollup the insert trigger keeps (migration 0007).
/// SQLite stores the rollup's NULLs as '' / 0 / -1 (its key must conflict): `nullif` reads both alike.
pub const ATTEMPT_TOTALS: &str = "SELECT org_id, outcome, nullif(error_class, '') AS error_class,
        nullif(http_status, 0) AS http_status, CASE WHEN lag_le > 0 THEN lag_le END AS lag_le,
        CAST(sum(count) AS bigint) AS count, CAST(sum(lag_sum) AS double precision) AS lag_sum,
        max(last_finished_at) AS last_finished_at
     FROM sync_attempt_totals GROUP BY org_id, outcome, error_class, http_status, lag_le";
pub const ATTEMPT_TOTALS_OP: &str =
    "reading sync_attempt_totals (if it does not exist: webhook-health-exporter migrate)";

/// The logged attempts the window gauges count (successes and give-ups).
pub const WINDOW_OUTCOMES: &str = "outcome IN ('succeeded', 'gave_up')";

/// Totals of every lifecycle event ever committed, from the rollup the insert trigger keeps
/// (migration 0010). SQLite stores no shutdown reason as '': `nullif` reads both alike.
pub const LIFECYCLE_TOTALS: &str =
    "SELECT function_name, event_type, nullif(shutdown_reason, '') AS shutdown_reason,
        CAST(sum(count) AS bigint) AS count
     FROM edge_function_event_totals GROUP BY function_name, event_type, shutdown_reason";
pub const LIFECYCLE_TOTALS_OP: &str =
    "reading edge_function_event_totals (if it does not exist: webhook-health-exporter migrate)";

/// What `org="_unknown"` had counted of each configured org's payloads when it was configured
/// (migration 0010).
pub const UNKNOWN_CARRY: &str = "SELECT org_id, CAST(received AS bigint) FROM webhook_unknown_carry";
pub const UNKNOWN_CARRY_OP: &str =
    "reading webhook_unknown_carry (if it does not exist: webhook-health-exporter migrate)";

/// The lifecycle columns the collector reads (the fields of `LifecycleRow`).
pub const LIFECYCLE_COLUMNS: &str = "occurred_at, function_name, event_type, shutdown_reason";

pub const ORGANIZATIONS: &str = "SELECT org_id, display_name, endpoint_url, endpoint_url_changed_at, active
     FROM organizations ORDER BY org_id";

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
