//! Static checks of the "Webhook health" Grafana dashboard, its provisioning and the deployment
//! files (Prometheus, Alertmanager, docker-compose, PostgreSQL init, Dockerfile).
//!
//! Only std and serde_json. The checks that run `promtool`, `amtool` and `docker-compose` FAIL,
//! never skip, when a tool is missing: run `scripts/install-test-deps.sh`.
//!
//! Every PromQL target is a plain `expr` and every SQL target a plain `rawSql`; the only
//! template variables they use are listed in `PROM_VARIABLES` / `SQL_VARIABLES`, so tests that
//! run the queries against a real Prometheus / PostgreSQL can substitute them mechanically.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::dashboard::{
    dashboard, ds_uid, is_sql, panels, prom_targets, read, repo, sql_targets, str_of, targets, variable,
    variables_in, window_choices, PromTarget, DASHBOARD,
};
use crate::support::promql::selectors;

const DATASOURCES: &str = "grafana/provisioning/datasources/datasources.yaml";
const DASHBOARD_PROVIDERS: &str = "grafana/provisioning/dashboards/dashboards.yaml";
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
const ALERTMANAGER_CONFIG: &str = "deploy/alertmanager/alertmanager.yml";
const COMPOSE: &str = "docker-compose.yml";
const DOCKERFILE: &str = "Dockerfile";
const METRICS_DOC: &str = "docs/metrics.md";
/// The migrations creating the tables the dashboard and Grafana's role read: the log store, and
/// the sync service's attempt log.
const SCHEMA: &[&str] = &["migrations/postgres/0001_log_store.sql", "migrations/postgres/0007_sync_log.sql"];
const READER_SQL: &str = "deploy/postgres/init/grafana_reader.psql";
const READER_INIT: &str = "deploy/postgres/init/10-grafana-reader.sh";
const EXPORTER_ROLE_SQL: &str = "deploy/postgres/exporter_role.psql";
const EXPORTER_ROLE_INIT: &str = "deploy/postgres/exporter-role.sh";
const SECRETS_GENERATOR: &str = "deploy/secrets/generate.sh";

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh (apt-get install prometheus \
                            prometheus-alertmanager docker-compose)";

const PROMETHEUS_UID: &str = "prometheus";
const LOGSTORE_UID: &str = "webhook-logstore";
/// The dashboard's data source variables, as panels and targets reference them.
const PROMETHEUS_DS: &str = "${prometheus_datasource}";
const LOGSTORE_DS: &str = "${postgres_datasource}";
const LOGSTORE_TYPE: &str = "grafana-postgresql-datasource";
const EXPORTER_JOB: &str = "webhook-health-exporter";

/// Metrics without an `org` label: their selectors need no organization filter.
/// Everything else the dashboard reads is per organization and must be filtered by `$org`.
const GLOBAL_METRICS: &[&str] = &[
    "up", // Prometheus' own scrape health of the exporter job
    "webhook_store_up",
    "webhook_infrastructure_up",
    "webhook_last_healthy_timestamp_seconds",
    "webhook_edge_function_exits_total",
    "webhook_probe_success",
    "webhook_probe_duration_seconds",
    "webhook_probe_status_code",
    "webhook_exporter_build_info",
    "webhook_exporter_collect_duration_seconds",
    "webhook_exporter_last_collect_success_timestamp_seconds",
    "webhook_exporter_collect_errors_total",
    "webhook_exporter_rows_read_total",
    // The sync service's attempts and end-to-end lag are counted over all orgs (docs/metrics.md).
    "webhook_sync_attempts_total",
    "webhook_sync_lag_seconds_bucket",
];

/// Alerts of alerting-rules/ whose labels carry no org (infrastructure and the monitor itself):
/// an `ALERTS{alertname="..."}` selector for one of them needs no organization filter.
const GLOBAL_ALERTS: &[&str] =
    &["WebhookInfrastructureOutage", "WebhookLogStoreDown", "WebhookExporterDown", "WebhookExporterAbsent"];

