//! The objects fit together, with the image and with the mixin: selectors select the pods,
//! ports and probes name the port the exporter listens on, secrets are files the flags read,
//! the pod runs as the image's user on a read-only root, the Service is the mixin's job, and the
//! dashboard ConfigMap is the shipped dashboard. Checked on the base and on the example overlay.

use std::collections::BTreeSet;
use std::fs;

use serde_json::Value;

use super::{render, Rendered, BASE, EXAMPLE};
use crate::support::dashboard::{dashboard, read, repo, window_choices};

/// The value of `--NAME=VALUE` (or `--NAME VALUE`) in the container's arguments.
pub fn flag(args: &[String], name: &str) -> Vec<String> {
    let long = format!("--{name}");
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix(&format!("{long}=")) {
            out.push(v.to_string());
        } else if *a == long {
            out.push(args.get(i + 1).cloned().unwrap_or_default());
        }
    }
    out
}

/// Every key/value of `selector` is a label of `labels`.
fn selects(selector: &Value, labels: &Value, what: &str) {
    let selector = selector.as_object().unwrap_or_else(|| panic!("{what}: no matchLabels"));
    assert!(!selector.is_empty(), "{what}: an empty selector selects everything");
    for (k, v) in selector {
        assert_eq!(&labels[k], v, "{what}: selects {k}={v}, the labels are {labels}");
    }
}

fn pod_labels(r: &Rendered) -> &Value {
    &r.one("Deployment")["spec"]["template"]["metadata"]["labels"]
}

fn each_rendering(check: impl Fn(&str, &Rendered)) {
    for kustomization in [BASE, EXAMPLE] {
        check(kustomization, render(kustomization));
    }
}

#[test]
fn replicas_disruption_budget_and_selectors_line_up() {
    each_rendering(|at, r| {
        let deployment = r.one("Deployment");
        let pods = pod_labels(r);
        assert_eq!(deployment["spec"]["replicas"], 2, "{at}: replicas");
        selects(&deployment["spec"]["selector"]["matchLabels"], pods, "Deployment selector");
        let pdb = r.one("PodDisruptionBudget");
        assert_eq!(pdb["spec"]["minAvailable"], 1, "{at}: one replica may be disrupted at a time");
        selects(&pdb["spec"]["selector"]["matchLabels"], pods, "PodDisruptionBudget");
        let spread = &deployment["spec"]["template"]["spec"]["topologySpreadConstraints"][0];
        selects(&spread["labelSelector"]["matchLabels"], pods, "topologySpreadConstraints");

        let service = r.one("Service");
        selects(&service["spec"]["selector"], pods, "Service");
        let monitor = r.one("ServiceMonitor");
        selects(
            &monitor["spec"]["selector"]["matchLabels"],
            &service["metadata"]["labels"],
            "ServiceMonitor",
        );
        let policy = r.one("NetworkPolicy");
        selects(&policy["spec"]["podSelector"]["matchLabels"], pods, "NetworkPolicy");
        assert_eq!(service["metadata"]["namespace"], monitor["metadata"]["namespace"], "{at}: namespaces");
    });
}

/// One port, named in every object that reaches it: the one `--web.listen-address` binds.
#[test]
fn ports_probes_and_scrape_path_match_the_flags() {
    each_rendering(|at, r| {
        let container = r.container();
        let args = r.args();
        assert_eq!(args.first().map(String::as_str), Some("serve"), "{at}: the container runs `serve`");
        let listen = flag(&args, "web.listen-address");
        assert_eq!(listen.len(), 1, "{at}: --web.listen-address once");
        let port: u64 = listen[0].rsplit_once(':').unwrap().1.parse().unwrap();
        let ports = container["ports"].as_array().unwrap();
        assert_eq!(ports.len(), 1, "{at}: one container port");
        assert_eq!(ports[0]["containerPort"], port, "{at}: containerPort vs --web.listen-address");
        let name = ports[0]["name"].as_str().unwrap();

        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let get = &container[probe]["httpGet"];
            assert_eq!(get["path"], path, "{at}: {probe}");
            assert_eq!(get["port"], name, "{at}: {probe} port");
        }

        let service_port = &r.one("Service")["spec"]["ports"][0];
        assert_eq!(service_port["targetPort"], name, "{at}: Service targetPort");
        let endpoint = &r.one("ServiceMonitor")["spec"]["endpoints"][0];
        assert_eq!(endpoint["port"], service_port["name"], "{at}: ServiceMonitor port");
        let telemetry = flag(&args, "web.telemetry-path").pop().unwrap_or_else(|| "/metrics".into());
        assert_eq!(endpoint["path"], telemetry.as_str(), "{at}: ServiceMonitor path vs --web.telemetry-path");

        for rule in r.one("NetworkPolicy")["spec"]["ingress"].as_array().unwrap() {
            assert_eq!(rule["ports"][0]["port"], name, "{at}: NetworkPolicy port");
            assert!(!rule["from"].as_array().unwrap().is_empty(), "{at}: a NetworkPolicy rule admits anyone");
        }
    });
}

