//! grafana/dashboard-linter's rules (https://github.com/grafana/dashboard-linter, docs/rules), as
//! far as they concern this dashboard, checked here since the linter (Go) is not installed. Its
//! two deliberate exceptions are the exclusions of grafana/dashboards/.lint (generated from
//! mixin/dashboards/lint.libsonnet), which the linter itself reads; this test reads them too and
//! allows exactly them.

use super::*;

const LINT: &str = "grafana/dashboards/.lint";

/// Panels whose targets read ALERTS of org-scoped alerts, which carry no `instance` label: their
/// instance filter is `$instance|` (an empty instance passes), excused in .lint.
fn instance_rule_exclusions() -> Vec<String> {
    let lint: serde_norway::Value =
        serde_norway::from_str(&read(LINT)).expect("grafana/dashboards/.lint is YAML");
    let entries = lint["exclusions"]["target-instance-rule"]["entries"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{LINT} has no target-instance-rule entries"));
    entries.iter().map(|e| e["panel"].as_str().expect("an entry names a panel").to_string()).collect()
}

#[test]
fn template_rules_datasource_job_instance_and_reload() {
    let d = dashboard();
    let list = d["templating"]["list"].as_array().unwrap();
    // template-datasource-rule: with two data source variables each is named and labelled after
    // its plugin. The PostgreSQL one is named after the plugin's alias `postgres` but lists the
    // plugin id (the linter would want `grafana-postgresql-datasource_datasource`, which Grafana
    // cannot interpolate): excused in .lint.
    let ds: Vec<&Value> = list.iter().filter(|v| str_of(v, "type") == "datasource").collect();
    let named: Vec<(&str, &str, &str)> =
        ds.iter().map(|v| (str_of(v, "name"), str_of(v, "label"), str_of(v, "query"))).collect();
    assert_eq!(
        named,
        [
            ("prometheus_datasource", "Prometheus data source", "prometheus"),
            ("postgres_datasource", "Postgres data source", LOGSTORE_TYPE)
        ],
        "the Prometheus variable must come first: the linter's PromQL rules follow the first one"
    );
    assert!(read(LINT).contains("  template-datasource-rule:"), "{LINT} must explain the exception");

    // template-job-rule, template-instance-rule
    for (name, label) in [("job", "Job"), ("instance", "Instance")] {
        let v = variable(&d, name);
        assert_eq!(str_of(v, "type"), "query", "{name}");
        assert_eq!(ds_uid(v), PROMETHEUS_DS, "{name}");
        assert_eq!(str_of(v, "label"), label, "{name}");
        assert_eq!(v["multi"], true, "{name} must be multi-select");
        assert_eq!(str_of(v, "allValue"), ".+", "{name}");
    }
    // template-on-time-change-reload-rule, template-label-promql-rule
    for v in list.iter().filter(|v| str_of(v, "type") == "query") {
        let name = str_of(v, "name");
        assert_eq!(v["refresh"], 2, "variable {name} must reload on time range change");
        let query = str_of(v, "query");
        assert!(
            query.starts_with("label_values(") && query.ends_with(')') && !selectors(query).is_empty(),
            "variable {name}: `{query}` is not label_values(SELECTOR, LABEL)"
        );
    }
}

#[test]
fn target_rules_job_and_instance_matchers_in_every_selector() {
    let d = dashboard();
    let excused = instance_rule_exclusions();
    for title in &excused {
        assert!(
            panels(&d).iter().any(|p| str_of(p, "title") == title),
            "{LINT} excuses panel '{title}', which the dashboard does not have"
        );
    }
    let mut used_exception = BTreeSet::new();
    for PromTarget { panel, ref_id, expr, .. } in prom_targets(&d) {
        for s in selectors(&expr) {
            let at = format!("panel '{panel}' target {ref_id}, `{}`", s.metric);
            let has = |label: &str, value: &str| {
                s.matchers_of(label).iter().any(|m| m.op == "=~" && m.value == value)
            };
            assert!(has("job", "$job"), "{at}: no job=~\"$job\" (target-job-rule)");
            if has("instance", "$instance") {
                continue;
            }
            assert!(
                s.metric == "ALERTS" && has("instance", "$instance|") && excused.contains(&panel),
                "{at}: no instance=~\"$instance\" (target-instance-rule); only ALERTS of org-scoped \
                 alerts may use `$instance|`, in a panel {LINT} excuses"
            );
            used_exception.insert(panel.clone());
        }
    }
    let excused: BTreeSet<String> = excused.into_iter().collect();
    assert_eq!(used_exception, excused, "{LINT} excuses panels that need no exception, or misses one");
}

#[test]
fn panel_datasource_rule_every_panel_uses_a_datasource_variable() {
    let d = dashboard();
    for p in panels(&d) {
        let uid = ds_uid(p);
        assert!(
            [PROMETHEUS_DS, LOGSTORE_DS].contains(&uid),
            "panel '{}' uses data source `{uid}`, not a data source variable",
            str_of(p, "title")
        );
        for t in targets(p) {
            assert_eq!(ds_uid(t), uid, "panel '{}': a target with another data source", str_of(p, "title"));
        }
    }
    for a in d["annotations"]["list"].as_array().unwrap().iter().filter(|a| a.get("target").is_some()) {
        assert_eq!(ds_uid(a), LOGSTORE_DS, "annotation '{}'", str_of(a, "name"));
        assert_eq!(ds_uid(&a["target"]), LOGSTORE_DS, "annotation '{}'", str_of(a, "name"));
    }
}
