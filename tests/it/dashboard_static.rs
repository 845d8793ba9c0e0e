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

const DATASOURCES: &str = "grafana/provisioning/datasources/datasources.yaml";
const DASHBOARD_PROVIDERS: &str = "grafana/provisioning/dashboards/dashboards.yaml";
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
const ALERTMANAGER_CONFIG: &str = "deploy/alertmanager/alertmanager.yml";
const COMPOSE: &str = "docker-compose.yml";
const DOCKERFILE: &str = "Dockerfile";
const METRICS_DOC: &str = "docs/metrics.md";
const SCHEMA: &str = "migrations/postgres/0001_log_store.sql";
const READER_SQL: &str = "deploy/postgres/init/grafana_reader.psql";
const READER_INIT: &str = "deploy/postgres/init/10-grafana-reader.sh";

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh (apt-get install prometheus \
                            prometheus-alertmanager docker-compose)";

const PROMETHEUS_UID: &str = "prometheus";
const LOGSTORE_UID: &str = "webhook-logstore";
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
const PROM_VARIABLES: &[&str] = &["$org", "$window", "$__rate_interval", "$__interval"];
/// Template variables SQL targets may use. `${org:regex}` is used because with the custom
/// all-value `.*` Grafana does not quote or list-format `$org` in SQL.
const SQL_VARIABLES: &[&str] = &["$__timeFilter", "${org:regex}"];
const SQL_ORG_FILTER: &str = "~ '^(${org:regex})$'";

const ADMIN_LINK: &str = "${exporter_url}/admin?org=${__data.fields.org}&event=${__data.fields.event_id}";

// ------------------------------------------------------------------- a small PromQL scanner

#[derive(Debug)]
struct Matcher {
    label: String,
    op: String,
    value: String,
}

#[derive(Debug)]
struct Selector {
    metric: String,
    matchers: Vec<Matcher>,
    /// The range of a range selector (`[...]`), if any.
    range: Option<String>,
    /// The function whose first argument this selector is, e.g. `rate`.
    call: Option<String>,
}

impl Selector {
    fn matchers_of(&self, label: &str) -> Vec<&Matcher> {
        self.matchers.iter().filter(|m| m.label == label).collect()
    }
}

const PROMQL_KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
];
/// Keywords followed by a parenthesised label list rather than an expression.
const LABEL_LIST_KEYWORDS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Index just past the string literal starting at `i` (quote char at `i`).
fn skip_string(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() && b[j] != q {
        if b[j] == b'\\' && q != b'`' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

fn parse_matchers(body: &str) -> Vec<Matcher> {
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        i = skip_ws(b, i);
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && is_ident(b[i]) {
            i += 1;
        }
        let label = body[start..i].to_string();
        i = skip_ws(b, i);
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| body[i..].starts_with(op))
            .unwrap_or_else(|| panic!("cannot parse matchers `{body}`"));
        i = skip_ws(b, i + op.len());
        assert!(i < b.len() && (b[i] == b'"' || b[i] == b'\''), "matcher value is not quoted in `{body}`");
        let end = skip_string(b, i);
        out.push(Matcher { label, op: op.to_string(), value: body[i + 1..end - 1].to_string() });
        i = skip_ws(b, end);
        if i < b.len() && b[i] == b',' {
            i += 1;
        }
    }
    out
}

