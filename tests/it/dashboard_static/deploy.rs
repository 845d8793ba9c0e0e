//! Provisioning, compose, Docker and the external checkers (promtool, amtool, docker-compose).

use super::*;

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
        pg["secureJsonData.password"], "$__file{/run/secrets/grafana_reader_password}",
        "the password must come from the compose secret"
    );
    for d in &ds {
        for (k, v) in d {
            if k.to_lowercase().contains("password") || k.to_lowercase().contains("secret") {
                assert!(v.starts_with("$__file{/run/secrets/"), "{k} must come from a secret file");
            }
        }
    }

    // The dashboard's data source variables default to the provisioned data sources.
    let d = dashboard();
    assert_eq!(variable(&d, "prometheus_datasource")["current"]["value"], PROMETHEUS_UID);
    let sql = variable(&d, "postgres_datasource");
    assert_eq!(sql["current"]["value"], LOGSTORE_UID);
    assert_eq!(
        str_of(sql, "query"),
        LOGSTORE_TYPE,
        "the variable lists data sources of the provisioned type"
    );
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
fn compose_images_are_pinned_and_secrets_come_from_files() {
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
        // A password is never written here nor passed in the environment: keys holding one name
        // a compose secret's file (`*_FILE` / Grafana's `*__FILE`), and nothing is interpolated.
        if let Some((key, value)) = line.split_once(": ") {
            if key.contains("PASSWORD") {
                assert!(
                    key.ends_with("_FILE") && value.trim().starts_with("/run/secrets/"),
                    "`{line}`: a password must come from a secret file"
                );
            }
        }
        assert!(!line.contains("${"), "`{line}`: nothing is taken from the environment or .env");
    }
    for service in [
        "postgres:",
        "migrate:",
        "exporter-role:",
        "exporter:",
        "simulator:",
        "prometheus:",
        "alertmanager:",
        "grafana:",
    ] {
        assert!(compose.contains(&format!("\n  {service}\n")), "service {service} missing");
    }
    assert!(compose.contains("profiles: [\"demo\"]"), "simulator under the demo profile");
    assert!(compose.contains("condition: service_completed_successfully"));
    assert!(compose.contains("condition: service_healthy"));
}

/// `name -> file` of the top-level `secrets:` of docker-compose.yml.
fn compose_secrets() -> BTreeMap<String, String> {
    let compose = read(COMPOSE);
    let mut out = BTreeMap::new();
    let mut name: Option<String> = None;
    let mut in_secrets = false;
    for line in compose.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_secrets = line == "secrets:";
            continue;
        }
        if !in_secrets {
            continue;
        }
        if let Some(n) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
            name = Some(n.trim().trim_end_matches(':').to_string());
        } else if let Some(file) = line.trim().strip_prefix("file:") {
            out.insert(name.clone().expect("a secret name before its file"), file.trim().to_string());
        }
    }
    out
}

#[test]
fn compose_secrets_are_gitignored_files_the_operator_generates() {
    let secrets = compose_secrets();
    let expected = [
        "postgres_password",
        "owner_database_url",
        "exporter_db_password",
        "exporter_database_url",
        "grafana_reader_password",
        "grafana_admin_password",
        "ingest_token",
        "ingest_token_sha256",
    ];
    assert_eq!(secrets.keys().map(String::as_str).collect::<BTreeSet<_>>(), expected.into_iter().collect());
    let gitignore = read(".gitignore");
    assert!(
        gitignore.lines().any(|l| l.trim() == "/deploy/secrets/*.txt"),
        ".gitignore must cover the secrets"
    );
    let generator = read(SECRETS_GENERATOR);
    let readme = read("deploy/secrets/README.md");
    for (name, file) in &secrets {
        assert_eq!(file, &format!("./deploy/secrets/{name}.txt"), "secret {name}");
        assert!(generator.contains(&format!("create {name} ")), "{SECRETS_GENERATOR} does not create {name}");
        assert!(
            readme.contains(&format!("`{name}.txt`")),
            "deploy/secrets/README.md does not describe {name}"
        );
    }
    // Every secret a service uses is declared.
    let compose = read(COMPOSE);
    // `secrets:` lists of the services (and of the x-exporter anchor): items two columns deeper.
    let mut item_prefix: Option<String> = None;
    let mut used = 0;
    for line in compose.lines() {
        if let Some(name) = item_prefix.as_deref().and_then(|p| line.strip_prefix(p)) {
            assert!(secrets.contains_key(name.trim()), "a service uses the undeclared secret {name}");
            used += 1;
        } else {
            let indent = line.len() - line.trim_start().len();
            item_prefix =
                (indent > 0 && line.trim() == "secrets:").then(|| format!("{}- ", " ".repeat(indent + 2)));
        }
    }
    assert!(used >= 8, "services' secrets not found in {COMPOSE}");
    // The exporter logs in as the least-privilege role, migrations as the owner.
    assert!(generator.contains("create exporter_database_url \"postgres://webhook_exporter:"));
    assert!(generator.contains("create owner_database_url \"postgres://webhook_admin:"));
    assert!(compose.contains("WHE_DATABASE_URL_FILE: /run/secrets/exporter_database_url"));
    assert!(compose.contains("WHE_DATABASE_URL_FILE: /run/secrets/owner_database_url"));
    assert!(compose.contains("- ./deploy/postgres:/deploy/postgres:ro"));
    let role_sh = read(EXPORTER_ROLE_INIT);
    assert!(role_sh.contains("exporter_role.psql") && role_sh.contains("WHE_EXPORTER_DB_PASSWORD_FILE"));
    assert!(!read(EXPORTER_ROLE_SQL).to_uppercase().contains("PASSWORD '"), "no literal password");
    #[cfg(unix)]
    for script in [SECRETS_GENERATOR, EXPORTER_ROLE_INIT] {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(repo().join(script)).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{script} must be executable");
    }
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

/// An empty env file, so a developer's `.env` cannot influence the compose checks; removed when
/// dropped, pass or fail.
fn empty_env_file() -> tempfile::NamedTempFile {
    tempfile::Builder::new().prefix("whe-compose-").suffix(".env").tempfile().unwrap()
}

#[test]
fn docker_compose_accepts_the_stack() {
    let file = empty_env_file();
    let env_file = file.path().to_string_lossy().into_owned();
    for args in [
        &["-f", COMPOSE, "--env-file", &env_file, "config", "-q"][..],
        &["-f", COMPOSE, "--env-file", &env_file, "--profile", "demo", "config", "-q"][..],
    ] {
        // Without any environment or .env: every secret is a file.
        let out = run_tool("docker-compose", args, &[], true);
        assert_success(&format!("docker-compose {}", args.join(" ")), &out);
    }
}
