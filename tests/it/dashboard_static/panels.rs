//! The dashboard itself: layout, variables, units, queries against the metric contract.

use super::*;

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

    let ds = variable(&d, "prometheus_datasource");
    assert_eq!(str_of(ds, "type"), "datasource");
    assert_eq!(str_of(ds, "query"), "prometheus");
    let sql = variable(&d, "postgres_datasource");
    assert_eq!(str_of(sql, "type"), "datasource");
    assert_eq!(str_of(sql, "query"), LOGSTORE_TYPE);

    // The exporter's jobs and instances, among the targets the rules select too.
    for (name, query) in [
        ("job", format!(r#"label_values(webhook_exporter_build_info{{job="{EXPORTER_JOB}"}}, job)"#)),
        (
            "instance",
            format!(
                r#"label_values(webhook_exporter_build_info{{job="{EXPORTER_JOB}", job=~"$job"}}, instance)"#
            ),
        ),
    ] {
        let v = variable(&d, name);
        assert_eq!(str_of(v, "type"), "query", "{name}");
        assert_eq!(ds_uid(v), PROMETHEUS_DS, "{name}");
        assert_eq!(str_of(v, "query"), query);
        assert_eq!(v["current"]["value"], serde_json::json!(["$__all"]), "{name}: All by default");
    }

    let org = variable(&d, "org");
    assert_eq!(str_of(org, "type"), "query");
    assert_eq!(ds_uid(org), PROMETHEUS_DS);
    assert_eq!(
        str_of(org, "query"),
        format!(
            r#"label_values(webhook_endpoint_info{{job="{EXPORTER_JOB}", job=~"$job", instance=~"$instance"}}, org)"#
        )
    );
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
        assert_eq!(ds_uid(p), PROMETHEUS_DS, "panel '{title}' must use the Prometheus data source variable");
        for t in prom {
            assert_eq!(
                ds_uid(t),
                PROMETHEUS_DS,
                "panel '{title}' target {} must use the Prometheus data source variable",
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
            if s.metric.starts_with("webhook_window_") || s.metric.starts_with("webhook_sync_window_") {
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
    assert!(found >= 10, "too few panels follow the window selector");
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

/// A table of log-store rows (SQL on the log-store variable) whose rows link to the exporter's
/// admin page; returns its query.
fn event_table<'a>(d: &'a Value, title: &str) -> &'a str {
    let p = panels(d)
        .into_iter()
        .find(|p| str_of(p, "title") == title)
        .unwrap_or_else(|| panic!("no panel '{title}'"));
    assert_eq!(str_of(p, "type"), "table", "{title}");
    assert_eq!(ds_uid(p), LOGSTORE_DS, "{title}");
    assert_eq!(str_of(&p["datasource"], "type"), LOGSTORE_TYPE, "{title}");
    let t = targets(p)[0];
    assert!(is_sql(t), "{title}: not a SQL target");
    assert_eq!(ds_uid(t), LOGSTORE_DS, "{title}");
    assert_eq!(str_of(t, "format"), "table", "{title}");
    let links =
        p["fieldConfig"]["defaults"]["links"].as_array().unwrap_or_else(|| panic!("{title}: no data links"));
    assert!(links.iter().any(|l| str_of(l, "url") == ADMIN_LINK), "{title} needs the data link {ADMIN_LINK}");
    str_of(t, "rawSql")
}

#[test]
fn recent_error_events_table_links_to_the_exporter_admin_page() {
    let d = dashboard();
    let q = event_table(&d, "Recent error events");
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
}

#[test]
fn recent_sync_give_ups_table_links_to_the_exporter_admin_page() {
    let d = dashboard();
    let q = event_table(&d, "Recent sync give-ups");
    for needle in [
        "FROM sync_attempts",
        "outcome IN ('gave_up', 'abandoned')",
        "$__timeFilter(a.finished_at)",
        "AS org",
        "AS event_id",
        "a.attempt",
        "AS error_class",
        "a.http_status",
        "AS error_detail",
        "ORDER BY a.finished_at DESC",
        "LIMIT",
    ] {
        assert!(q.contains(needle), "sync give-ups query lacks `{needle}`");
    }
}

/// The unaccounted stat opens the admin page's listing of those events, where the runbook's fix
/// re-enqueues them: a stage the admin page offers.
#[test]
fn unaccounted_payloads_link_to_their_listing_in_the_admin_page() {
    let d = dashboard();
    let p = panels(&d)
        .into_iter()
        .find(|p| str_of(p, "title").starts_with("Payloads unaccounted for"))
        .expect("the unaccounted stat");
    let links = p["fieldConfig"]["defaults"]["links"].as_array().expect("data links");
    let urls: Vec<&str> = links.iter().map(|l| str_of(l, "url")).collect();
    assert_eq!(urls, ["${exporter_url}/admin?stage=unaccounted"]);
    let admin = include_str!("../../../src/admin/assets/index.html");
    assert!(admin.contains(r#"<option value="unaccounted">"#), "the admin page offers the stage");
}

#[test]
fn dashboard_has_no_hard_coded_organization() {
    let text = read(DASHBOARD);
    // The file is JSON: quotes inside expressions appear escaped.
    for bad in ["var-org=", "org=\\\"", "org!=\\\"", "org_id = '", "org_id IN ('"] {
        assert!(!text.contains(bad), "hard-coded organization: `{bad}`");
    }
}