/// The vector selectors of a PromQL expression, in order. Good enough for the expressions of
/// this dashboard (no subqueries, no `{__name__=...}` selectors).
fn selectors(expr: &str) -> Vec<Selector> {
    let b = expr.as_bytes();
    let mut out: Vec<Selector> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_string(b, i);
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_digit() || c == b'.' {
            // A number or a duration: never the start of a metric name.
            while i < b.len() && (is_ident(b[i]) || b[i] == b'.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let next = skip_ws(b, i);
            if LABEL_LIST_KEYWORDS.contains(&word) && next < b.len() && b[next] == b'(' {
                i = expr[next..].find(')').map(|e| next + e + 1).expect("unclosed label list");
                continue;
            }
            let grouped_aggregation = ["by", "without"].iter().any(|k| {
                expr[next..].starts_with(k)
                    && !expr[next + k.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
            if PROMQL_KEYWORDS.contains(&word) || grouped_aggregation || (next < b.len() && b[next] == b'(') {
                continue; // keyword, function or aggregation (`sum by (org) (...)`)
            }
            // The function this selector is the first argument of, if any.
            let before = expr[..start].trim_end();
            let call = before.strip_suffix('(').map(|f| {
                let f = f.trim_end();
                let s =
                    f.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map(|p| p + 1).unwrap_or(0);
                f[s..].to_string()
            });
            let mut sel = Selector { metric: word.to_string(), matchers: Vec::new(), range: None, call };
            i = next;
            if i < b.len() && b[i] == b'{' {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'}' {
                    if b[j] == b'"' || b[j] == b'\'' {
                        j = skip_string(b, j);
                    } else {
                        j += 1;
                    }
                }
                sel.matchers = parse_matchers(&expr[i + 1..j]);
                i = skip_ws(b, j + 1);
            }
            if i < b.len() && b[i] == b'[' {
                let end = expr[i..].find(']').map(|e| i + e).expect("unclosed range");
                sel.range = Some(expr[i + 1..end].trim().to_string());
                i = end + 1;
            }
            out.push(sel);
        } else {
            i += 1;
        }
    }
    out
}

/// Metric name -> label names, from the metric contract docs/metrics.md.
fn metric_contract() -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for line in read(METRICS_DOC).lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `name` | type | labels | meaning |
        if cells.len() < 5 || !cells[1].starts_with("`webhook_") {
            continue;
        }
        let name = cells[1].trim_matches('`').to_string();
        let labels = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_string())
            .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        out.insert(name, labels);
    }
    assert!(out.len() > 20, "could not read the metric tables of {METRICS_DOC}");
    out
}

/// Table name -> column names, from the log-store schema.
fn schema_tables() -> BTreeMap<String, BTreeSet<String>> {
    let sql = read(SCHEMA);
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
    assert!(out.contains_key("webhook_events"), "cannot parse {SCHEMA}");
    out
}

// ---------------------------------------------------------------------------- the dashboard

#[test]
fn dashboard_is_valid_json_with_fixed_uid_and_read_only() {
    let d = dashboard();
    assert_eq!(str_of(&d, "uid"), "webhook-health");
    assert_eq!(d["editable"], Value::Bool(false), "dashboard must be editable: false");
    assert!(!str_of(&d, "title").is_empty(), "dashboard needs a title");
    assert!(
        d.get("id").unwrap_or(&Value::Null).is_null(),
        "a provisioned dashboard must not carry a database id"
    );
    assert_eq!(d["graphTooltip"], 1, "shared crosshair keeps the panels comparable");
}

#[test]
fn dashboard_variables() {
    let d = dashboard();

    let ds = variable(&d, "datasource");
    assert_eq!(str_of(ds, "type"), "datasource");
    assert_eq!(str_of(ds, "query"), "prometheus");

    let org = variable(&d, "org");
    assert_eq!(str_of(org, "type"), "query");
    assert_eq!(ds_uid(org), "${datasource}");
    assert_eq!(str_of(org, "query"), "label_values(webhook_endpoint_info, org)");
    assert_eq!(org["multi"], true);
    assert_eq!(org["includeAll"], true);
    assert_eq!(str_of(org, "allValue"), ".*");
    assert_eq!(org["refresh"], 2, "refresh the org list on time range change");
    assert_eq!(
        org["current"]["value"],
        serde_json::json!(["$__all"]),
        "the default selection must be All, not a hard-coded organization"
    );
    assert!(
        org["options"].as_array().unwrap_or(&Vec::new()).is_empty(),
        "the org options must come from the query, not be stored in the dashboard"
    );

    let window = variable(&d, "window");
    assert_eq!(str_of(window, "type"), "custom");
    assert_eq!(window_choices(&d), ["1h", "24h", "7d"]);
    assert_eq!(
        window["current"]["value"], "24h",
        "the acceptance criteria ask for the last 24 hours on load"
    );

    let url = variable(&d, "exporter_url");
    assert!(
        ["textbox", "constant"].contains(&str_of(url, "type")),
        "exporter_url must be a textbox or constant variable"
    );
    assert_eq!(str_of(url, "query"), "http://localhost:9877");
}

