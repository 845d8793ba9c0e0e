//! A busy, shared cluster, as a production Supabase database is: while a test binary runs, one
//! write transaction stays open in another database of the same cluster for the whole run, and
//! short write transactions (0-2 s each) commit there all the time. Every PostgreSQL test runs
//! under it (see `fresh_postgres`), so no test can pass only on a quiet cluster.

use std::sync::OnceLock;
use std::time::Duration;

use rand::Rng;
use sqlx::postgres::PgPoolOptions;
use sqlx::Connection;

static BUSY: OnceLock<String> = OnceLock::new();

/// Starts the background load once per test binary; returns the busy database's name.
pub fn keep_cluster_busy(admin_url: &str) -> &'static str {
    BUSY.get_or_init(|| {
        let admin = admin_url.to_string();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        // Its own thread and runtime: each test has a runtime of its own that ends with the test.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(run(admin, ready_tx));
        });
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the busy-cluster fixture did not start within 30s")
    })
}

async fn run(admin: String, ready: std::sync::mpsc::Sender<String>) {
    let name = format!("whe_test_busy_{}", uuid::Uuid::new_v4().simple());
    let pool = PgPoolOptions::new().max_connections(1).connect(&admin).await.expect("busy fixture: admin");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.expect("busy fixture: database");
    super::cleanup::drop_at_exit(&admin, &name);
    pool.close().await;
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    let mut setup = sqlx::PgConnection::connect(url.as_str()).await.expect("busy fixture: connect");
    sqlx::query("CREATE TABLE noise (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())")
        .execute(&mut setup)
        .await
        .unwrap();
    // Held open (and never committed) while the binary runs: the cluster-wide snapshot xmin stays
    // behind it, which is what froze the exporter's reads before.
    let mut held = sqlx::PgConnection::connect(url.as_str()).await.expect("busy fixture: connect");
    sqlx::query("BEGIN").execute(&mut held).await.unwrap();
    sqlx::query("INSERT INTO noise DEFAULT VALUES").execute(&mut held).await.unwrap();
    ready.send(name).unwrap();
    loop {
        let hold = Duration::from_millis(rand::thread_rng().gen_range(0..2000));
        let churn = async {
            let mut tx = setup.begin().await?;
            sqlx::query("INSERT INTO noise DEFAULT VALUES").execute(&mut *tx).await?;
            tokio::time::sleep(hold).await;
            tx.commit().await
        };
        if churn.await.is_err() {
            // The server restarted under a test of its own; keep the load going on a new session.
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Ok(c) = sqlx::PgConnection::connect(url.as_str()).await {
                setup = c;
            }
        }
        // Keeps `held` alive (and its transaction open) for the life of the loop.
        let _ = &held;
    }
}
