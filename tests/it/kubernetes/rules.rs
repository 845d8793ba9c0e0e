//! The PrometheusRule carries exactly the rule groups of alerting-rules/, and promtool accepts
//! its content and passes the rule tests of alerting-rules/tests/ on it.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{parse_all, render, text, EXAMPLE};
use crate::support::prometheus::alerting_rules_yaml;

fn promtool(args: &[&str], file: &Path) -> String {
    let out = Command::new("promtool").args(args).arg(file).output().unwrap_or_else(|e| match e.kind() {
        ErrorKind::NotFound => {
            panic!("promtool is not on PATH: run scripts/install-test-deps.sh (apt-get install prometheus)")
        }
        _ => panic!("cannot run promtool: {e}"),
    });
    assert!(out.status.success(), "promtool {} {}:\n{}", args.join(" "), file.display(), text(&out));
    text(&out)
}

#[test]
fn prometheus_rule_is_alerting_rules_and_passes_promtool() {
    let rendered = render(EXAMPLE);
    let spec = &rendered.one("PrometheusRule")["spec"];

    let mut shipped = Vec::new();
    for dir in ["rules", "alerts"] {
        for file in alerting_rules_yaml(dir) {
            let doc = &parse_all(&fs::read_to_string(&file).unwrap())[0];
            shipped.extend(doc["groups"].as_array().unwrap().iter().cloned());
        }
    }
    let names = |groups: &[Value]| -> Vec<String> {
        let mut n: Vec<String> = groups.iter().map(|g| g["name"].as_str().unwrap().to_string()).collect();
        n.sort();
        n
    };
    let groups = spec["groups"].as_array().unwrap();
    assert_eq!(names(groups), names(&shipped), "the PrometheusRule has other groups than alerting-rules/");
    for g in &shipped {
        let same = groups.iter().find(|k| k["name"] == g["name"]).unwrap();
        assert_eq!(same, g, "group {} differs from alerting-rules/", g["name"]);
    }

    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("prometheusrule-spec.yaml");
    fs::write(&rules, serde_norway::to_string(spec).unwrap()).unwrap();
    promtool(&["check", "rules"], &rules);

    // The unit tests name alerting-rules/ files; here they read the PrometheusRule's content.
    let tests = alerting_rules_yaml("tests");
    assert!(!tests.is_empty(), "no promtool tests in alerting-rules/tests/");
    for test in tests {
        let mut doc: serde_norway::Value =
            serde_norway::from_str(&fs::read_to_string(&test).unwrap()).unwrap();
        doc["rule_files"] = serde_norway::Value::Sequence(vec![rules.to_string_lossy().to_string().into()]);
        let copy = dir.path().join(test.file_name().unwrap());
        fs::write(&copy, serde_norway::to_string(&doc).unwrap()).unwrap();
        let said = promtool(&["test", "rules"], &copy);
        assert!(said.contains("SUCCESS"), "{}:\n{said}", test.display());
    }
}