#[test]
fn every_panel_has_title_description_unit_and_a_target() {
    let d = dashboard();
    let all = panels(&d);
    assert!(all.len() >= 10, "the dashboard lost panels");
    for p in all {
        let title = str_of(p, "title");
        assert!(!title.trim().is_empty(), "panel {} has no title", p["id"]);
        assert!(!str_of(p, "description").trim().is_empty(), "panel '{title}' has no description");
        assert!(
            !str_of(&p["fieldConfig"]["defaults"], "unit").is_empty(),
            "panel '{title}' has no fieldConfig.defaults.unit"
        );
        let steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"].as_array();
        assert!(steps.is_some_and(|s| !s.is_empty()), "panel '{title}' has no thresholds");
        assert!(!targets(p).is_empty(), "panel '{title}' has no target");
    }
}

#[test]
fn panel_ids_are_unique_and_the_grid_does_not_overlap() {
    let d = dashboard();
    let mut ids = BTreeSet::new();
    let mut rects: Vec<(String, i64, i64, i64, i64)> = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        let title = str_of(p, "title").to_string();
        assert!(ids.insert(p["id"].as_i64().unwrap()), "duplicate id in '{title}'");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().unwrap(),
            g["y"].as_i64().unwrap(),
            g["w"].as_i64().unwrap(),
            g["h"].as_i64().unwrap(),
        );
        assert!(x >= 0 && w > 0 && x + w <= 24, "'{title}' leaves the 24-column grid");
        for (other, ox, oy, ow, oh) in &rects {
            let overlap = x < ox + ow && ox < &(x + w) && y < oy + oh && oy < &(y + h);
            assert!(!overlap, "'{title}' overlaps '{other}'");
        }
        rects.push((title, x, y, w, h));
    }
}

#[test]
fn alert_banners_come_first_and_follow_the_alerts() {
    let d = dashboard();
    let find = |title: &str| {
        panels(&d)
            .into_iter()
            .find(|p| str_of(p, "title") == title)
            .unwrap_or_else(|| panic!("no panel '{title}'"))
    };
    for (title, alert, also) in [
        ("High rejection rate", "WebhookHighRejectionRate", "webhook_window_payloads_rejected"),
        ("Infrastructure outage", "WebhookInfrastructureOutage", "webhook_last_healthy_timestamp_seconds"),
    ] {
        let p = find(title);
        assert!(p["gridPos"]["y"].as_i64().unwrap() <= 1, "'{title}' must be at the top");
        assert_eq!(p["options"]["colorMode"], "background", "'{title}' must be loud");
        let all: String = targets(p).iter().map(|t| str_of(t, "expr")).collect();
        assert!(
            all.contains(&format!("alertname=\"{alert}\", alertstate=\"firing\"")),
            "'{title}' must be driven by ALERTS of {alert}"
        );
        assert!(all.contains(also), "'{title}' must show {also}");
        for t in targets(p) {
            assert_eq!(t["instant"], true, "'{title}' must show the current state only (instant queries)");
        }
    }
}

#[test]
fn prometheus_targets_use_the_datasource_variable() {
    let d = dashboard();
    for p in panels(&d) {
        let title = str_of(p, "title");
        let prom: Vec<_> = targets(p).into_iter().filter(|t| !is_sql(t)).collect();
        if prom.is_empty() {
            continue;
        }
        assert!(
            ["${datasource}", "$datasource"].contains(&ds_uid(p)),
            "panel '{title}' must use the $datasource variable"
        );
        for t in prom {
            assert!(
                ["${datasource}", "$datasource"].contains(&ds_uid(t)),
                "panel '{title}' target {} must use the $datasource variable",
                str_of(t, "refId")
            );
        }
    }
}

