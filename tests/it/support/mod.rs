//! Shared test harness: real PostgreSQL and SQLite stores, the real exporter binary.
//!
//! PostgreSQL comes from `WHE_TEST_DATABASE_URL` (an admin URL; `scripts/test.sh` sets it, starting
//! a throwaway cluster when none is reachable) or, without it, the local server on
//! 127.0.0.1:5432. A missing server fails the test with instructions; it never skips. Every
//! PostgreSQL test runs on a busy cluster (`busy`): open write transactions in another database.

pub mod alertmanager;
pub mod browser;
pub mod busy;
pub mod cleanup;
pub mod cluster;
pub mod dashboard;
pub mod deno;
pub mod endpoint;
pub mod in_process;
pub mod pgmq;
pub mod prometheus;
pub mod promql;
pub mod proxy;
pub mod server;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use webhook_health_exporter::store::{ConnectOptions, Store};

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn admin_url() -> String {
    std::env::var("WHE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// A fresh, migrated PostgreSQL database of its own; returns its URL and the store.
pub async fn fresh_postgres() -> (String, Store) {
    let url = empty_postgres().await;
    let store = Store::open_and_migrate(&url, &ConnectOptions::default()).await.expect("migrating");
    (url, store)
}

/// A fresh PostgreSQL database of its own, not migrated (dropped when the test binary exits);
/// returns its URL.
pub async fn empty_postgres() -> String {
    let admin = admin_url();
    busy::keep_cluster_busy(&admin);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is needed for this test and {admin} is unreachable ({e}).\n\
                 Run the README's test command (scripts/test.sh), which starts a throwaway cluster, \
                 or set WHE_TEST_DATABASE_URL to an admin URL of a PostgreSQL 13+ server."
            )
        });
    let name = format!("whe_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.expect("creating a test database");
    cleanup::drop_at_exit(&admin, &name);
    pool.close().await;
    let mut url = url::Url::parse(&admin).expect("WHE_TEST_DATABASE_URL is not a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A fresh, migrated SQLite store in a temporary folder (kept alive by the returned guard).
pub async fn fresh_sqlite() -> (String, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/store.db", dir.path().display());
    let store = Store::open_and_migrate(&url, &ConnectOptions::default()).await.expect("migrating");
    (url, store, dir)
}

/// Runs one async test body against both backends. `main.rs` declares `#[macro_use] mod support;`
/// first, so every test module can use it; `$crate` is the test binary, whose root holds `support`.
macro_rules! on_both_backends {
    ($(#[$meta:meta])* $name:ident, $body:path) => {
        mod $name {
            backend_tests!($body);
        }
    };
}

/// The two test functions of [`on_both_backends`], shared with [`on_every_queue`].
macro_rules! backend_tests {
    ($body:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            let (url, store) = $crate::support::fresh_postgres().await;
            $body(url, store).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            let (url, store, _dir) = $crate::support::fresh_sqlite().await;
            $body(url, store).await;
        }
    };
}

/// Runs one async test body on every sync queue: the `sync_queue` table on both backends and a
/// pgmq queue on PostgreSQL (the body reads `store.queue()` where its ground truth differs).
macro_rules! on_every_queue {
    ($(#[$meta:meta])* $name:ident, $body:path) => {
        mod $name {
            backend_tests!($body);
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pgmq() {
                let (url, store) = $crate::support::pgmq::fresh_pgmq().await;
                $body(url, store).await;
            }
        }
    };
}

/// The real exporter binary, started as a child process; killed on drop.
pub struct Exporter {
    pub addr: SocketAddr,
    child: Child,
}

impl Exporter {
    /// Starts `webhook-health-exporter serve` with extra flags on a free port and waits until it
    /// answers `/healthz`.
    pub fn start(database_url: &str, extra: &[&str]) -> Exporter {
        Exporter::start_with(free_address(), database_url, extra, "warn", Stdio::inherit())
    }

    /// Like `start`, on a given address (to restart an exporter where Prometheus scrapes it).
    pub fn start_on(addr: SocketAddr, database_url: &str, extra: &[&str]) -> Exporter {
        Exporter::start_with(addr, database_url, extra, "warn", Stdio::inherit())
    }

    /// Like `start`, with the log (at `level`) written to `log` instead of the test's stderr.
    pub fn start_logging(database_url: &str, extra: &[&str], level: &str, log: &std::path::Path) -> Exporter {
        let file = std::fs::File::create(log).expect("creating the exporter log file");
        Exporter::start_with(free_address(), database_url, extra, level, Stdio::from(file))
    }

    fn start_with(
        addr: SocketAddr,
        database_url: &str,
        extra: &[&str],
        level: &str,
        stderr: Stdio,
    ) -> Exporter {
        let mut args: Vec<String> =
            ["serve", "--database-url", database_url, "--web.listen-address", &addr.to_string()]
                .map(String::from)
                .to_vec();
        args.extend(extra.iter().map(|a| a.to_string()));
        Exporter::start_exactly(addr, &args, level, stderr)
    }

    /// Starts the binary with exactly `args` (which make it listen on `addr`), logging at `level`
    /// to `stderr`, and waits until it listens.
    pub fn start_exactly(addr: SocketAddr, args: &[String], level: &str, stderr: Stdio) -> Exporter {
        let child = Command::new(env!("CARGO_BIN_EXE_webhook-health-exporter"))
            .args(args)
            .env("WHE_LOG", level)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("starting the exporter binary");
        let mut exporter = Exporter { addr, child };
        exporter.wait_healthy();
        exporter
    }

    /// GET of the telemetry path, as Prometheus text 0.0.4.
    pub async fn scrape(&self) -> String {
        let response = reqwest::get(self.url("/metrics")).await.expect("scraping the exporter");
        assert!(response.status().is_success(), "/metrics answered {}", response.status());
        response.text().await.expect("reading /metrics")
    }

    /// Scrapes until `check` accepts the page and returns it; after 15s, panics naming `what`
    /// with the last page.
    pub async fn scrape_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.scrape_within(Duration::from_secs(15), Duration::MAX, what, check).await.0
    }

    /// Scrapes every 100 ms until `check` accepts the page; returns it and how long that took.
    /// Panics naming `what` after `limit`, or when one scrape takes `max_scrape` or longer.
    pub async fn scrape_within(
        &self,
        limit: Duration,
        max_scrape: Duration,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) -> (String, Duration) {
        let started = Instant::now();
        loop {
            let scrape_started = Instant::now();
            let text = self.scrape().await;
            let took = scrape_started.elapsed();
            assert!(took < max_scrape, "a scrape took {took:?}");
            if check(&text) {
                return (text, started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "the exporter never showed {what} within {limit:?}; last page:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("polling the exporter") {
                panic!("the exporter exited early with {status}");
            }
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the exporter did not listen on {} within 20s", self.addr);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends SIGTERM and waits for a graceful exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                panic!("the exporter did not exit within 10s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Parses Prometheus text into (series, value) pairs, e.g. `("webhook_store_up", 1.0)`.
pub fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of one exact series (name with labels in the order the exporter writes them).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    parse_metrics(text).into_iter().find(|(s, _)| s == series).map(|(_, v)| v)
}

/// Runs SQL (no parameters) on either backend.
pub async fn execute(store: &Store, sql: &str) -> u64 {
    let done = match store {
        Store::Postgres(s) => sqlx::query(sql).execute(s.pool()).await.map(|r| r.rows_affected()),
        Store::Sqlite(s) => sqlx::query(sql).execute(s.pool()).await.map(|r| r.rows_affected()),
    };
    done.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `(key, count)` rows of a query with one time parameter, bound as each backend stores times.
pub async fn counts_since(
    store: &Store,
    sql: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, i64)> {
    use webhook_health_exporter::store::sqlite_timestamp;
    match store {
        Store::Postgres(s) => sqlx::query_as(sql).bind(since).fetch_all(s.pool()).await,
        Store::Sqlite(s) => sqlx::query_as(sql).bind(sqlite_timestamp(since)).fetch_all(s.pool()).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The sum of every `webhook_payloads_received_total` series of a page.
pub fn received_total(page: &str) -> f64 {
    parse_metrics(page)
        .into_iter()
        .filter(|(s, _)| s.starts_with("webhook_payloads_received_total{"))
        .map(|(_, v)| v)
        .sum()
}

/// A payload rejected for a wrong auth key, as the Edge Function would log it.
pub fn rejected_event(
    org_id: &str,
    received_at: chrono::DateTime<chrono::Utc>,
) -> webhook_health_exporter::store::NewEvent {
    webhook_health_exporter::store::NewEvent {
        event_id: uuid::Uuid::new_v4(),
        org_id: org_id.into(),
        received_at,
        outcome: "rejected",
        http_status: 401,
        rejection_reason: Some("invalid_auth".into()),
        error_detail: None,
        entity_name: None,
        message_name: None,
        payload: None,
    }
}

/// `n` payloads of `org_id` accepted a minute ago and queued, as the Edge Function writes them:
/// waiting items whatever the simulated sync service did with the rest.
pub async fn queue_accepted(store: &Store, org_id: &str, n: usize) -> Vec<uuid::Uuid> {
    receive_accepted(store, org_id, n, chrono::Utc::now() - chrono::Duration::minutes(1), true).await
}

/// `n` payloads of `org_id` accepted at `at`, with their queue items when `queued` (without: an
/// accepted event that never reached the queue).
pub async fn receive_accepted(
    store: &Store,
    org_id: &str,
    n: usize,
    at: chrono::DateTime<chrono::Utc>,
    queued: bool,
) -> Vec<uuid::Uuid> {
    use webhook_health_exporter::store::{NewEvent, NewQueueItem};
    let events: Vec<NewEvent> = (0..n)
        .map(|_| NewEvent {
            event_id: uuid::Uuid::new_v4(),
            org_id: org_id.into(),
            received_at: at,
            outcome: "accepted",
            http_status: 202,
            rejection_reason: None,
            error_detail: None,
            entity_name: Some("contact".into()),
            message_name: Some("Update".into()),
            payload: None,
        })
        .collect();
    store.insert_events(&events).await.expect("writing accepted events");
    if queued {
        let items: Vec<NewQueueItem> = events
            .iter()
            .map(|e| NewQueueItem { org_id: org_id.into(), event_id: e.event_id, enqueued_at: at })
            .collect();
        store.enqueue(&items).await.expect("queueing them");
    }
    events.iter().map(|e| e.event_id).collect()
}
