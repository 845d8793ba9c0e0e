use super::*;

fn args(url: &str) -> ServeArgs {
    ServeArgs { database_url: Some(url.into()), ..ServeArgs::default() }
}

#[test]
fn defaults_are_conventional() {
    let s = Settings::resolve(&args("sqlite://x.db")).unwrap();
    assert_eq!(s.listen_address.to_string(), "0.0.0.0:9877");
    assert_eq!(s.telemetry_path, "/metrics");
    let labels: Vec<_> = s.collector.windows.iter().map(|w| &*w.label).collect();
    assert_eq!(labels, ["1h", "24h"]);
}

#[test]
fn bad_values_name_the_setting() {
    let mut a = args("sqlite://x.db");
    a.windows = vec!["1x".into()];
    let e = Settings::resolve(&a).unwrap_err().to_string();
    assert!(e.contains("--window") && e.contains("1x"), "{e}");

    let mut a = args("sqlite://x.db");
    a.telemetry_path = Some("/metrics\"><script>".into());
    assert!(Settings::resolve(&a).unwrap_err().to_string().contains("--web.telemetry-path"));

    let e = Settings::resolve(&args("mysql://u:pw@h/d")).unwrap_err().to_string();
    assert!(e.contains("--database-url") && !e.contains("pw"), "{e}");

    let mut a = args("sqlite://x.db");
    a.listen_address = Some("nope".into());
    assert!(Settings::resolve(&a).unwrap_err().to_string().contains("--web.listen-address"));
}

#[test]
fn the_sync_queue_is_a_table_or_pgmq_on_postgres() {
    let pick = |url: &str, queue: &str| {
        Settings::resolve(&ServeArgs { sync_queue: Some(queue.into()), ..args(url) }).map(|s| s.sync_queue)
    };
    assert_eq!(Settings::resolve(&args("sqlite://x.db")).unwrap().sync_queue, SyncQueue::Table);
    assert_eq!(pick("postgres://h/db", "pgmq:portal_sync").unwrap(), SyncQueue::Pgmq("portal_sync".into()));
    for (url, queue) in
        [("sqlite://x.db", "pgmq:portal_sync"), ("postgres://h/db", "pgmq:Bad"), ("postgres://h/db", "redis")]
    {
        let msg = pick(url, queue).unwrap_err().to_string();
        assert!(msg.contains("--sync-queue"), "{queue} on {url}: {msg}");
    }
}

#[test]
fn the_database_url_comes_from_a_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("db-url");
    std::fs::write(&secret, "postgres://u:pw@db:5432/logs\n").unwrap();
    let a = ServeArgs { database_url_file: Some(secret.clone()), ..ServeArgs::default() };
    assert_eq!(Settings::resolve(&a).unwrap().database_url, "postgres://u:pw@db:5432/logs");

    std::fs::write(&secret, "\n").unwrap();
    let e = Settings::resolve(&a).unwrap_err().to_string();
    assert!(e.contains("--database-url-file") && e.contains("empty"), "{e}");
    let missing = ServeArgs { database_url_file: Some(dir.path().join("nope")), ..ServeArgs::default() };
    let e = Settings::resolve(&missing).unwrap_err().to_string();
    assert!(e.contains("--database-url-file") && e.contains("nope"), "{e}");

    let config = dir.path().join("c.toml");
    std::fs::write(&config, format!("database_url_file = {:?}\n", secret.display().to_string())).unwrap();
    std::fs::write(&secret, "sqlite://from-file.db").unwrap();
    let a = ServeArgs { config: Some(config.clone()), ..ServeArgs::default() };
    assert_eq!(Settings::resolve(&a).unwrap().database_url, "sqlite://from-file.db");
    std::fs::write(
        &config,
        format!("database_url = \"sqlite://x.db\"\ndatabase_url_file = {:?}\n", secret.display().to_string()),
    )
    .unwrap();
    assert!(Settings::resolve(&a).unwrap_err().to_string().contains("not both"));
}

#[test]
fn probes_and_the_edge_window_come_from_the_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let text = "database_url = \"sqlite://x.db\"\nedge_recovery_window = \"10m\"\n\
                [[probe]]\nname = \"hook\"\nurl = \"https://x.supabase.co/functions/v1/h\"\ninterval = \"30s\"\n";
    std::fs::write(&path, text).unwrap();
    let mut a = ServeArgs { config: Some(path), ..ServeArgs::default() };
    a.probe.targets = vec!["other=http://127.0.0.1:1/".into()];
    let s = Settings::resolve(&a).unwrap();
    assert_eq!(s.edge_recovery_window, Duration::from_secs(600));
    let names: Vec<_> = s.probes.iter().map(|p| (p.component(), p.interval.as_secs())).collect();
    assert_eq!(names, [("endpoint:hook".to_string(), 30), ("endpoint:other".to_string(), 15)]);
    assert_eq!(Settings::resolve(&args("sqlite://x.db")).unwrap().edge_recovery_window.as_secs(), 300);
}