#[test]
fn prometheus_selectors_are_known_and_filtered_by_org() {
    let d = dashboard();
    let contract = metric_contract();
    let mut per_org_selectors = 0;
    for PromTarget { panel, ref_id: refid, expr, .. } in prom_targets(&d) {
        let at = format!("panel '{panel}' target {refid}");
        let sels = selectors(&expr);
        assert!(!sels.is_empty(), "{at}: no selector in `{expr}`");
        for s in sels {
            // Known metric and labels.
            let labels: BTreeSet<String> = match s.metric.as_str() {
                "ALERTS" => ["alertname", "alertstate", "org", "component", "severity"]
                    .iter()
                    .map(|l| l.to_string())
                    .collect(),
                "up" => BTreeSet::new(),
                m => contract.get(m).unwrap_or_else(|| panic!("{at}: `{m}` is not in {METRICS_DOC}")).clone(),
            };
            for m in &s.matchers {
                assert!(
                    labels.contains(&m.label) || m.label == "job" || m.label == "instance",
                    "{at}: `{}` has no label `{}`",
                    s.metric,
                    m.label
                );
            }

            // Organization filter (and no hard-coded organization).
            let org = s.matchers_of("org");
            for m in &org {
                assert!(
                    m.op == "=~" && ORG_FILTERS.contains(&m.value.as_str()),
                    "{at}: org matcher `org{}\"{}\"` is not the $org filter",
                    m.op,
                    m.value
                );
            }
            let global = match s.metric.as_str() {
                "ALERTS" => {
                    let names = s.matchers_of("alertname");
                    for n in names.iter().filter(|n| n.op == "=") {
                        assert!(KNOWN_ALERTS.contains(&n.value.as_str()), "{at}: unknown alert {}", n.value);
                    }
                    names.iter().any(|n| n.op == "=" && GLOBAL_ALERTS.contains(&n.value.as_str()))
                }
                m => GLOBAL_METRICS.contains(&m),
            };
            if !global {
                per_org_selectors += 1;
                assert_eq!(
                    org.len(),
                    1,
                    "{at}: `{}` is per organization and must be filtered with org=~\"$org\"",
                    s.metric
                );
            }

            // Counters only through rate()/increase() over $__rate_interval; no fixed ranges.
            if let Some(range) = &s.range {
                assert_eq!(range, "$__rate_interval", "{at}: ranges must be $__rate_interval");
            }
            if s.metric.ends_with("_total") {
                assert!(
                    s.range.is_some() && matches!(s.call.as_deref(), Some("rate" | "irate" | "increase")),
                    "{at}: counter `{}` must be read through rate(...[$__rate_interval])",
                    s.metric
                );
            }
            if s.metric == "up" {
                assert_eq!(
                    s.matchers_of("job").first().map(|m| m.value.as_str()),
                    Some(EXPORTER_JOB),
                    "{at}: `up` must select the exporter job"
                );
            }
        }
    }
    assert!(per_org_selectors > 20, "the org filter check found too little");
}

#[test]
fn prometheus_targets_use_only_the_extractable_variables() {
    let d = dashboard();
    for PromTarget { panel, ref_id: refid, expr, .. } in prom_targets(&d) {
        for v in variables_in(&expr) {
            assert!(
                PROM_VARIABLES.contains(&v.as_str()),
                "panel '{panel}' target {refid} uses `{v}`; allowed: {PROM_VARIABLES:?}"
            );
        }
        if expr.contains("rate(") || expr.contains("increase(") {
            assert!(
                expr.contains("[$__rate_interval]"),
                "panel '{panel}' target {refid}: rates must use $__rate_interval"
            );
        }
    }
}

#[test]
fn window_panels_read_the_selected_window() {
    let d = dashboard();
    let mut found = 0;
    for PromTarget { panel, ref_id: refid, expr, .. } in prom_targets(&d) {
        for s in selectors(&expr) {
            if s.metric.starts_with("webhook_window_") {
                let w = s.matchers_of("window");
                assert_eq!(w.len(), 1, "panel '{panel}' {refid}: window gauge without window");
                assert!(
                    w[0].value == "$window" || w[0].value == "1h",
                    "panel '{panel}' {refid}: window must be $window (or 1h for the rolling hour)"
                );
                found += usize::from(w[0].value == "$window");
            }
        }
    }
    assert!(found >= 6, "too few panels follow the window selector");
}

