//! Optional protection of /metrics (basic auth with a sha256 or bcrypt password hash, bearer
//! tokens by sha256) and HTTPS, through the real binary.

use crate::support;

use base64::Engine;
use sha2::{Digest, Sha256};

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

async fn status(
    client: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
    bearer: Option<&str>,
) -> u16 {
    let mut req = client.get(url);
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_basic_auth_or_a_bearer_token() {
    let (url, _store, _dir) = support::fresh_sqlite().await;
    let c = reqwest::Client::new();
    let bcrypt_hash = bcrypt::hash("scrape-password", 4).unwrap();
    let sha = sha256_hex("scrape-password");
    let bearer = sha256_hex("scrape-token");
    for hash in [sha.as_str(), bcrypt_hash.as_str()] {
        let exporter = support::Exporter::start(
            &url,
            &[
                "--web.basic-auth-user",
                "prometheus",
                "--web.basic-auth-password-hash",
                hash,
                "--web.bearer-token-sha256",
                &bearer,
            ],
        );
        let metrics = exporter.url("/metrics");
        let r = c.get(&metrics).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"webhook-health-exporter\"");
        assert_eq!(status(&c, &metrics, Some(("prometheus", "wrong")), None).await, 401);
        assert_eq!(status(&c, &metrics, Some(("someone", "scrape-password")), None).await, 401);
        assert_eq!(status(&c, &metrics, Some(("prometheus", "scrape-password")), None).await, 200);
        assert_eq!(status(&c, &metrics, Some(("prometheus", "scrape-password")), None).await, 200);
        assert_eq!(status(&c, &metrics, None, Some("scrape-token")).await, 200);
        assert_eq!(status(&c, &metrics, None, Some("scrape-password")).await, 401);
        let garbage = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe]);
        let r = c.get(&metrics).header("authorization", format!("Basic {garbage}")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        // Health, readiness and the landing page stay open for probes.
        for path in ["/healthz", "/readyz", "/"] {
            assert_eq!(status(&c, &exporter.url(path), None, None).await, 200, "{path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_serves_https_with_a_configured_certificate() {
    let (url, _store, _dir) = support::fresh_sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let exporter = support::Exporter::start(
        &url,
        &[
            "--web.tls-cert-file",
            cert_file.to_str().unwrap(),
            "--web.tls-key-file",
            key_file.to_str().unwrap(),
        ],
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let https = format!("https://localhost:{}/metrics", exporter.addr.port());
    let r = client.get(&https).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("webhook_store_up"));
    assert!(reqwest::get(exporter.url("/metrics")).await.is_err(), "plain HTTP is not served");
    assert!(exporter.terminate().success(), "graceful shutdown under TLS");
}

#[test]
fn a_missing_certificate_fails_at_start_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webhook-health-exporter"))
        .args(["serve", "--database-url", &format!("sqlite://{}/s.db", dir.path().display())])
        .args(["--web.listen-address", "127.0.0.1:0", "--web.tls-cert-file", "/nonexistent.pem"])
        .args(["--web.tls-key-file", "/nonexistent.key"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--web.tls-cert-file"));
}