#[test]
fn the_watched_edge_functions_come_from_the_flag_the_environment_or_the_file() {
    use clap::FromArgMatches;
    let parse = |argv: &[&str]| {
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        let matches = command.try_get_matches_from(argv).unwrap();
        Settings::resolve(&ServeArgs::from_arg_matches(&matches).unwrap())
    };
    let db = ["serve", "--database-url", "sqlite://x.db"];
    assert!(parse(&db).unwrap().collector.edge_functions.is_empty(), "every function by default");
    let flags = [&db[..], &["--edge.function", "dynamics-webhook", "--edge.function", "0b9c-uuid"]].concat();
    assert_eq!(parse(&flags).unwrap().collector.edge_functions, ["dynamics-webhook", "0b9c-uuid"]);

    // Only this test reads the variable (the others build their arguments without clap).
    std::env::set_var("WHE_EDGE_FUNCTION", "dynamics-webhook, 0b9c-uuid");
    let from_env = parse(&db);
    let flag_wins = parse(&[&db[..], &["--edge.function", "other"]].concat());
    std::env::remove_var("WHE_EDGE_FUNCTION");
    assert_eq!(from_env.unwrap().collector.edge_functions, ["dynamics-webhook", "0b9c-uuid"]);
    assert_eq!(flag_wins.unwrap().collector.edge_functions, ["other"]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "database_url = \"sqlite://x.db\"\nedge_functions = [\"dynamics-webhook\"]\n")
        .unwrap();
    let mut a = ServeArgs { config: Some(path), ..ServeArgs::default() };
    assert_eq!(Settings::resolve(&a).unwrap().collector.edge_functions, ["dynamics-webhook"]);
    a.edge.functions = vec!["other".into()];
    assert_eq!(Settings::resolve(&a).unwrap().collector.edge_functions, ["other"], "the flag wins");

    for bad in [&["", "x"][..], &["x", " "], &["x", "x"]] {
        let mut a = args("sqlite://x.db");
        a.edge.functions = bad.iter().map(|s| s.to_string()).collect();
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("--edge.function"), "{e}");
    }
    let e = parse(&[&db[..], &["--edge.function", "a,,b"]].concat()).unwrap_err().to_string();
    assert!(e.contains("--edge.function") && e.contains("empty"), "{e}");
}

#[test]
fn the_web_config_file_comes_from_the_web_section() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n").unwrap();
    let path = dir.path().join("c.toml");
    let text =
        format!("database_url = \"sqlite://x.db\"\n[web]\nconfig_file = {:?}\n", web.display().to_string());
    std::fs::write(&path, text).unwrap();
    let a = ServeArgs { config: Some(path), ..ServeArgs::default() };
    let s = Settings::resolve(&a).unwrap();
    assert_eq!(s.web.tls.unwrap().key, dir.path().join("k.pem"));
    assert_eq!(s.web.web_config_file, Some(web));
}

#[test]
fn every_flag_has_a_name_of_its_own() {
    // Flattened rooms (api, ingest, web...) share one namespace: clap checks it here, not at start.
    ServeArgs::augment_args(clap::Command::new("serve")).debug_assert();
}

#[test]
fn ingestion_tokens_are_their_own() {
    let hash = hex::encode(crate::credentials::sha256(b"t"));
    let mut a = args("sqlite://x.db");
    a.ingest.token_sha256 = vec![format!("drain:{hash}")];
    assert!(Settings::resolve(&a).unwrap().ingest.enabled());
    a.api.token_sha256 = vec![format!("ops:{hash}")];
    let e = Settings::resolve(&a).unwrap_err().to_string();
    assert!(e.contains("--ingest.token-sha256") && e.contains("also an API token"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let text = format!("database_url = \"sqlite://x.db\"\n[ingest]\ntoken_sha256 = [\"w:{hash}\"]\n");
    std::fs::write(&path, text).unwrap();
    let a = ServeArgs { config: Some(path), ..ServeArgs::default() };
    assert_eq!(Settings::resolve(&a).unwrap().ingest.tokens[0].principal, "w");
}

#[test]
fn unknown_config_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "database_url = \"sqlite://x.db\"\nwindow = [\"1h\"]\n").unwrap();
    let a = ServeArgs { config: Some(path), ..ServeArgs::default() };
    let e = Settings::resolve(&a).unwrap_err().to_string();
    assert!(e.contains("unknown field") && e.contains("window"), "{e}");
}