#[test]
fn sql_targets_are_read_only_time_filtered_and_org_scoped() {
    let d = dashboard();
    let tables = schema_tables();
    let sql = sql_targets(&d);
    assert!(!sql.is_empty(), "no SQL target (recent error events)");
    for (at, q) in sql {
        let upper = q.to_uppercase();
        assert!(upper.trim_start().starts_with("SELECT"), "{at}: not a SELECT");
        assert!(!q.contains(';'), "{at}: one statement only");
        for w in ["INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "TRUNCATE", "GRANT"] {
            assert!(
                !upper.split(|c: char| !c.is_ascii_alphabetic()).any(|t| t == w),
                "{at}: `{w}` in a dashboard query"
            );
        }
        assert!(q.contains("$__timeFilter("), "{at}: no $__timeFilter");
        assert!(q.contains(SQL_ORG_FILTER), "{at}: must filter the organization with `{SQL_ORG_FILTER}`");
        for v in variables_in(&q) {
            assert!(SQL_VARIABLES.contains(&v.as_str()), "{at}: uses `{v}`; allowed: {SQL_VARIABLES:?}");
        }
        assert!(!q.contains("org_id =") && !q.contains("org_id IN"), "{at}: hard-coded organization");

        // Tables and alias.column references exist in the log-store schema.
        let words: Vec<&str> = q.split_whitespace().collect();
        let mut aliases: BTreeMap<&str, &str> = BTreeMap::new();
        for (i, w) in words.iter().enumerate() {
            if w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("JOIN") {
                let table = words[i + 1];
                assert!(tables.contains_key(table), "{at}: unknown table {table}");
                let mut a = words.get(i + 2).copied().unwrap_or(table);
                if a.eq_ignore_ascii_case("AS") {
                    a = words[i + 3];
                }
                aliases.insert(a, table);
                aliases.insert(table, table);
            }
        }
        assert!(!aliases.is_empty(), "{at}: no FROM");
        for token in q.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')) {
            if let Some((alias, column)) = token.split_once('.') {
                if let Some(table) = aliases.get(alias) {
                    assert!(tables[*table].contains(column), "{at}: {table} has no column {column}");
                }
            }
        }
    }
}

#[test]
fn recent_error_events_table_links_to_the_exporter_admin_page() {
    let d = dashboard();
    let p = panels(&d)
        .into_iter()
        .find(|p| targets(p).iter().any(|t| is_sql(t)))
        .expect("a panel with a SQL target");
    assert_eq!(str_of(p, "type"), "table");
    assert_eq!(ds_uid(p), LOGSTORE_UID);
    assert_eq!(str_of(&p["datasource"], "type"), LOGSTORE_TYPE);
    let t = targets(p)[0];
    assert_eq!(ds_uid(t), LOGSTORE_UID);
    assert_eq!(str_of(t, "format"), "table");
    let q = str_of(t, "rawSql");
    for needle in [
        "FROM webhook_events",
        "outcome <> 'accepted'",
        "AS org",
        "AS event_id",
        "http_status",
        "AS reason",
        "AS detail",
        "DESC",
        "LIMIT",
    ] {
        assert!(q.contains(needle), "error events query lacks `{needle}`");
    }
    let links =
        p["fieldConfig"]["defaults"]["links"].as_array().expect("data links on the error events table");
    assert!(
        links.iter().any(|l| str_of(l, "url") == ADMIN_LINK),
        "error events need the data link {ADMIN_LINK}"
    );
}

#[test]
fn dashboard_has_no_hard_coded_organization() {
    let text = read(DASHBOARD);
    // The file is JSON: quotes inside expressions appear escaped.
    for bad in ["var-org=", "org=\\\"", "org!=\\\"", "org_id = '", "org_id IN ('"] {
        assert!(!text.contains(bad), "hard-coded organization: `{bad}`");
    }
}

// ------------------------------------------------------------------------------ provisioning

