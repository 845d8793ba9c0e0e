//! The reference Edge Function against hostile requests (issue #20): the property of
//! `edge-function/hostile/function_property.ts` (fast-check, seeded) run under Deno against a fresh
//! PostgreSQL database: one `webhook_events` row per POST that reaches the function whatever its
//! bytes (NUL and control characters, lone surrogates, invalid UTF-8, odd and long header values,
//! in the path, query, headers and body), the documented status for the reason, the body kept as
//! received where one is kept, and nothing else written.
//!
//! `WHE_HOSTILE_RUNS` (default 1000) and `WHE_HOSTILE_SEED` (default 20261202) set the run; a
//! failure prints fast-check's seed, path and shrunk counterexample to replay it.

use webhook_health_exporter::store::Store;

use crate::support::{self, deno};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_row_per_post_whatever_its_bytes() {
    let runs = std::env::var("WHE_HOSTILE_RUNS").unwrap_or_else(|_| "1000".into());
    let seed = std::env::var("WHE_HOSTILE_SEED").unwrap_or_else(|_| "20261202".into());
    let (url, store) = support::fresh_postgres().await;
    let Store::Postgres(pg) = &store else { unreachable!() };
    sqlx::query(
        "INSERT INTO organizations (org_id, display_name, endpoint_url, active) VALUES
           ('contoso', 'Contoso', 'https://p.supabase.co/functions/v1/dynamics-webhook/contoso', true),
           ('retired', 'Retired', 'https://p.supabase.co/functions/v1/dynamics-webhook/retired', false)",
    )
    .execute(pg.pool())
    .await
    .unwrap();
    let summary = deno::run_property(
        "hostile/function_property.ts",
        &[("WEBHOOK_DATABASE_URL", &url), ("HOSTILE_RUNS", &runs), ("HOSTILE_SEED", &seed)],
        "hostile requests to the function: ",
    );
    assert!(summary.contains(&format!(": {runs} requests, seed {seed}:")), "{summary}");
    // Every class of answer was exercised, so the property did not pass by generating one kind.
    for class in [
        "accepted",
        "missing_auth",
        "invalid_auth",
        "unknown_organization",
        "payload_too_large",
        "invalid_payload",
        "unsupported_event",
        "405 without a row",
        "refused by the HTTP parser",
    ] {
        assert!(summary.contains(&format!("{class} ")), "no {class} request was generated: {summary}");
    }
}
