//! The dashboard's `job`, `instance` and `org` variables against the running stack: what their
//! queries offer, and that `$job` and `$instance` reach every PromQL target.

use super::*;

/// Alerts aggregated over a job's replicas without an org (`max by (job, ...)`): no instance.
const JOB_ALERTS: &[&str] = &["WebhookSyncServiceDown", "WebhookSyncLagHigh"];

/// What a `label_values(SELECTOR, LABEL)` variable offers, its selector's variables at All.
async fn offered(stack: &Stack, d: &Value, name: &str) -> BTreeSet<String> {
    let query = dash::str_of(dash::variable(d, name), "query");
    let args = query
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or_else(|| panic!("the {name} variable's query `{query}` is not label_values(...)"));
    let (selector, label) = args.rsplit_once(',').expect("label_values(METRIC, LABEL)");
    let selector = promql(selector.trim(), ".*", "24h");
    stack.prometheus.label_values(&selector, label.trim()).await.into_iter().collect()
}

/// The `job` and `instance` variables offer the scraped exporter; the `org` variable exactly the
/// configured organizations (not `_unknown`, the bucket of payloads naming none).
pub(super) async fn offer_the_exporter_and_the_organizations(stack: &Stack, d: &Value) {
    assert_eq!(offered(stack, d, "job").await, BTreeSet::from([EXPORTER_JOB.to_string()]));
    let instance = stack.exporter.addr.to_string();
    assert_eq!(offered(stack, d, "instance").await, BTreeSet::from([instance]));
    let configured: BTreeSet<String> = simulate::org_ids(ORGS).into_iter().collect();
    assert_eq!(offered(stack, d, "org").await, configured, "the org variable");
}

/// `$job` and `$instance` reach every target: selecting the scraped exporter by name changes
/// nothing, selecting a job or an instance that does not exist empties every target.
pub(super) async fn job_and_instance_filter_every_target(stack: &Stack, targets: &[PromTarget]) {
    let instance = regex_escape(&stack.exporter.addr.to_string());
    for t in targets {
        let at = format!("panel '{}' target {}", t.panel, t.ref_id);
        let all = stack.run(&promql(&t.expr, ".*", "24h"), t.instant).await;
        let named = stack.run(&promql_for(&t.expr, EXPORTER_JOB, &instance, ".*", "24h"), t.instant).await;
        assert!(same_outcome(&named, &all), "{at}: naming the only job and instance changes the result");
        for (job, instance) in [("no-such-job", ".+"), (".+", "no-such-instance:1")] {
            let none = stack.run(&promql_for(&t.expr, job, instance, ".*", "24h"), t.instant).await;
            let left: Vec<&Labels> = none.iter().filter(|(_, v)| !v.is_empty()).map(|(l, _)| l).collect();
            // Org-scoped alerts, and the job-wide sync alerts, aggregate over the replicas and
            // carry no instance: `$instance|` keeps them whatever the instance
            // (grafana/dashboards/.lint).
            let replica_alerts_stay = instance != ".+" && t.expr.contains("$instance|");
            let over_replicas = |l: &Labels| {
                l.contains_key("org") || l.get("alertname").is_some_and(|a| JOB_ALERTS.contains(&a.as_str()))
            };
            assert!(
                left.iter().all(|l| replica_alerts_stay && over_replicas(l)),
                "{at}: job {job}, instance {instance} still returns {left:?}: `{}`",
                t.expr
            );
        }
    }
}

/// A selected value as Grafana writes it into a PromQL regex matcher: regex characters escaped,
/// with the backslash doubled for the PromQL string (an instance is `host:port`).
fn regex_escape(value: &str) -> String {
    value.replace('.', r"\\.")
}
