//! The Deployment's arguments, as rendered, start the real binary: the Secrets' files are written
//! where the mounts put them (under a temporary folder), the listen address moves to a free
//! local port, and nothing else changes. A flag renamed or removed in the binary fails here.
//! Then the probes, the ServiceMonitor's scrape with its basic auth, the ingestion token and the
//! API token all answer as the manifests expect.

use std::path::Path;
use std::process::Stdio;

use sha2::{Digest, Sha256};

use super::wiring::flag;
use super::{render, Rendered, EXAMPLE};
use webhook_health_exporter::store::NewOrganization;

use crate::support::{free_address, fresh_sqlite, Exporter};

const SCRAPE_USER: &str = "prometheus";
const SCRAPE_PASSWORD: &str = "scrape-password";
const INGEST_TOKEN: &str = "ingest-token-for-the-manifest-test";
const API_TOKEN: &str = "api-token-for-the-manifest-test";

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What a file flag's Secret holds in this test; a flag not listed here fails the test, so that a
/// new credential in the Deployment gets a content (and a check) here too.
fn secret_content(flag: &str, database_url: &str) -> String {
    match flag {
        "--database-url-file" => format!("{database_url}\n"),
        "--ingest.token-sha256-file" => format!("manifest-test:{}\n", sha256_hex(INGEST_TOKEN)),
        "--api.token-sha256-file" => format!("ops:global_admin:{}\n", sha256_hex(API_TOKEN)),
        "--web.config.file" => {
            format!("basic_auth_users:\n  {SCRAPE_USER}: {}\n", bcrypt::hash(SCRAPE_PASSWORD, 4).unwrap())
        }
        other => panic!("the Deployment passes {other}: teach this test what its Secret holds"),
    }
}

/// The container's arguments with every mounted file moved under `root` (and written there), and
/// the listen address on a free local port.
fn localize(r: &Rendered, root: &Path, database_url: &str) -> (std::net::SocketAddr, Vec<String>) {
    let mounts: Vec<String> = r.container()["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap().to_string())
        .collect();
    let addr = free_address();
    let mut out = Vec::new();
    for arg in r.args() {
        let Some((name, value)) = arg.split_once('=') else {
            out.push(arg);
            continue;
        };
        if name == "--web.listen-address" {
            out.push(format!("{name}={addr}"));
        } else if mounts.iter().any(|m| value.starts_with(&format!("{m}/"))) {
            let local = root.join(value.trim_start_matches('/'));
            std::fs::create_dir_all(local.parent().unwrap()).unwrap();
            std::fs::write(&local, secret_content(name, database_url)).unwrap();
            out.push(format!("{name}={}", local.display()));
        } else {
            out.push(arg);
        }
    }
    (addr, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployments_arguments_start_the_binary_and_everything_answers() {
    let r = render(EXAMPLE);
    let (database_url, store, _db_dir) = fresh_sqlite().await;
    // An organization, so that the per-org window gauges exist.
    let org = NewOrganization {
        org_id: "contoso".into(),
        display_name: "Contoso".into(),
        endpoint_url: "https://contoso.example/hook".into(),
        changed_at: chrono::Utc::now(),
    };
    store.upsert_organization(&org).await.expect("adding an organization");
    let root = tempfile::tempdir().unwrap();
    let (addr, args) = localize(r, root.path(), &database_url);
    let exporter = Exporter::start_exactly(addr, &args, "warn", Stdio::inherit());
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(exporter.url(path));

    let container = r.container();
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = container[probe]["httpGet"]["path"].as_str().unwrap();
        let status = get(path).send().await.unwrap().status();
        assert_eq!(status, 200, "{probe} {path}");
    }

    let endpoint = &r.one("ServiceMonitor")["spec"]["endpoints"][0];
    let path = endpoint["path"].as_str().unwrap();
    assert_eq!(get(path).send().await.unwrap().status(), 401, "{path} without the scrape password");
    let scrape = get(path).basic_auth(SCRAPE_USER, Some(SCRAPE_PASSWORD)).send().await.unwrap();
    assert_eq!(scrape.status(), 200, "{path} with the ServiceMonitor's basic auth");
    let page = scrape.text().await.unwrap();
    assert!(page.contains("webhook_store_up 1"), "the store is not up:\n{page}");
    for window in flag(&r.args(), "window") {
        let series = format!("window=\"{window}\"");
        assert!(page.contains(&series), "no {series} series although --window={window}");
    }

    let drain = |token: &str| {
        client.post(exporter.url("/api/v1/lifecycle/log-drain")).bearer_auth(token.to_string()).body("[]")
    };
    assert_eq!(drain(INGEST_TOKEN).send().await.unwrap().status(), 200, "ingestion with its token");
    assert_eq!(drain(API_TOKEN).send().await.unwrap().status(), 401, "ingestion with the API's token");
    let events = client.get(exporter.url("/api/v1/events")).bearer_auth(API_TOKEN).send().await.unwrap();
    assert_eq!(events.status(), 200, "the API with its token");
    drop(exporter);
}
