//! `--web.config.file` (exporter-toolkit's web configuration) through the real binary: a real
//! Prometheus scrapes over HTTPS with basic auth, as an operator's scrape_config would; client
//! certificates; response headers; the deprecated flags refused alongside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};

use crate::support;
use crate::support::prometheus::{Prometheus, PrometheusConfig};

/// A CA, a server certificate for localhost / 127.0.0.1 and a client certificate it signed,
/// written as PEM files.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    /// Client certificate and key in one PEM (reqwest's Identity).
    client_identity: Vec<u8>,
}

fn pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["scraper".to_string()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();
    let pki = Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_identity: format!("{}{}", client.pem(), client_key.serialize_pem()).into_bytes(),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.server_cert, server.pem()).unwrap();
    std::fs::write(&pki.server_key, server_key.serialize_pem()).unwrap();
    pki
}

fn client(pki: &Pki, identity: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&pki.ca).unwrap()).unwrap();
    let mut builder = reqwest::Client::builder().add_root_certificate(ca).use_rustls_tls();
    if identity {
        builder = builder.identity(reqwest::Identity::from_pem(&pki.client_identity).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_over_https_with_basic_auth_from_a_web_config_file() {
    let (url, _store, _dir) = support::fresh_sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let hash = bcrypt::hash("scrape-password", 4).unwrap();
    let web_config = dir.path().join("web.yml");
    // Relative file names are relative to the web config file, as in exporter-toolkit.
    std::fs::write(
        &web_config,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS12\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  prometheus: {hash}\n"
        ),
    )
    .unwrap();
    let api_token_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"api-token"));
    let exporter = support::Exporter::start(
        &url,
        &["--web.config.file", web_config.to_str().unwrap(), "--api.token-sha256", &api_token_sha256],
    );
    let c = client(&pki, false);
    let https = |path: &str| format!("https://127.0.0.1:{}{path}", exporter.addr.port());
    let r = c.get(https("/metrics")).basic_auth("prometheus", Some("wrong")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"webhook-health-exporter\"");
    assert_eq!(r.headers()["x-frame-options"], "deny", "headers on every response");
    let r = c.get(https("/metrics")).basic_auth("prometheus", Some("scrape-password")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("webhook_store_up"));
    // The landing page is protected too; probes and the API keep their own rules.
    assert_eq!(c.get(https("/")).send().await.unwrap().status(), 401);
    assert_eq!(c.get(https("/healthz")).send().await.unwrap().status(), 200);
    // The API keeps its bearer tokens in the Authorization header, untouched by basic auth.
    let api = c.get(https("/api/v1/events")).bearer_auth("api-token").send().await.unwrap();
    assert_eq!(api.status(), 200, "{}", api.text().await.unwrap());
    let api = c.get(https("/api/v1/events")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(api.status(), 401);

    let prometheus = Prometheus::start(
        &PrometheusConfig::new(exporter.addr)
            .rule_files(vec![])
            .https(pki.ca.clone())
            .basic_auth("prometheus", "scrape-password"),
    )
    .await;
    prometheus.wait_for("up", |r| r.len() == 1 && r[0].1 == 1.0, Duration::from_secs(30)).await;
    let stored = prometheus.query("webhook_store_up").await;
    assert_eq!(stored.len(), 1, "the exporter's series arrived through the scrape: {stored:?}");
    drop(prometheus);

    // A wrong password in the scrape config: Prometheus reports the target down.
    let wrong = Prometheus::start(
        &PrometheusConfig::new(exporter.addr)
            .rule_files(vec![])
            .https(pki.ca.clone())
            .basic_auth("prometheus", "nope"),
    )
    .await;
    wrong.wait_for("up", |r| r.len() == 1 && r[0].1 == 0.0, Duration::from_secs(30)).await;
    assert!(exporter.terminate().success(), "graceful shutdown under TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_when_configured() {
    let (url, _store, _dir) = support::fresh_sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let web_config = dir.path().join("web.yml");
    std::fs::write(
        &web_config,
        format!(
            "tls_server_config:\n  cert_file: {:?}\n  key_file: {:?}\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {:?}\n  min_version: TLS13\n",
            pki.server_cert, pki.server_key, pki.ca
        ),
    )
    .unwrap();
    let exporter = support::Exporter::start(&url, &["--web.config.file", web_config.to_str().unwrap()]);
    let https = format!("https://localhost:{}/metrics", exporter.addr.port());
    assert!(client(&pki, false).get(&https).send().await.is_err(), "no client certificate: refused");
    let r = client(&pki, true).get(&https).send().await.unwrap();
    assert_eq!(r.status(), 200, "no basic_auth_users: open to verified clients");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_reloaded_without_a_restart() {
    let (url, _store, _dir) = support::fresh_sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let first = pki(dir.path());
    let web_config = dir.path().join("web.yml");
    std::fs::write(&web_config, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n")
        .unwrap();
    let exporter = support::Exporter::start(&url, &["--web.config.file", web_config.to_str().unwrap()]);
    let https = format!("https://localhost:{}/healthz", exporter.addr.port());
    assert_eq!(client(&first, false).get(&https).send().await.unwrap().status(), 200);
    // A new CA and server certificate in place of the old: new connections get the new one.
    let old_ca = std::fs::read(&first.ca).unwrap();
    let second = pki(dir.path());
    std::fs::write(dir.path().join("old-ca.pem"), &old_ca).unwrap();
    let old = Pki { ca: dir.path().join("old-ca.pem"), ..first };
    assert_eq!(client(&second, false).get(&https).send().await.unwrap().status(), 200);
    assert!(client(&old, false).get(&https).send().await.is_err(), "the old CA no longer verifies it");
}

#[test]
fn deprecated_flags_are_refused_with_a_web_config_file_and_typos_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let web_config = dir.path().join("web.yml");
    std::fs::write(&web_config, "basic_auth_users: {}\n").unwrap();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_webhook-health-exporter"))
            .args(["serve", "--database-url", &format!("sqlite://{}/s.db", dir.path().display())])
            .args(["--web.listen-address", "127.0.0.1:0", "--web.config.file", web_config.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = run(&["--web.bearer-token-sha256", &"a".repeat(64)]);
    assert!(e.contains("--web.config.file") && e.contains("--web.bearer-token-sha256"), "{e}");
    std::fs::write(&web_config, "tls_server_config:\n  cert_file: c.pem\n  keyfile: k.pem\n").unwrap();
    let e = run(&[]);
    assert!(e.contains("keyfile"), "{e}");
}