/// The `datasources:` entries of datasources.yaml as flat key -> value maps (nested keys are
/// joined with '.'), enough for this file's simple structure.
fn provisioned_datasources() -> Vec<BTreeMap<String, String>> {
    let text = read(DATASOURCES);
    let mut out: Vec<BTreeMap<String, String>> = Vec::new();
    let mut parents: Vec<(usize, String)> = Vec::new();
    for line in text.lines() {
        let content = line.split(" #").next().unwrap();
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let mut item = content.trim_start();
        let mut indent_eff = indent;
        if let Some(rest) = item.strip_prefix("- ") {
            if indent == 2 {
                out.push(BTreeMap::new());
                parents.clear();
            }
            item = rest;
            indent_eff = indent + 2;
        }
        let Some((k, v)) = item.split_once(':') else {
            continue;
        };
        while parents.last().is_some_and(|(i, _)| *i >= indent_eff) {
            parents.pop();
        }
        let mut key: Vec<String> = parents.iter().map(|(_, k)| k.clone()).collect();
        key.push(k.trim().to_string());
        let v = v.trim();
        if v.is_empty() {
            parents.push((indent_eff, k.trim().to_string()));
        } else if let Some(ds) = out.last_mut() {
            ds.insert(key.join("."), v.trim_matches('"').to_string());
        }
    }
    out
}

#[test]
fn datasources_are_provisioned_with_the_uids_the_dashboard_uses() {
    let text = read(DATASOURCES);
    assert!(text.contains("apiVersion: 1"));
    let ds = provisioned_datasources();
    let by_uid = |uid: &str| {
        ds.iter()
            .find(|d| d.get("uid").map(String::as_str) == Some(uid))
            .unwrap_or_else(|| panic!("no provisioned data source with uid {uid}"))
    };
    assert_eq!(by_uid(PROMETHEUS_UID)["type"], "prometheus");
    assert_eq!(
        by_uid(PROMETHEUS_UID)["jsonData.timeInterval"],
        "15s",
        "timeInterval must match the scrape interval"
    );
    assert_eq!(by_uid("alertmanager")["type"], "alertmanager");
    let pg = by_uid(LOGSTORE_UID);
    assert_eq!(pg["type"], LOGSTORE_TYPE);
    assert_eq!(pg["user"], "grafana_reader", "Grafana must use the read-only role");
    assert_eq!(
        pg["secureJsonData.password"], "${GRAFANA_LOGSTORE_PASSWORD}",
        "the password must come from the environment"
    );
    for d in &ds {
        for (k, v) in d {
            if k.to_lowercase().contains("password") || k.to_lowercase().contains("secret") {
                assert!(v.starts_with("${"), "{k} must come from the environment");
            }
        }
    }

    // The dashboard's default Prometheus is the provisioned one.
    let d = dashboard();
    assert_eq!(variable(&d, "datasource")["current"]["value"], PROMETHEUS_UID);
}

#[test]
fn dashboard_provider_points_at_the_mounted_dashboards() {
    let text = read(DASHBOARD_PROVIDERS);
    assert!(text.contains("apiVersion: 1"));
    assert!(text.contains("type: file"));
    let path = text.lines().find_map(|l| l.trim().strip_prefix("path:")).expect("provider path").trim();
    let compose = read(COMPOSE);
    assert!(
        compose.contains(&format!("- ./grafana/dashboards:{path}:ro")),
        "docker-compose.yml must mount grafana/dashboards at {path}"
    );
    assert!(compose.contains("- ./grafana/provisioning:/etc/grafana/provisioning:ro"));
}

