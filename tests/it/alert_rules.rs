//! Checks the Prometheus rules in `alerting-rules/` with `promtool` and cross-checks every alert's
//! labels, annotations and runbook link against `docs/runbook.md`.
//!
//! `promtool` must be on `PATH` (Debian: `apt-get install prometheus`, or
//! `scripts/install-test-deps.sh`). Without it these tests fail: they never skip.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::prometheus::alerting_rules_yaml as yaml_files;

const RUNBOOK_BASE: &str =
    "https://github.com/webhook-health-exporter/webhook-health-exporter/blob/main/docs/runbook.md#";
const SEVERITIES: &[&str] = &["critical", "warning", "info"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rule_files() -> Vec<PathBuf> {
    let mut files = yaml_files("rules");
    files.extend(yaml_files("alerts"));
    files
}

/// Runs `promtool <args> <file>`; returns `Err(output)` when it does not succeed. Panics with
/// installation advice when promtool cannot be started.
fn promtool(args: &[&str], file: &Path) -> Result<String, String> {
    let output = match Command::new("promtool").args(args).arg(file).current_dir(root()).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "promtool is not on PATH: run `scripts/install-test-deps.sh` or \
             `apt-get install prometheus` (these tests need it and never skip)"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    let text = format!(
        "$ promtool {} {}\n{}{}",
        args.join(" "),
        file.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

fn run_promtool_on_each(args: &[&str], files: &[PathBuf]) {
    let failures: Vec<String> = files.iter().filter_map(|file| promtool(args, file).err()).collect();
    assert!(failures.is_empty(), "promtool {} failed:\n{}", args.join(" "), failures.join("\n"));
}

#[test]
fn promtool_check_rules_accepts_every_rule_file() {
    run_promtool_on_each(&["check", "rules"], &rule_files());
}

#[test]
fn promtool_unit_tests_pass() {
    run_promtool_on_each(&["test", "rules"], &yaml_files("tests"));
}

/// One alerting rule of alerting-rules/alerts/.
struct Alert {
    file: PathBuf,
    name: String,
    rule: serde_norway::Value,
}

impl Alert {
    /// A label or annotation (`section` is `labels` or `annotations`).
    fn get(&self, section: &str, key: &str) -> Option<String> {
        self.rule.get(section)?.get(key)?.as_str().map(str::to_string)
    }
}

fn alerts() -> Vec<Alert> {
    let mut alerts = Vec::new();
    for file in yaml_files("alerts") {
        let text =
            fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let doc: serde_norway::Value =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", file.display()));
        let groups = doc["groups"].as_sequence().unwrap_or_else(|| panic!("{}: no groups", file.display()));
        for rule in groups.iter().flat_map(|g| g["rules"].as_sequence().into_iter().flatten()) {
            if let Some(name) = rule.get("alert").and_then(|n| n.as_str()) {
                alerts.push(Alert { file: file.clone(), name: name.to_string(), rule: rule.clone() });
            }
        }
    }
    assert!(!alerts.is_empty(), "no alerting rules found");
    alerts
}

fn runbook_headings() -> Vec<String> {
    let path = root().join("docs").join("runbook.md");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(|heading| heading.trim().to_string())
        .collect()
}

#[test]
fn every_alert_has_severity_annotations_and_a_runbook_section() {
    let headings = runbook_headings();
    let mut problems = Vec::new();
    for alert in alerts() {
        let at = format!("{} in {}", alert.name, alert.file.display());
        if !alert.name.starts_with("Webhook") || alert.name.contains(|c: char| !c.is_alphanumeric()) {
            problems.push(format!("{at}: not a CamelCase name starting with `Webhook`"));
        }
        match alert.get("labels", "severity") {
            Some(s) if SEVERITIES.contains(&s.as_str()) => {}
            other => problems.push(format!("{at}: severity must be one of {SEVERITIES:?}, found {other:?}")),
        }
        match alert.get("annotations", "summary") {
            Some(s) if !s.is_empty() && !s.contains("{{") => {}
            other => problems.push(format!("{at}: summary must be a static sentence, found {other:?}")),
        }
        match alert.get("annotations", "description") {
            Some(d) if d.contains("{{") => {}
            other => problems.push(format!("{at}: description must be a template, found {other:?}")),
        }
        let expected_url = format!("{RUNBOOK_BASE}{}", alert.name.to_lowercase());
        match alert.get("annotations", "runbook_url") {
            Some(url) if url == expected_url => {}
            other => problems.push(format!("{at}: runbook_url should be {expected_url}, found {other:?}")),
        }
        if !headings.contains(&alert.name) {
            problems.push(format!("{at}: docs/runbook.md has no `## {}` section", alert.name));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_alert_section_of_the_runbook_belongs_to_an_alert() {
    let names: Vec<String> = alerts().into_iter().map(|a| a.name).collect();
    let stale: Vec<String> =
        runbook_headings().into_iter().filter(|h| h.starts_with("Webhook") && !names.contains(h)).collect();
    assert!(stale.is_empty(), "docs/runbook.md has sections for alerts that do not exist: {stale:?}");
}
