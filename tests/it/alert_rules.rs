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

/// One alerting rule, read from the YAML text without a YAML parser: the rule starts at its
/// `- alert: Name` line and ends before the next rule or group.
struct Alert {
    file: PathBuf,
    name: String,
    body: Vec<String>,
}

impl Alert {
    /// The value of the first `key: value` line of the rule (quotes removed), if any.
    fn value(&self, key: &str) -> Option<String> {
        let prefix = format!("{key}:");
        self.body.iter().find_map(|line| {
            line.trim()
                .strip_prefix(&prefix)
                .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        })
    }

    /// Like `value`, but followed by the lines indented deeper than the key (a block scalar such
    /// as `description: >-`), joined by spaces.
    fn text(&self, key: &str) -> Option<String> {
        let prefix = format!("{key}:");
        let start = self.body.iter().position(|line| line.trim().starts_with(&prefix))?;
        let indent = |line: &str| line.len() - line.trim_start().len();
        let key_indent = indent(&self.body[start]);
        let mut text = self.value(key)?;
        for line in &self.body[start + 1..] {
            if !line.trim().is_empty() && indent(line) <= key_indent {
                break;
            }
            text.push(' ');
            text.push_str(line.trim());
        }
        Some(text)
    }
}

fn alerts() -> Vec<Alert> {
    let mut alerts = Vec::new();
    for file in yaml_files("alerts") {
        let text =
            fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let mut current: Option<Alert> = None;
        for line in text.lines() {
            let trimmed = line.trim_start();
            let starts_rule = trimmed.starts_with("- alert:")
                || trimmed.starts_with("- record:")
                || trimmed.starts_with("- name:");
            if starts_rule {
                alerts.extend(current.take());
                if let Some(name) = trimmed.strip_prefix("- alert:") {
                    current =
                        Some(Alert { file: file.clone(), name: name.trim().to_string(), body: Vec::new() });
                }
            } else if let Some(alert) = current.as_mut() {
                alert.body.push(line.to_string());
            }
        }
        alerts.extend(current);
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
        match alert.value("severity") {
            Some(s) if SEVERITIES.contains(&s.as_str()) => {}
            other => problems.push(format!("{at}: severity must be one of {SEVERITIES:?}, found {other:?}")),
        }
        match alert.text("summary") {
            Some(s) if !s.is_empty() && !s.contains("{{") => {}
            other => problems.push(format!("{at}: summary must be a static sentence, found {other:?}")),
        }
        match alert.text("description") {
            Some(d) if d.contains("{{") => {}
            other => problems.push(format!("{at}: description must be a template, found {other:?}")),
        }
        let expected_url = format!("{RUNBOOK_BASE}{}", alert.name.to_lowercase());
        match alert.value("runbook_url") {
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
