//! Every HTTP route of the exporter against the hostile-bytes generator of the Edge Function's
//! property (`edge-function/hostile/exporter_fuzz.ts`, fast-check, seeded): the API, lifecycle
//! ingestion, telemetry, probes and the admin page never answer 5xx, a refused request writes
//! nothing to the log store, and two `Authorization` headers are refused on the authenticated
//! routes. `WHE_HOSTILE_RUNS` (default 1000) and `WHE_HOSTILE_SEED` (default 20261202) set the run.

use crate::api_support::{seed, token_flags, ADMIN_TOKEN};
use crate::ingest_support::{ingest_flags, INGEST_TOKEN};
use crate::support::{self, deno, Exporter};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_fails_or_writes_on_hostile_bytes() {
    let runs = std::env::var("WHE_HOSTILE_RUNS").unwrap_or_else(|_| "1000".into());
    let seed_value = std::env::var("WHE_HOSTILE_SEED").unwrap_or_else(|_| "20261202".into());
    let (url, store) = support::fresh_postgres().await;
    seed(&store).await;
    let mut flags = token_flags();
    flags.extend(ingest_flags());
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let dir = tempfile::tempdir().unwrap();
    // Its refusals log at warn: to a file, not the terminal.
    let exporter = Exporter::start_logging(&url, &refs, "warn", &dir.path().join("exporter.log"));
    let port = exporter.addr.port().to_string();
    let env = [
        ("EXPORTER_PORT", port.as_str()),
        ("WHE_DATABASE_URL", &url),
        ("API_TOKEN", ADMIN_TOKEN),
        ("INGEST_TOKEN", INGEST_TOKEN),
        ("HOSTILE_RUNS", &runs),
        ("HOSTILE_SEED", &seed_value),
    ];
    let summary = deno::run_property("hostile/exporter_fuzz.ts", &env, "hostile requests to the exporter: ");
    assert!(summary.contains(&format!(": {runs} requests, seed {seed_value}:")), "{summary}");
    // Accepted and refused answers both: the generator reached past the credential check.
    for status in ["200 ", "400 ", "401 "] {
        assert!(summary.contains(status), "no {status}answer: {summary}");
    }
}
