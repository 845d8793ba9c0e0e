//! The "Portal sync service" row: every sync metric is shown, the silent divergence is loud,
//! sparse series read as 0, counters as rates, the lag from the histogram.

use super::*;

const ROW: &str = "Portal sync service";

/// The sync service's metrics (docs/metrics.md) and the queue gauges the row shows.
const SYNC_METRICS: &[&str] = &[
    "webhook_sync_window_items_synced",
    "webhook_sync_window_items_given_up",
    "webhook_sync_window_events_unaccounted",
    "webhook_sync_last_success_timestamp_seconds",
    "webhook_queue_depth",
    "webhook_queue_in_flight",
    "webhook_queue_lease_expired",
    "webhook_sync_attempts_total",
    "webhook_sync_lag_seconds_bucket",
];

/// Served only while above 0: a per-org target must give 0 to the orgs without them.
const SPARSE: &[&str] = &[
    "webhook_sync_window_items_given_up",
    "webhook_sync_window_events_unaccounted",
    "webhook_queue_depth",
    "webhook_queue_in_flight",
    "webhook_queue_lease_expired",
];

/// The panels of the row: those after it, up to the next row.
fn row_panels(d: &Value) -> Vec<&Value> {
    let all = d["panels"].as_array().unwrap();
    let start = all
        .iter()
        .position(|p| str_of(p, "type") == "row" && str_of(p, "title") == ROW)
        .unwrap_or_else(|| panic!("no row '{ROW}'"));
    all[start + 1..].iter().take_while(|p| str_of(p, "type") != "row").collect()
}

fn find<'a>(row: &[&'a Value], title: &str) -> &'a Value {
    row.iter()
        .find(|p| str_of(p, "title") == title)
        .unwrap_or_else(|| panic!("no panel '{title}' in '{ROW}'"))
}

fn exprs(p: &Value) -> Vec<&str> {
    targets(p).into_iter().map(|t| str_of(t, "expr")).filter(|e| !e.is_empty()).collect()
}

#[test]
fn the_row_shows_every_sync_metric_and_the_give_ups_from_the_log_store() {
    let d = dashboard();
    let row = row_panels(&d);
    let read: BTreeSet<String> =
        row.iter().flat_map(|p| exprs(p)).flat_map(selectors).map(|s| s.metric).collect();
    for metric in SYNC_METRICS {
        assert!(read.contains(*metric), "'{ROW}' does not show {metric}");
    }
    assert!(
        row.iter().any(|p| str_of(p, "title") == "Recent sync give-ups"),
        "'{ROW}' lacks the table of recent give-ups"
    );
}

#[test]
fn unaccounted_payloads_are_a_stat_that_turns_red_above_zero() {
    let d = dashboard();
    let row = row_panels(&d);
    let p = find(&row, "Payloads unaccounted for ($window)");
    assert_eq!(str_of(p, "type"), "stat");
    assert_eq!(p["options"]["colorMode"], "background", "the silent divergence must be loud");
    let steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"].as_array().unwrap();
    let steps: Vec<(&str, Option<f64>)> =
        steps.iter().map(|s| (str_of(s, "color"), s["value"].as_f64())).collect();
    assert_eq!(steps, [("green", None), ("red", Some(1.0))], "green at 0, red from 1");
    let expr = exprs(p)[0];
    let sels = selectors(expr);
    let unaccounted = sels.iter().find(|s| s.metric == "webhook_sync_window_events_unaccounted").unwrap();
    assert_eq!(unaccounted.matchers_of("window")[0].value, "$window");
    assert!(expr.contains(") or 0 * sum("), "0, not 'No data', on a healthy pipeline: `{expr}`");
    assert_eq!(targets(p)[0]["instant"], true);
}

#[test]
fn sparse_sync_series_read_as_zero_per_organization() {
    let d = dashboard();
    let row = row_panels(&d);
    let mut checked = BTreeSet::new();
    for p in &row {
        for expr in exprs(p) {
            for s in selectors(expr).into_iter().filter(|s| SPARSE.contains(&s.metric.as_str())) {
                assert!(
                    expr.contains(" or on (job, org) (0 * ") || expr.contains(") or 0 * sum("),
                    "panel '{}': sparse {} without its 0: `{expr}`",
                    str_of(p, "title"),
                    s.metric
                );
                checked.insert(s.metric);
            }
        }
    }
    assert_eq!(checked.len(), SPARSE.len(), "not every sparse series is shown: {checked:?}");
}

#[test]
fn attempts_are_rates_by_outcome_and_by_error_and_the_lag_comes_from_the_histogram() {
    let d = dashboard();
    let row = row_panels(&d);
    let by_outcome = exprs(find(&row, "Sync attempts per second by outcome"))[0];
    assert!(by_outcome.starts_with("sum by (outcome) ("), "`{by_outcome}`");
    let failed = exprs(find(&row, "Failed sync attempts per second by error class and HTTP status"))[0];
    assert!(failed.starts_with("sum by (error_class, code) ("), "`{failed}`");
    assert!(failed.contains("outcome!=\"succeeded\""), "`{failed}`");
    for expr in [by_outcome, failed] {
        assert!(expr.contains("rate(webhook_sync_attempts_total{"), "`{expr}`");
        assert!(expr.contains("[$__rate_interval]"), "`{expr}`");
    }

    let lag = find(&row, "End-to-end sync lag (received -> synced)");
    assert_eq!(str_of(&lag["fieldConfig"]["defaults"], "unit"), "s");
    let quantiles: Vec<&str> = exprs(lag);
    assert_eq!(quantiles.len(), 3, "p50, p95, p99");
    for (expr, q) in quantiles.iter().zip(["0.5", "0.95", "0.99"]) {
        assert!(
            expr.starts_with(&format!(
                "histogram_quantile({q}, max by (job, le) (rate(webhook_sync_lag_seconds_bucket{{"
            )) && expr.ends_with("[$__rate_interval])))"),
            "`{expr}`"
        );
    }
    // The alert's threshold as a dashed line (WebhookSyncLagHigh, mixin/config.libsonnet).
    let custom = &lag["fieldConfig"]["defaults"]["custom"];
    assert_eq!(custom["thresholdsStyle"]["mode"], "dashed");
    let steps = lag["fieldConfig"]["defaults"]["thresholds"]["steps"].as_array().unwrap();
    assert_eq!(steps.last().unwrap()["value"].as_f64(), Some(600.0));
}

#[test]
fn the_organization_table_shows_the_last_successful_sync_or_never() {
    let d = dashboard();
    let row = row_panels(&d);
    let p = find(&row, "Sync per organization");
    let last = targets(p)
        .into_iter()
        .find(|t| str_of(t, "expr").contains("webhook_sync_last_success_timestamp_seconds"))
        .expect("a target with the last successful sync");
    assert!(str_of(last, "expr").starts_with("time() - max by (job, org) ("));
    let overrides = p["fieldConfig"]["overrides"].as_array().unwrap();
    let column = overrides
        .iter()
        .find(|o| o["matcher"]["options"] == "Since last successful sync")
        .expect("a 'Since last successful sync' column");
    let props: BTreeMap<&str, &Value> =
        column["properties"].as_array().unwrap().iter().map(|p| (str_of(p, "id"), &p["value"])).collect();
    assert_eq!(props["unit"], "dtdurations");
    assert_eq!(props["noValue"], "never", "an organization that never synced says so");
}
