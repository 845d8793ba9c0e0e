//! The reference sync worker (`edge-function/sync-worker/`, issue #18) as a team runs it: its
//! Deno tests, the scenarios of `worker_pgtest.ts` included (workers as real subprocesses, one
//! killed with SIGKILL, a real HTTP server standing in for the portal), against a fresh database
//! migrated by the exporter, so the SQL functions of migration 0007 they call are the shipped ones.

use sqlx::Connection;

use crate::support::{self, deno};

/// A fresh, migrated database of its own, dropped when the guard goes, pass or fail.
struct Database {
    url: String,
    name: String,
}

impl Database {
    async fn create() -> Database {
        let (url, store) = support::fresh_postgres().await;
        drop(store);
        let name =
            url::Url::parse(&url).expect("the test database URL").path().trim_start_matches('/').to_string();
        Database { url, name }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (support::admin_url(), self.name.clone());
        // A runtime of its own: the test's may be the one unwinding.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin).await.map_err(|e| e.to_string())?;
                // FORCE: a worker the test could not stop may still hold a connection.
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "the drop thread panicked".to_string()) {
            eprintln!("sync_worker: could not drop test database {}: {e}", self.name);
        }
    }
}

const SCENARIOS: [&str; 5] = [
    "four workers side by side process every item exactly once",
    "a worker killed mid-item leaves an abandoned attempt; another worker finishes the item",
    "a portal outage retries with backoff, then gives up; invalid data gives up at once",
    "SIGTERM finishes the item in flight, hands the rest of the batch back, exits 0",
    "a team's portal call: a throw is internal, a hang past the deadline is timeout",
];

/// The worker on a pgmq queue (`SYNC_QUEUE=pgmq:<name>`): reads with a visibility timeout,
/// read_ct as the attempt, attempts logged through sync_record_attempt, messages archived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_worker_on_pgmq_against_real_postgres() {
    let db = Database::create().await;
    support::pgmq::install(&db.url, support::pgmq::QUEUE).await;
    let out = deno::command()
        .args([
            "test",
            "--frozen",
            "--allow-net=127.0.0.1",
            "--allow-env",
            "--allow-read",
            "sync-worker/pgmq_pgtest.ts",
        ])
        .env("SYNC_TEST_DATABASE_URL", &db.url)
        .output()
        .expect("running deno test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "deno test failed:\n{text}");
    assert!(text.contains("2 passed") && text.contains(" 0 failed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_worker_scenarios_against_real_postgres() {
    let db = Database::create().await;
    let out = deno::command()
        // worker_pgtest.ts is named: a bare `deno test` (edge_function.rs) leaves it out.
        .args([
            "test",
            "--frozen",
            "--allow-net=127.0.0.1",
            "--allow-env",
            "--allow-run",
            "--allow-read",
            "sync-worker/",
            "sync-worker/worker_pgtest.ts",
        ])
        .env("SYNC_TEST_DATABASE_URL", &db.url)
        .output()
        .expect("running deno test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "deno test failed:\n{text}");
    for file in
        ["sync-worker/worker_pgtest.ts", "sync-worker/http_portal_test.ts", "sync-worker/modules_test.ts"]
    {
        assert!(text.contains(file), "deno test did not run {file}:\n{text}");
    }
    for scenario in SCENARIOS {
        assert!(text.contains(&format!("{scenario} ... ok")), "scenario did not pass: {scenario}\n{text}");
    }
    assert!(text.contains(" 0 failed"), "{text}");
}

/// index.ts runs under `deno run` (no type check there): checked here.
#[test]
fn sync_worker_entry_point_type_checks() {
    let out = deno::command()
        .args(["check", "--frozen", "sync-worker/index.ts"])
        .output()
        .expect("running deno check");
    assert!(
        out.status.success(),
        "deno check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
