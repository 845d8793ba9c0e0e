//! Property-based fuzzing of the reprocessing API and the lifecycle ingestion routes (their own
//! security scheme, `ingestAuth`) with schemathesis, against the real binary on a fresh PostgreSQL
//! database with simulated traffic: every check (no 5xx, status codes, content
//! types, headers and bodies as documented, schema-valid requests accepted, invalid ones refused,
//! missing credentials refused) must pass. schemathesis comes from PyPI, installed into a venv by
//! scripts/install-test-deps.sh.

use crate::support;

use std::path::PathBuf;
use std::process::Command;

use crate::api_support::*;
use sqlx::Row;
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::store::Store;

/// The version scripts/install-test-deps.sh installs; CLI flags differ between major versions.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

fn schemathesis() -> PathBuf {
    let venv = std::env::var_os("WHE_SCHEMATHESIS_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/whe-venv-schemathesis")
    });
    let bin = venv.join("bin/schemathesis");
    let version = Command::new(&bin).arg("--version").output();
    match version {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains(SCHEMATHESIS_VERSION) => bin,
        _ => panic!(
            "schemathesis {SCHEMATHESIS_VERSION} is needed for this test and was not found at {}.\n\
             Run scripts/install-test-deps.sh (or the README's test command, scripts/test.sh), which \
             installs it into that venv; WHE_SCHEMATHESIS_VENV points elsewhere.",
            bin.display()
        ),
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure() {
    let bin = schemathesis();
    let (url, store) = support::fresh_postgres().await;
    let cfg = SimConfig { events: 5_000, orgs: 8, end: chrono::Utc::now(), ..SimConfig::default() };
    simulate::run(&store, &cfg, std::future::pending::<()>()).await.unwrap();
    // Sync failures too, so that answers carrying them are checked against the schema: items
    // given up (with and without a class) and items whose worker vanished.
    let pick = |n: u32| {
        // The newest items: the listing's first page (newest first) must show them beside the
        // simulated portal outage's give-ups.
        format!("SELECT id FROM sync_queue WHERE state IN ('pending', 'done') AND NOT reprocess ORDER BY id DESC LIMIT {n}")
    };
    exec(
        &store,
        &format!(
            "UPDATE sync_queue SET state = 'failed', attempts = 5, last_error_class = 'portal_unavailable',
                    last_http_status = 503, last_error = 'portal answered 503' WHERE id IN ({});
             UPDATE sync_queue SET state = 'failed', attempts = 5, last_error = 'portal API 500' WHERE id IN ({});
             UPDATE sync_queue SET state = 'processing', attempts = 2, claimed_by = 'worker-lost',
                    lease_until = now() - interval '1 minute' WHERE id IN ({})",
            pick(15),
            pick(5),
            pick(5)
        ),
        "",
    )
    .await;
    let exporter = crate::ingest_support::start(&url, &[]);
    let listed = get(&exporter, Some(ADMIN_TOKEN), "/api/v1/events?stage=sync&limit=100").await;
    let states: Vec<&str> = listed.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["sync_failure"]["state"].as_str())
        .collect();
    assert!(states.contains(&"given_up") && states.contains(&"abandoned"), "{}", listed.text);

    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("schemathesis.toml");
    // Schema-aware authentication: unlike a fixed -H header, it lets schemathesis also send
    // requests without credentials and check that they are refused with 401. Past a documented
    // limit (maxItems of a batch) the answer is 413, a refusal as good as the default list's.
    // The ingestion routes take fewer examples (their bodies are opaque events), and the edge
    // runtime's skips the coverage phase: schemathesis 4.32.5 fails internally there on the
    // `{"events": [any]}` schema ("AST constructor recursion depth mismatch"); fuzzing covers it.
    std::fs::write(
        &config,
        "[auth.openapi.bearerAuth]\nbearer = \"${WHE_FUZZ_TOKEN}\"\n\
         [auth.openapi.ingestAuth]\nbearer = \"${WHE_FUZZ_INGEST_TOKEN}\"\n\
         [checks.negative_data_rejection]\n\
         expected-statuses = [\"400\", \"401\", \"403\", \"404\", \"405\", \"406\", \"409\", \"413\", \"415\", \"422\", \"428\", \"429\"]\n\
         [[operations]]\ninclude-tag = \"ingestion\"\ngeneration.max-examples = 60\n\
         [[operations]]\ninclude-path = \"/api/v1/lifecycle/edge-runtime\"\nphases.coverage.enabled = false\n",
    )
    .unwrap();
    let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/schemathesis_hooks.py");
    let examples = env_number("WHE_FUZZ_EXAMPLES", 150).to_string();
    let seed = env_number("WHE_FUZZ_SEED", 20240501).to_string();
    let out = Command::new(&bin)
        .args(["--config-file", config.to_str().unwrap(), "run", &exporter.url("/api/v1/openapi.json")])
        .args(["--checks", "all", "--max-examples", &examples, "--seed", &seed, "--workers", "2"])
        .args(["--request-timeout", "30"])
        .current_dir(work.path())
        .env("WHE_FUZZ_TOKEN", ADMIN_TOKEN)
        .env("WHE_FUZZ_INGEST_TOKEN", crate::ingest_support::INGEST_TOKEN)
        .env("SCHEMATHESIS_HOOKS", &hooks)
        .env("NO_COLOR", "1")
        .output()
        .expect("running schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Vec<&str> =
        stdout.lines().skip_while(|l| !l.starts_with("Test cases:")).take(2).map(str::trim).collect();
    eprintln!("schemathesis (max examples {examples}, seed {seed}): {}", summary.join(" "));
    assert!(out.status.success(), "schemathesis found failures:\n{stdout}\n{stderr}");
    let line = summary.get(1).copied().unwrap_or_default();
    let generated: u64 = line.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(generated >= 100, "schemathesis ran too few cases: {line:?}\n{stdout}");
    assert!(stdout.contains("Tested: 4"), "the two API and the two ingestion operations:\n{stdout}");

    // Whatever the fuzzer enqueued refers to a rejected or failed event or a given-up item, and
    // never to an event whose item was still open (the abandoned ones).
    let orphans: i64 = match &store {
        Store::Postgres(s) => sqlx::query(
            "SELECT count(*) FROM sync_queue q WHERE q.reprocess AND (NOT EXISTS
             (SELECT 1 FROM webhook_events e WHERE e.event_id = q.event_id AND e.outcome IN ('rejected', 'failed'))
              AND NOT EXISTS (SELECT 1 FROM sync_queue f WHERE f.event_id = q.event_id AND f.state = 'failed')
              OR EXISTS (SELECT 1 FROM sync_queue o WHERE o.event_id = q.event_id AND NOT o.reprocess
                         AND o.state = 'processing'))",
        )
        .fetch_one(s.pool())
        .await
        .unwrap()
        .get(0),
        Store::Sqlite(_) => unreachable!("the fuzz run uses PostgreSQL"),
    };
    assert_eq!(orphans, 0);
    let metrics = reqwest::get(exporter.url("/metrics")).await.unwrap().text().await.unwrap();
    assert_eq!(support::metric(&metrics, "webhook_reprocess_requests_total{result=\"error\"}"), Some(0.0));
    // The ingestion routes were reached with their own credential, and never failed.
    for source in ["edge_runtime", "log_drain"] {
        let batches = |result: &str| {
            support::metric(
                &metrics,
                &format!("webhook_lifecycle_batches_total{{source=\"{source}\",result=\"{result}\"}}"),
            )
        };
        assert!(batches("accepted").is_some_and(|n| n > 0.0), "{source}: no batch accepted\n{metrics}");
        assert_eq!(batches("error"), Some(0.0), "{source}");
    }
}
