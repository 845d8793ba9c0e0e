//! The mixin (mixin/) is the single source of the rules and the dashboard:
//! - the shipped alerting-rules/ files, the dashboard, its .lint, docs/dashboard-panels.md and the
//!   Kubernetes PrometheusRule and dashboard ConfigMap are exactly what `mixin/generate.sh`
//!   renders, byte for byte;
//! - the dashboard matches Grafana's published schema (@grafana/schema, mixin/schema-check) of
//!   every Grafana version checked there (the one docker-compose.yml runs is the newest), and
//!   that check rejects broken dashboards;
//! - another `_config` (job, threshold, runbook) reaches every selector, threshold and runbook
//!   link, and promtool accepts what it renders.
//!
//! Needs `jsonnet`, `node` and mixin/schema-check's npm packages: run scripts/install-test-deps.sh.
//! Without them these tests FAIL, they never skip.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::dashboard::{self as dash, repo};
use crate::support::promql::selectors;

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh (apt-get install jsonnet nodejs npm; \
                            npm ci --prefix mixin/schema-check)";

fn run(program: &str, cmd: &mut Command) -> Output {
    cmd.current_dir(repo()).output().unwrap_or_else(|e| match e.kind() {
        ErrorKind::NotFound => panic!("`{program}` is not installed: {INSTALL_HINT}"),
        _ => panic!("cannot run {program}: {e}"),
    })
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs mixin/generate.sh into `out` with a `_config` override; returns the files it wrote,
/// relative to `out`.
fn generate(out: &Path, config: &str) -> Vec<PathBuf> {
    // generate.sh says the same, but this names the hint even when bash reports the failure.
    run("jsonnet", Command::new("jsonnet").arg("--version"));
    let output = run(
        "bash",
        Command::new("bash").arg("mixin/generate.sh").arg("--out").arg(out).args(["--config", config]),
    );
    assert!(output.status.success(), "mixin/generate.sh failed:\n{}", text(&output));
    let mut files: Vec<PathBuf> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| Path::new(l).strip_prefix(out).expect("a path under --out").to_path_buf())
        .collect();
    files.sort();
    files
}

fn schema_check(files: &[PathBuf]) -> Output {
    run("node", Command::new("node").arg("mixin/schema-check/check.mjs").args(files))
}

#[test]
fn shipped_files_are_what_the_mixin_renders() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), "{}");
    let expected = [
        "alerting-rules/alerts/webhook-alerts.yaml",
        "alerting-rules/rules/webhook-recording.yaml",
        "deploy/kubernetes/base/dashboards-configmap.yaml",
        "deploy/kubernetes/base/prometheusrule.yaml",
        "docs/dashboard-panels.md",
        "grafana/dashboards/.lint",
        "grafana/dashboards/webhook-health.json",
    ];
    assert_eq!(files, expected.map(PathBuf::from), "the mixin renders other files than the repository ships");
    let mut stale = Vec::new();
    for file in &files {
        let rendered = fs::read(dir.path().join(file)).unwrap();
        let shipped = fs::read(repo().join(file)).unwrap_or_default();
        if rendered != shipped {
            stale.push(file.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} differ from what mixin/ renders: edit mixin/ (not these files) and run mixin/generate.sh"
    );
    for yaml in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
        let head = fs::read_to_string(repo().join(yaml)).unwrap();
        assert!(head.starts_with("# Generated from mixin/"), "{} lacks its generated header", yaml.display());
    }
}

/// The Grafana versions whose schema the check installs (`grafana-schema-VERSION` aliases of
/// @grafana/schema in mixin/schema-check/package.json), oldest first.
fn checked_grafana_versions() -> Vec<String> {
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(repo().join("mixin/schema-check/package.json")).unwrap())
            .unwrap();
    let mut versions: Vec<String> = manifest["devDependencies"]
        .as_object()
        .expect("devDependencies")
        .iter()
        .filter_map(|(name, spec)| {
            let version = name.strip_prefix("grafana-schema-")?;
            assert_eq!(spec.as_str(), Some(format!("npm:@grafana/schema@{version}").as_str()), "{name}");
            Some(version.to_string())
        })
        .collect();
    let numbers = |v: &String| -> Vec<u64> {
        v.split('.').map(|n| n.parse().unwrap_or_else(|e| panic!("grafana-schema-{v}: {e}"))).collect()
    };
    versions.sort_by_key(numbers);
    versions
}

/// The dashboard passes the schema of an older Grafana still in wide use and of the one
/// docker-compose.yml runs, which is the newest checked.
#[test]
fn dashboard_matches_the_schema_of_every_checked_grafana() {
    let versions = checked_grafana_versions();
    assert!(
        versions.len() >= 2,
        "mixin/schema-check checks {versions:?}: an older and a current Grafana expected"
    );
    let compose = fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let pinned = compose
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: grafana/grafana:"))
        .expect("docker-compose.yml runs no grafana/grafana image");
    assert_eq!(
        pinned,
        versions.last().unwrap(),
        "docker-compose.yml runs another Grafana than the newest schema checked"
    );
    let out = schema_check(&[PathBuf::from(dash::DASHBOARD)]);
    let said = text(&out);
    assert!(out.status.success(), "{} does not match @grafana/schema:\n{said}", dash::DASHBOARD);
    for v in &versions {
        let line = format!("{}: matches @grafana/schema {v}", dash::DASHBOARD);
        assert!(said.lines().any(|l| l == line), "no `{line}` in:\n{said}");
    }
}

/// A named way to break a dashboard, and what the schema check must then say.
type Breakage = (&'static str, fn(&mut Value), &'static str);

