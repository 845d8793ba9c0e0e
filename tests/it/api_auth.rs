//! Authentication and authorization of the reprocessing API: disabled without credentials, 401
//! versus 403, API tokens, HS256 JWTs (valid, expired, wrong audience, issuer, signature or role),
//! credentials kept out of the log, the OpenAPI document, `hash-token`.

use crate::support;

use crate::api_support::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "hs256-secret-shared-with-the-idp-0123456789";
const ISSUER: &str = "https://idp.portal.example";
const AUDIENCE: &str = "webhook-health-exporter";

fn jwt(claims: Value, secret: &str) -> String {
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn claims(sub: &str, role: &str, exp_in: i64) -> Value {
    json!({ "sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": chrono::Utc::now().timestamp() + exp_in,
            "iat": chrono::Utc::now().timestamp(), "role": role })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_disabled_without_credentials() {
    let (url, _store, _dir) = support::fresh_sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("exporter.log");
    let exporter = support::Exporter::start_logging(&url, &[], "info", &log);
    for path in ["/api/v1/events", "/api/v1/openapi.json", "/api/v1/reprocess"] {
        let a = get(&exporter, Some(ADMIN_TOKEN), path).await;
        assert_eq!((a.status.as_u16(), code(&a)), (404, "api_disabled"), "{path}");
    }
    let a = post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": [] })).await;
    assert_eq!(a.status, 404);
    assert_eq!(reqwest::get(exporter.url("/metrics")).await.unwrap().status(), 200);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("reprocessing API disabled"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_tell_401_from_403_and_nothing_more() {
    let (url, store, _dir) = support::fresh_sqlite().await;
    seed(&store).await;
    let exporter = start(&url, &[]);
    let body = json!({ "event_ids": ["5f0c3c3e-6c2b-4d2a-9a59-8f1f0c6f1a11"] });

    let missing = get(&exporter, None, "/api/v1/events").await;
    let wrong = get(&exporter, Some("not-the-token"), "/api/v1/events").await;
    let hash_as_token = get(
        &exporter,
        Some(&hex::encode(webhook_health_exporter::api::auth::token_sha256(ADMIN_TOKEN))),
        "/api/v1/events",
    )
    .await;
    for a in [&missing, &wrong, &hash_as_token] {
        assert_eq!((a.status.as_u16(), code(a)), (401, "unauthorized"));
        assert_eq!(a.headers["www-authenticate"], "Bearer realm=\"webhook-health-exporter\"");
        assert_eq!(a.text, missing.text, "every 401 reads the same");
    }
    let basic = answer(
        reqwest::Client::new()
            .get(exporter.url("/api/v1/events"))
            .basic_auth("ops", Some(ADMIN_TOKEN))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(basic.status, 401);

    let viewer = get(&exporter, Some(VIEWER_TOKEN), "/api/v1/events").await;
    assert_eq!((viewer.status.as_u16(), code(&viewer)), (403, "forbidden"));
    assert!(!viewer.headers.contains_key("www-authenticate"));
    assert_eq!(get(&exporter, Some(ADMIN_TOKEN), "/api/v1/events").await.status, 200);

    assert_eq!(post(&exporter, None, None, &body).await.status, 401);
    assert_eq!(post(&exporter, Some("nope"), None, &body).await.status, 401);
    assert_eq!(post(&exporter, Some(VIEWER_TOKEN), None, &body).await.status, 403);
    assert_eq!(post(&exporter, Some(ADMIN_TOKEN), None, &body).await.status, 200);
    assert!(reprocess_items(&store).await.is_empty());

    let metrics = reqwest::get(exporter.url("/metrics")).await.unwrap().text().await.unwrap();
    assert_eq!(
        support::metric(&metrics, "webhook_reprocess_requests_total{result=\"unauthorized\"}"),
        Some(2.0)
    );
    assert_eq!(
        support::metric(&metrics, "webhook_reprocess_requests_total{result=\"forbidden\"}"),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_jwts_are_checked_for_signature_issuer_audience_expiry_and_role() {
    let (url, store, _dir) = {
        let (url, store) = support::fresh_postgres().await;
        (url, store, ())
    };
    let seeded = seed(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hs256.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let log = dir.path().join("exporter.log");
    let exporter = support::Exporter::start_logging(
        &url,
        &[
            "--api.jwt-hs256-secret-file",
            secret_file.to_str().unwrap(),
            "--api.jwt-issuer",
            ISSUER,
            "--api.jwt-audience",
            AUDIENCE,
        ],
        "debug",
        &log,
    );

    let good = jwt(claims("alice@portal", "global_admin", 600), SECRET);
    let a = get(&exporter, Some(&good), "/api/v1/events?org=contoso").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["events"].as_array().unwrap().len(), 5);
    let a =
        post(&exporter, Some(&good), None, &json!({ "event_ids": ids_json(&seeded.rejected[..1]) })).await;
    assert_eq!(a.body["totals"]["enqueued"], 1, "{}", a.text);
    assert_eq!(reprocess_items(&store).await[0].requested_by.as_deref(), Some("alice@portal"));
    let audit = audit_rows(&store).await;
    assert_eq!(
        (audit[0]["principal"].as_str(), audit[0]["auth_method"].as_str()),
        (Some("alice@portal"), Some("jwt"))
    );

    let expired = jwt(claims("alice@portal", "global_admin", -3600), SECRET);
    let mut wrong_aud = claims("alice@portal", "global_admin", 600);
    wrong_aud["aud"] = "another-service".into();
    let mut wrong_iss = claims("alice@portal", "global_admin", 600);
    wrong_iss["iss"] = "https://evil.example".into();
    let mut no_exp = claims("alice@portal", "global_admin", 600);
    no_exp.as_object_mut().unwrap().remove("exp");
    let forged = jwt(claims("alice@portal", "global_admin", 600), "another-secret-of-at-least-32-bytes!!");
    // alg "none": the header and claims of a valid token with the signature stripped.
    let unsigned = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims_part = good.split('.').nth(1).unwrap();
        format!("{}.{claims_part}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#))
    };
    let refused = [
        jwt(json!({}), SECRET),
        expired.clone(),
        jwt(wrong_aud, SECRET),
        jwt(wrong_iss, SECRET),
        jwt(no_exp, SECRET),
        forged,
        unsigned,
    ];
    let mut bodies = Vec::new();
    for token in &refused {
        let a = get(&exporter, Some(token), "/api/v1/events").await;
        assert_eq!((a.status.as_u16(), code(&a)), (401, "unauthorized"), "{token}");
        assert!(a.headers.contains_key("www-authenticate"));
        bodies.push(a.text);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "no hint of which check failed: {bodies:?}");

    let viewer = jwt(claims("bob@portal", "coordinator", 600), SECRET);
    let a = get(&exporter, Some(&viewer), "/api/v1/events").await;
    assert_eq!((a.status.as_u16(), code(&a)), (403, "forbidden"));
    let a = post(&exporter, Some(&viewer), None, &json!({ "event_ids": ids_json(&seeded.rejected) })).await;
    assert_eq!(a.status, 403);
    assert_eq!(reprocess_items(&store).await.len(), 1);

    // Even at debug level the log holds no credential.
    drop(exporter);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("JWT refused"), "refusals are logged at debug level");
    for secret in [SECRET, ADMIN_TOKEN, good.as_str(), expired.as_str(), viewer.as_str()] {
        assert!(!text.contains(secret), "the log leaks a credential: {secret}");
    }
    for part in good.split('.').skip(1) {
        assert!(!text.contains(part), "the log leaks part of a JWT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_claim_and_admin_role_are_configurable() {
    let (url, _store, _dir) = support::fresh_sqlite().await;
    let exporter = support::Exporter::start(
        &url,
        &[
            "--api.jwt-hs256-secret",
            SECRET,
            "--api.jwt-issuer",
            ISSUER,
            "--api.jwt-audience",
            AUDIENCE,
            "--api.jwt-role-claim",
            "app_metadata.roles",
            "--api.admin-role",
            "portal_admin",
        ],
    );
    let mut c = claims("carol", "global_admin", 600);
    let a = get(&exporter, Some(&jwt(c.clone(), SECRET)), "/api/v1/events").await;
    assert_eq!(a.status, 403, "the default claim is not read when another is configured");
    c["app_metadata"] = json!({ "roles": ["viewer", "portal_admin"] });
    let a = get(&exporter, Some(&jwt(c, SECRET)), "/api/v1/events").await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_without_credentials() {
    let (url, _store, _dir) = support::fresh_sqlite().await;
    let exporter = start(&url, &["--api.max-batch", "250"]);
    let a = get(&exporter, None, "/api/v1/openapi.json").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "application/json");
    assert_eq!(a.body["openapi"], "3.0.3");
    let batch = &a.body["components"]["schemas"]["ReprocessRequest"]["oneOf"][0]["properties"]["event_ids"];
    assert_eq!(batch["maxItems"], 250, "the document states the configured limits");
    assert!(a.body["paths"]["/api/v1/reprocess"]["post"].is_object());
    let a = get(&exporter, Some(ADMIN_TOKEN), "/api/v1/nothing-here").await;
    assert_eq!((a.status.as_u16(), code(&a)), (404, "not_found"));
}

#[test]
fn hash_token_prints_the_sha256_of_stdin() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_webhook-health-exporter"))
        .arg("hash-token")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{ADMIN_TOKEN}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.trim(), hex::encode(webhook_health_exporter::api::auth::token_sha256(ADMIN_TOKEN)));
    assert!(!printed.contains(ADMIN_TOKEN));
}

#[test]
fn plaintext_tokens_in_the_configuration_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webhook-health-exporter"))
        .args(["serve", "--database-url", &format!("sqlite://{}/s.db", dir.path().display())])
        .args(["--api.token-sha256", &format!("ops:{ADMIN_TOKEN}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--api.token-sha256") && stderr.contains("hash-token"), "{stderr}");
    assert!(!stderr.contains(ADMIN_TOKEN), "the refused value is not echoed: {stderr}");
}

/// Two `Authorization` headers are ambiguous whatever their order (a good one first used to be
/// taken): the API and the ingestion routes refuse them with 401, as they refuse a wrong token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_authorization_headers_are_refused_as_ambiguous() {
    use crate::ingest_support::{self, INGEST_TOKEN};
    let (url, _store, _dir) = support::fresh_sqlite().await;
    let exporter = ingest_support::start(&url, &[]);
    let client = reqwest::Client::new();
    let routes = [
        (reqwest::Method::GET, "/api/v1/events", ADMIN_TOKEN, ""),
        (reqwest::Method::POST, "/api/v1/lifecycle/edge-runtime", INGEST_TOKEN, r#"{"events": []}"#),
    ];
    for (method, path, token, body) in routes {
        let send = |values: Vec<String>| {
            let mut req = client.request(method.clone(), exporter.url(path)).body(body);
            for v in values {
                req = req.header("authorization", v);
            }
            req.send()
        };
        let good = format!("Bearer {token}");
        assert_eq!(send(vec![good.clone()]).await.unwrap().status(), 200, "{path} with one good header");
        for pair in [
            vec![good.clone(), "Bearer bad".into()],
            vec!["Bearer bad".into(), good.clone()],
            vec![good.clone(), good.clone()],
        ] {
            let res = send(pair.clone()).await.unwrap();
            assert_eq!(res.status(), 401, "{path} with {pair:?}");
        }
    }
}
