//! Supabase Queues (pgmq) in the test databases: pgmq's SQL from the `pgmq` crate on crates.io
//! (`scripts/fetch-pgmq-sql.sh`, run by `scripts/install-test-deps.sh`, and here when its file
//! is missing), installed into a test's own database without the server extension, and a store
//! whose sync queue is a pgmq queue.

use std::path::PathBuf;
use std::sync::OnceLock;

use webhook_health_exporter::store::{Backend, ConnectOptions, Store, SyncQueue};

/// The queue the pgmq tests use.
pub const QUEUE: &str = "portal_sync";

/// pgmq's SQL, fetched once per test binary when missing.
fn sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let path = std::env::var("WHE_PGMQ_SQL").map(PathBuf::from).unwrap_or_else(|_| {
            let home = std::env::var("HOME").expect("HOME");
            PathBuf::from(home).join(".cache/whe-pgmq/pgmq-0.33.1.sql")
        });
        if !path.exists() {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch-pgmq-sql.sh");
            let status = std::process::Command::new(script).env("WHE_PGMQ_SQL", &path).status();
            assert!(
                matches!(status, Ok(s) if s.success()),
                "pgmq's SQL is needed for this test and {script} could not fetch it ({status:?}): \
                 run scripts/install-test-deps.sh with access to crates.io, or set WHE_PGMQ_SQL"
            );
        }
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    })
}

/// Installs pgmq into the database at `url` and creates queue `name`.
pub async fn install(url: &str, name: &str) {
    let pool = sqlx::PgPool::connect(url).await.expect("connecting to install pgmq");
    sqlx::raw_sql(sql()).execute(&pool).await.expect("installing pgmq's SQL");
    sqlx::query("SELECT pgmq.create($1)").bind(name).execute(&pool).await.expect("creating the pgmq queue");
    pool.close().await;
}

/// A fresh, migrated PostgreSQL database with pgmq installed and its store reading queue [`QUEUE`].
pub async fn fresh_pgmq() -> (String, Store) {
    let url = super::empty_postgres().await;
    install(&url, QUEUE).await;
    let opts = ConnectOptions { queue: SyncQueue::Pgmq(QUEUE.into()), ..ConnectOptions::default() };
    let store = Store::open_and_migrate(&url, &opts).await.expect("migrating");
    (url, store)
}

/// The exporter's flags that select `store`'s queue.
pub fn flags(store: &Store) -> Vec<String> {
    match store.queue() {
        SyncQueue::Table => vec![],
        SyncQueue::Pgmq(name) => vec!["--sync-queue".into(), format!("pgmq:{name}")],
    }
}

/// Ends every open item, as a sync service that synced them all: the table's become `done`,
/// pgmq's messages are archived.
pub async fn finish_all(store: &Store) {
    let sql = match store.queue() {
        SyncQueue::Table => {
            "UPDATE sync_queue SET state = 'done' WHERE state IN ('pending', 'processing')".to_string()
        }
        SyncQueue::Pgmq(name) => format!("SELECT pgmq.archive('{name}', msg_id) FROM pgmq.q_{name}"),
    };
    super::execute(store, &sql).await;
}

/// The queue's open items, one row each, written out per implementation as the ground truth of
/// the queue figures: `org_id`, `event_id` (text), `enqueued_at`, `reprocess`, `held` (a worker
/// holds it: in flight) and `expired` (held past its lease or visibility timeout).
pub fn open_items_sql(backend: Backend, queue: &SyncQueue) -> String {
    match (backend, queue) {
        (Backend::Sqlite, _) => format!(
            "SELECT org_id, event_id, enqueued_at, reprocess, state = 'processing' AS held,
                    state = 'processing' AND lease_until < '{}' AS expired
             FROM sync_queue WHERE state IN ('pending', 'processing')",
            webhook_health_exporter::store::sqlite_timestamp(chrono::Utc::now())
        ),
        (_, SyncQueue::Table) => "SELECT org_id, CAST(event_id AS text) AS event_id, enqueued_at, reprocess,
                    state = 'processing' AS held, state = 'processing' AND lease_until < now() AS expired
             FROM sync_queue WHERE state IN ('pending', 'processing')"
            .into(),
        // Read and not finished: attempt number read_ct is not logged yet.
        (_, SyncQueue::Pgmq(name)) => format!(
            "SELECT message->>'org_id' AS org_id, message->>'event_id' AS event_id, enqueued_at,
                    coalesce(message->'reprocess' = 'true'::jsonb, false) AS reprocess, held,
                    held AND vt < now() AS expired
             FROM (SELECT m.*, m.read_ct > 0 AND NOT EXISTS (SELECT 1 FROM sync_attempts a
                       WHERE a.queue = 'pgmq:{name}' AND a.item_id = m.msg_id AND a.attempt = m.read_ct) AS held
                   FROM pgmq.q_{name} m) AS m"
        ),
    }
}