#[test]
fn pod_runs_as_the_images_user_on_a_read_only_root() {
    let dockerfile = read("Dockerfile");
    let user =
        dockerfile.lines().rev().find_map(|l| l.strip_prefix("USER ")).expect("the Dockerfile sets USER");
    let (uid, gid) = user.trim().split_once(':').unwrap();
    each_rendering(|at, r| {
        let pod = &r.one("Deployment")["spec"]["template"]["spec"];
        let ctx = &pod["securityContext"];
        assert_eq!(ctx["runAsNonRoot"], true, "{at}");
        assert_eq!(ctx["runAsUser"].to_string(), uid, "{at}: runAsUser vs the Dockerfile's USER");
        assert_eq!(ctx["runAsGroup"].to_string(), gid, "{at}: runAsGroup vs the Dockerfile's USER");
        assert_eq!(ctx["fsGroup"].to_string(), gid, "{at}: fsGroup makes the secret files readable");
        assert_eq!(ctx["seccompProfile"]["type"], "RuntimeDefault", "{at}");
        assert_eq!(pod["automountServiceAccountToken"], false, "{at}");
        let c = &r.container()["securityContext"];
        assert_eq!(c["readOnlyRootFilesystem"], true, "{at}");
        assert_eq!(c["allowPrivilegeEscalation"], false, "{at}");
        assert_eq!(c["capabilities"]["drop"], serde_json::json!(["ALL"]), "{at}");
        let resources = &r.container()["resources"];
        for key in ["cpu", "memory"] {
            assert!(resources["requests"][key].is_string(), "{at}: no {key} request");
        }
        assert!(resources["limits"]["memory"].is_string(), "{at}: no memory limit");
    });
}

/// Every file flag reads a file of a mounted Secret, every mounted Secret is read by a flag, and no
/// credential is in the environment.
#[test]
fn credentials_are_secret_files_read_by_the_flags() {
    let readme = read("deploy/kubernetes/README.md");
    each_rendering(|at, r| {
        let container = r.container();
        let pod = &r.one("Deployment")["spec"]["template"]["spec"];
        assert!(
            container["env"].is_null() && container["envFrom"].is_null(),
            "{at}: the container has environment"
        );
        let args = r.args();
        let file_args: Vec<String> = args
            .iter()
            .filter_map(|a| a.split_once('=').filter(|(k, _)| k.ends_with("-file") || k.ends_with(".file")))
            .map(|(_, v)| v.to_string())
            .collect();
        for name in
            ["database-url-file", "ingest.token-sha256-file", "api.token-sha256-file", "web.config.file"]
        {
            assert_eq!(flag(&args, name).len(), 1, "{at}: --{name}");
        }
        let mut used = BTreeSet::new();
        for path in &file_args {
            let mount = container["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| path.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap())))
                .unwrap_or_else(|| panic!("{at}: {path} is on no mounted volume"));
            assert_eq!(mount["readOnly"], true, "{at}: {path}");
            let volume =
                pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == mount["name"]).unwrap();
            let secret = volume["secret"]["secretName"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: {path} is not on a Secret volume: {volume}"));
            let key = &path[mount["mountPath"].as_str().unwrap().len() + 1..];
            assert!(
                readme.contains(secret) && readme.contains(key),
                "deploy/kubernetes/README.md: {secret} {key}"
            );
            used.insert(volume["name"].as_str().unwrap().to_string());
        }
        let volumes: BTreeSet<String> = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(used, volumes, "{at}: a volume no flag reads");

        let auth = &r.one("ServiceMonitor")["spec"]["endpoints"][0]["basicAuth"];
        for part in ["username", "password"] {
            let secret = auth[part]["name"].as_str().unwrap();
            assert!(readme.contains(secret), "deploy/kubernetes/README.md does not say how to make {secret}");
        }
    });
}

/// The ServiceMonitor's job is the Service's name: the mixin's default selector must name it, and
/// the exporter must compute the windows the rules and the dashboard read.
#[test]
fn the_service_is_the_mixins_job_and_computes_its_windows() {
    let config = read("mixin/config.libsonnet");
    let job = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("selector: 'job=\"")?.strip_suffix("\"',"))
        .expect("mixin/config.libsonnet has a job selector");
    each_rendering(|at, r| {
        assert_eq!(r.one("Service")["metadata"]["name"], job, "{at}: the Service's name is the mixin's job");
        assert!(r.one("ServiceMonitor")["spec"]["jobLabel"].is_null(), "{at}: jobLabel renames the job");
        let windows: BTreeSet<String> = flag(&r.args(), "window").into_iter().collect();
        let rules = serde_json::to_string(&r.one("PrometheusRule")["spec"]).unwrap();
        for read_by_rules in rules.split("window=\\\"").skip(1).map(|s| s.split('\\').next().unwrap()) {
            assert!(
                windows.contains(read_by_rules),
                "{at}: the rules read window {read_by_rules}, args {windows:?}"
            );
        }
    });
    let example = render(EXAMPLE);
    let windows = flag(&example.args(), "window");
    for choice in window_choices(&dashboard()) {
        assert!(
            windows.contains(&choice),
            "{EXAMPLE}: the dashboard offers {choice}, the exporter computes {windows:?}"
        );
    }
}