#[test]
fn postgres_init_creates_a_read_only_role_for_every_log_store_table() {
    let sql = read(READER_SQL);
    assert!(sql.contains("\\getenv reader_password GRAFANA_LOGSTORE_PASSWORD"));
    assert!(sql.contains("CREATE ROLE grafana_reader"));
    assert!(sql.contains("default_transaction_read_only = on"));
    assert!(!sql.to_uppercase().contains("PASSWORD '"), "no literal password in {READER_SQL}");
    for table in schema_tables().keys() {
        assert!(sql.contains(&format!("'{table}'")), "{READER_SQL} does not grant SELECT on {table}");
    }
    for forbidden in ["GRANT INSERT", "GRANT UPDATE", "GRANT DELETE", "GRANT ALL"] {
        assert!(!sql.to_uppercase().contains(forbidden), "{forbidden} for Grafana");
    }
    let init = read(READER_INIT);
    assert!(init.contains("GRAFANA_LOGSTORE_PASSWORD"));
    assert!(init.contains("grafana_reader.psql"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(repo().join(READER_INIT)).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{READER_INIT} must be executable (else the entrypoint sources it)");
    }
}

// --------------------------------------------------------------------------- compose & docker

/// Host paths (`./x:/y`) mounted by docker-compose.yml.
fn compose_host_mounts() -> Vec<String> {
    read(COMPOSE)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|l| l.starts_with("./") || l.starts_with("../"))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

#[test]
fn every_host_path_mounted_by_compose_exists() {
    let mounts = compose_host_mounts();
    assert!(mounts.len() >= 6, "mounts not found in {COMPOSE}");
    for m in mounts {
        assert!(repo().join(&m).exists(), "{COMPOSE} mounts {m}, which does not exist in the repository");
    }
}

#[test]
fn compose_images_are_pinned_and_secrets_come_from_the_environment() {
    let compose = read(COMPOSE);
    for line in compose.lines().map(str::trim) {
        if let Some(image) = line.strip_prefix("image:") {
            let image = image.trim();
            if image == "webhook-health-exporter:local" {
                continue;
            }
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(
                tag.chars().any(|c| c.is_ascii_digit()) && !tag.contains("latest"),
                "image {image} is not pinned to a version"
            );
        }
        if line.starts_with('#') {
            continue;
        }
        // A password is never written here: keys holding one take it from the environment,
        // and every interpolation of one is required (`:?`), never defaulted (`:-`).
        if let Some((key, value)) = line.split_once(": ") {
            if key.contains("PASSWORD") {
                assert!(value.trim().starts_with("${"), "`{line}`: password not from the environment");
            }
        }
        for part in line.split("${").skip(1) {
            let var = part.split('}').next().unwrap();
            if var.contains("PASSWORD") {
                assert!(var.contains(":?"), "`{line}`: ${{{var}}} must be required (`:?`), no default");
            }
        }
    }
    for service in
        ["postgres:", "migrate:", "exporter:", "simulator:", "prometheus:", "alertmanager:", "grafana:"]
    {
        assert!(compose.contains(&format!("\n  {service}\n")), "service {service} missing");
    }
    assert!(compose.contains("profiles: [\"demo\"]"), "simulator under the demo profile");
    assert!(compose.contains("condition: service_completed_successfully"));
    assert!(compose.contains("condition: service_healthy"));
}

#[test]
fn compose_exporter_computes_every_window_the_dashboard_offers() {
    let compose = read(COMPOSE);
    let lines: Vec<&str> = compose.lines().map(str::trim).collect();
    let configured: BTreeSet<&str> =
        lines.windows(2).filter(|w| w[0] == "- --window").filter_map(|w| w[1].strip_prefix("- ")).collect();
    for w in window_choices(&dashboard()) {
        assert!(
            configured.contains(w.as_str()),
            "the dashboard offers window {w}; configure `--window {w}` on the exporter"
        );
    }
}

#[test]
fn prometheus_scrapes_the_exporter_and_loads_the_repository_rules() {
    let text = read(PROMETHEUS_CONFIG);
    assert!(text.contains(&format!("- job_name: {EXPORTER_JOB}")));
    assert!(text.contains("- exporter:9877"), "scrape the compose service `exporter`");
    assert!(text.contains("- alertmanager:9093"));
    assert!(read(COMPOSE).contains("- ./alerting-rules:/alerting-rules:ro"));

    // rule_files are relative so they resolve both in the repository and in the container.
    let base = repo().join("deploy/prometheus");
    let mut rule_files = 0;
    let mut in_rules = false;
    for line in text.lines() {
        if line.starts_with("rule_files:") {
            in_rules = true;
        } else if in_rules && line.trim_start().starts_with("- ") {
            let rel = line.trim_start()[2..].trim();
            assert!(!rel.starts_with('/'), "rule_files entry {rel} must be relative");
            let mut resolved = PathBuf::new();
            for c in base.join(rel).components() {
                match c {
                    Component::ParentDir => {
                        resolved.pop();
                    }
                    other => resolved.push(other),
                }
            }
            assert!(
                resolved.starts_with(repo().join("alerting-rules")),
                "rule_files entry {rel} resolves outside alerting-rules/"
            );
            rule_files += 1;
        } else if in_rules && !line.trim().is_empty() && !line.starts_with(' ') {
            in_rules = false;
        }
    }
    assert_eq!(rule_files, 2, "alerts/*.yaml and rules/*.yaml");
}

#[test]
fn dockerfile_is_multi_stage_and_runs_as_non_root() {
    let text = read(DOCKERFILE);
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "multi-stage build expected");
    assert!(froms[0].contains("rust:") && froms[0].contains(" AS builder"));
    assert!(froms.last().unwrap().contains("debian:") && froms.last().unwrap().contains("-slim"));
    let user = text.lines().rev().find_map(|l| l.strip_prefix("USER ")).expect("USER in the runtime stage");
    assert!(!["root", "0", "0:0"].contains(&user.trim()), "the runtime must not run as root");
    assert!(text.contains("ENTRYPOINT [\"/usr/local/bin/webhook-health-exporter\"]"));
    assert!(text.contains("--locked"));
    let ignore = read(".dockerignore");
    for entry in ["target", ".git", ".env"] {
        assert!(ignore.lines().any(|l| l.trim() == entry), ".dockerignore must exclude {entry}");
    }
}