/// The check can fail: each broken copy of the dashboard is rejected, naming what is wrong.
#[test]
fn schema_check_rejects_broken_dashboards() {
    let dir = tempfile::tempdir().unwrap();
    let breakages: [Breakage; 5] = [
        ("unknown-field", |d| d["panelz"] = Value::Array(vec![]), "'\"panelz\"' does not exist"),
        ("grid", |d| d["panels"][1]["gridPos"]["w"] = "wide".into(), "not assignable to type 'number'"),
        ("stat-option", |d| d["panels"][1]["options"]["colorMode"] = "loud".into(), "'\"loud\"'"),
        ("variable-type", |d| d["templating"]["list"][2]["type"] = "dropdown".into(), "VariableType"),
        ("panel-plugin", |d| d["panels"][1]["type"] = "graph".into(), "'\"graph\"'"),
    ];
    for (name, breakage, expected) in breakages {
        let mut d = dash::dashboard();
        breakage(&mut d);
        let file = dir.path().join(format!("{name}.json"));
        fs::write(&file, serde_json::to_string_pretty(&d).unwrap()).unwrap();
        let out = schema_check(&[file]);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: the broken dashboard passed the check:\n{said}");
        assert!(said.contains(expected), "{name}: expected a complaint with `{expected}`, got:\n{said}");
    }
}

/// A job of another name, a higher threshold and a wiki as runbook: every raw-metric selector of
/// every rule and panel names the job, the threshold and runbook links follow, promtool and the
/// schema check accept the result.
#[test]
fn another_config_reaches_every_selector_threshold_and_runbook() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"{
        selector: 'job="my-webhooks"',
        alerts+: { rejectionRatio: 0.2 },
        runbookBase: 'https://wiki.example/runbook',
    }"#;
    let files = generate(dir.path(), config);
    let path = |rel: &str| {
        assert!(files.contains(&PathBuf::from(rel)), "{rel} was not rendered");
        dir.path().join(rel)
    };
    let rules = path("alerting-rules/rules/webhook-recording.yaml");
    let alerts = path("alerting-rules/alerts/webhook-alerts.yaml");
    let dashboard = path("grafana/dashboards/webhook-health.json");

    for file in [&rules, &alerts] {
        let out = run("promtool", Command::new("promtool").args(["check", "rules"]).arg(file));
        assert!(out.status.success(), "promtool check rules {}:\n{}", file.display(), text(&out));
    }

    let mut raw_selectors = 0;
    let mut check_expr = |at: &str, expr: &str, dashboard: bool| {
        assert!(!expr.contains("webhook-health-exporter"), "{at}: the default job is left in `{expr}`");
        for s in selectors(expr) {
            if s.metric.contains(':') || s.metric == "ALERTS" {
                continue; // recorded series and alerts carry `job` from the selected targets
            }
            raw_selectors += 1;
            let first = s.matchers.first().map(|m| (m.label.as_str(), m.op.as_str(), m.value.as_str()));
            assert_eq!(first, Some(("job", "=", "my-webhooks")), "{at}: `{}` in `{expr}`", s.metric);
            if dashboard {
                assert!(s.matchers.iter().any(|m| m.value == "$job"), "{at}: `{}` lost $job", s.metric);
            }
        }
    };

    for file in [&rules, &alerts] {
        let doc: serde_norway::Value = serde_norway::from_str(&fs::read_to_string(file).unwrap()).unwrap();
        for rule in
            doc["groups"].as_sequence().unwrap().iter().flat_map(|g| g["rules"].as_sequence().unwrap())
        {
            let name = rule.get("alert").or_else(|| rule.get("record")).and_then(|n| n.as_str()).unwrap();
            check_expr(name, rule["expr"].as_str().unwrap(), false);
            if let Some(alert) = rule.get("alert").and_then(|a| a.as_str()) {
                let annotations = &rule["annotations"];
                assert_eq!(
                    annotations["runbook_url"].as_str(),
                    Some(format!("https://wiki.example/runbook#{}", alert.to_lowercase()).as_str()),
                    "{alert}"
                );
                if alert == "WebhookHighRejectionRate" {
                    assert!(rule["expr"].as_str().unwrap().contains("> 0.2\n"), "{alert}: threshold");
                    for key in ["summary", "description"] {
                        let t = annotations[key].as_str().unwrap();
                        assert!(t.contains("20%") && !t.contains("10%"), "{alert} {key}: `{t}`");
                    }
                }
            }
        }
    }

    let d: Value = serde_json::from_str(&fs::read_to_string(&dashboard).unwrap()).unwrap();
    for t in dash::prom_targets(&d) {
        check_expr(&format!("panel '{}' target {}", t.panel, t.ref_id), &t.expr, true);
    }
    for v in d["templating"]["list"].as_array().unwrap().iter().filter(|v| v["type"] == "query") {
        // label_values(SELECTOR, LABEL)
        let query = dash::str_of(v, "query");
        let selector = query.strip_prefix("label_values(").and_then(|q| q.rsplit_once(',')).map(|(s, _)| s);
        check_expr(&format!("variable {}", v["name"]), selector.unwrap_or(query), false);
    }
    assert!(raw_selectors > 40, "the selector check found too little ({raw_selectors})");
    let title = "Rejection rate, rolling hour (alert threshold 20%)";
    assert!(dash::panels(&d).iter().any(|p| dash::str_of(p, "title") == title), "no panel '{title}'");

    let out = schema_check(&[dashboard]);
    assert!(out.status.success(), "the reconfigured dashboard fails the schema check:\n{}", text(&out));
}