#[test]
fn dashboards_configmap_is_the_shipped_dashboards_for_the_sidecar() {
    each_rendering(|at, r| {
        let map = r.one("ConfigMap");
        assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1", "{at}: the sidecar's label");
        let data = map["data"].as_object().unwrap();
        let mut shipped = Vec::new();
        for entry in fs::read_dir(repo().join("grafana/dashboards")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                shipped.push(path);
            }
        }
        assert_eq!(data.len(), shipped.len(), "{at}: dashboards in the ConfigMap");
        for path in shipped {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let held = data[&name].as_str().unwrap_or_else(|| panic!("{at}: no {name} in the ConfigMap"));
            // `jsonnet -m` ends the shipped file with one more newline than the ConfigMap holds.
            let text = fs::read_to_string(&path).unwrap();
            let (held, text) = (held.trim_end(), text.trim_end());
            // Not assert_eq!: a dashboard is too long to print whole.
            let differs = held.bytes().zip(text.bytes()).position(|(a, b)| a != b);
            if let Some(i) = differs.or((held.len() != text.len()).then_some(held.len().min(text.len()))) {
                let around = |s: &str| {
                    String::from_utf8_lossy(&s.as_bytes()[i.saturating_sub(60)..(i + 60).min(s.len())])
                        .into_owned()
                };
                panic!(
                    "{at}: {name} differs from grafana/dashboards/ at byte {i}: {:?} vs {:?}",
                    around(held),
                    around(text)
                );
            }
        }
    });
}

/// What the example overlay adds for kube-prometheus-stack and the ingress.
#[test]
fn example_overlay_fits_kube_prometheus_stack_and_exposes_no_metrics() {
    let r = render(EXAMPLE);
    for kind in ["ServiceMonitor", "PrometheusRule"] {
        assert_eq!(r.one(kind)["metadata"]["labels"]["release"], "kube-prometheus-stack", "{kind}");
    }
    let service = r.one("Service");
    for rule in r.one("Ingress")["spec"]["rules"].as_array().unwrap() {
        for path in rule["http"]["paths"].as_array().unwrap() {
            let p = path["path"].as_str().unwrap();
            assert!(
                p == "/api" || p == "/admin",
                "the Ingress routes {p}: only /api and /admin may be reached"
            );
            assert_eq!(path["backend"]["service"]["name"], service["metadata"]["name"]);
            assert_eq!(path["backend"]["service"]["port"]["name"], service["spec"]["ports"][0]["name"]);
        }
    }
    for rule in r.one("NetworkPolicy")["spec"]["ingress"].as_array().unwrap() {
        let namespaces = &rule["from"][0]["namespaceSelector"]["matchLabels"];
        assert!(
            namespaces["kubernetes.io/metadata.name"].is_string(),
            "a rule admits every namespace: {rule}"
        );
    }
}