// ------------------------------------------------------------------------- external checkers

/// Runs a checker from the repository root. A missing tool is a test failure, not a skip.
fn run_tool(tool: &str, args: &[&str], envs: &[(&str, &str)], clear_env: bool) -> Output {
    let mut cmd = Command::new(tool);
    cmd.args(args).current_dir(repo());
    if clear_env {
        cmd.env_clear();
        for keep in ["PATH", "HOME", "LANG"] {
            if let Ok(v) = std::env::var(keep) {
                cmd.env(keep, v);
            }
        }
    }
    cmd.envs(envs.iter().copied());
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("`{tool}` is not installed: {INSTALL_HINT}")
        }
        Err(e) => panic!("cannot run `{tool}`: {e}"),
    }
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const COMPOSE_TEST_ENV: &[(&str, &str)] = &[
    ("POSTGRES_PASSWORD", "test-only-postgres"),
    ("GRAFANA_LOGSTORE_PASSWORD", "test-only-reader"),
    ("GRAFANA_ADMIN_PASSWORD", "test-only-admin"),
];

#[test]
fn promtool_accepts_the_prometheus_config() {
    let out = run_tool("promtool", &["check", "config", PROMETHEUS_CONFIG], &[], false);
    assert_success("promtool check config", &out);
}

#[test]
fn amtool_accepts_the_alertmanager_config() {
    let out = run_tool("amtool", &["check-config", ALERTMANAGER_CONFIG], &[], false);
    assert_success("amtool check-config", &out);
}

#[test]
fn alertmanager_routes_by_severity() {
    let config = format!("--config.file={ALERTMANAGER_CONFIG}");
    for (severity, receiver) in [("critical", "critical"), ("warning", "warning"), ("info", "default")] {
        let label = format!("severity={severity}");
        let out = run_tool(
            "amtool",
            &["config", "routes", "test", &config, "alertname=WebhookQueueBacklog", &label],
            &[],
            false,
        );
        assert_success("amtool config routes test", &out);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            receiver,
            "severity {severity} must reach receiver {receiver}"
        );
    }
}

/// An empty env file, so a developer's `.env` cannot influence the compose checks.
fn empty_env_file(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("whe-{name}-{}.env", std::process::id()));
    fs::write(&path, "").unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn docker_compose_accepts_the_stack() {
    let env_file = empty_env_file("compose-ok");
    for args in [
        &["-f", COMPOSE, "--env-file", &env_file, "config", "-q"][..],
        &["-f", COMPOSE, "--env-file", &env_file, "--profile", "demo", "config", "-q"][..],
    ] {
        let out = run_tool("docker-compose", args, COMPOSE_TEST_ENV, true);
        assert_success(&format!("docker-compose {}", args.join(" ")), &out);
    }
}

#[test]
fn docker_compose_refuses_to_start_without_passwords() {
    let env_file = empty_env_file("compose-no-secrets");
    let out =
        run_tool("docker-compose", &["-f", COMPOSE, "--env-file", &env_file, "config", "-q"], &[], true);
    assert!(!out.status.success(), "the stack must not start with default or empty passwords");
    assert!(String::from_utf8_lossy(&out.stderr).contains("PASSWORD"));
}

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