const KNOWN_ALERTS: &[&str] = &[
    "WebhookHighRejectionRate",
    "WebhookInfrastructureOutage",
    "WebhookLogStoreDown",
    "WebhookExporterDown",
    "WebhookExporterAbsent",
    "WebhookOrgSilent",
    "WebhookAuthRejectionSpike",
    "WebhookEndpointUrlChanged",
    "WebhookQueueBacklog",
];

/// The organization filter every per-org selector must carry. `org=~"$org|"` additionally keeps
/// series without an org label (used for the list of other firing alerts).
const ORG_FILTERS: &[&str] = &["$org", "$org|"];

/// Template variables PromQL targets may use.
const PROM_VARIABLES: &[&str] = &["$job", "$instance", "$org", "$window", "$__rate_interval", "$__interval"];
/// Template variables SQL targets may use. `${org:regex}` is used because with the custom
/// all-value `.*` Grafana does not quote or list-format `$org` in SQL.
const SQL_VARIABLES: &[&str] = &["$__timeFilter", "${org:regex}"];
const SQL_ORG_FILTER: &str = "~ '^(${org:regex})$'";

const ADMIN_LINK: &str = "${exporter_url}/admin?org=${__data.fields.org}&event=${__data.fields.event_id}";

/// Metric name -> label names, from the metric contract docs/metrics.md. A histogram's
/// `_bucket` series carry its labels and `le`.
fn metric_contract() -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for line in read(METRICS_DOC).lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `name` | type | labels | meaning |
        if cells.len() < 5 || !cells[1].starts_with("`webhook_") {
            continue;
        }
        let name = cells[1].trim_matches('`').to_string();
        let labels: BTreeSet<String> = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_string())
            .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        if cells[2] == "histogram" {
            let mut bucket: BTreeSet<String> = labels.iter().cloned().collect();
            bucket.insert("le".to_string());
            out.insert(format!("{name}_bucket"), bucket);
        }
        out.insert(name, labels);
    }
    assert!(out.len() > 20, "could not read the metric tables of {METRICS_DOC}");
    out
}

/// Table name -> column names, from the log-store schema.
fn schema_tables() -> BTreeMap<String, BTreeSet<String>> {
    let sql: String = SCHEMA.iter().map(|file| read(file)).collect::<Vec<_>>().join("\n");
    let mut out = BTreeMap::new();
    let mut current: Option<(String, BTreeSet<String>)> = None;
    for line in sql.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
            let name = rest.split_whitespace().next().unwrap().trim_end_matches('(');
            current = Some((name.to_string(), BTreeSet::new()));
        } else if t.starts_with(");") {
            if let Some((name, cols)) = current.take() {
                out.insert(name, cols);
            }
        } else if let Some((_, cols)) = current.as_mut() {
            let first = t.split_whitespace().next().unwrap_or("");
            if !first.is_empty()
                && first.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                cols.insert(first.to_string());
            }
        }
    }
    for table in ["webhook_events", "sync_attempts"] {
        assert!(out.contains_key(table), "cannot parse {SCHEMA:?}: no table {table}");
    }
    out
}

mod deploy;
mod linter;
mod panels;
mod sync;

// ------------------------------------------------------------------- the scanner itself

#[test]
fn selector_scanner_understands_the_dashboard_idioms() {
    let s = selectors(
        "sum by (org) (max by (org, reason, code) (rate(webhook_payloads_rejected_total\
         {org=~\"$org\"}[$__rate_interval]))) / clamp_min(max by (org) \
         (webhook_window_payloads_received{org=~\"$org\", window=\"1h\"}), 1) and on (org) \
         ALERTS{alertname=\"X\", alertstate=\"firing\"} unless on () up == 0",
    );
    let names: Vec<_> = s.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(
        names,
        ["webhook_payloads_rejected_total", "webhook_window_payloads_received", "ALERTS", "up"]
    );
    assert_eq!(s[0].call.as_deref(), Some("rate"));
    assert_eq!(s[0].range.as_deref(), Some("$__rate_interval"));
    assert_eq!(s[1].matchers_of("window")[0].value, "1h");
    assert_eq!(s[2].matchers.len(), 2);
    assert_eq!(
        variables_in("a $org ${org:regex} $__timeFilter(x) [$__rate_interval]"),
        ["$org", "${org:regex}", "$__timeFilter", "$__rate_interval"]
    );
}
