//! PostgreSQL backend: the production log store (Supabase-style Postgres).
//!
//! Connections must heal by themselves on a flaky path: every statement of a read has a
//! client-side time limit (and the same server-side `statement_timeout`), and a connection is
//! reused only after a ping answers within a second. A connection whose query was cancelled, or
//! whose path went silent without a FIN or RST, is closed instead of holding a pool slot forever.

mod follow;
mod opening;
pub mod read;
pub mod reprocess;
pub mod snapshot;
pub mod sync;

use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use super::error::{timed, Result, StoreError};
use super::options::ConnectOptions;
use super::queue::SyncQueue;

/// How long a pooled connection may take to answer a ping before it is closed.
const PING_LIMIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    timeout: Duration,
    /// The sync queue its reads and the reprocessing API's writes use.
    queue: SyncQueue,
    /// The refresh's opening statements for that queue, made once.
    openings: std::sync::Arc<opening::Openings>,
    unaccounted_horizon: Duration,
}

type Check = dyn for<'c> Fn(
        &'c mut PgConnection,
        PoolConnectionMetadata,
    ) -> BoxFuture<'c, std::result::Result<bool, sqlx::Error>>
    + Send
    + Sync;

/// A connection is fit for use when it answers a ping promptly; otherwise the pool closes it.
fn answers_ping(limit: Duration) -> Box<Check> {
    Box::new(move |conn, _| {
        Box::pin(async move { Ok(matches!(tokio::time::timeout(limit, conn.ping()).await, Ok(Ok(())))) })
    })
}

impl PgStore {
    pub fn open_lazy(url: &str, opts: &ConnectOptions) -> Result<PgStore> {
        let mut connect =
            PgConnectOptions::from_str(url).map_err(StoreError::query("parsing the PostgreSQL URL"))?;
        if connect.get_application_name().is_none() {
            // So that DBAs can tell the exporter's sessions apart in pg_stat_activity.
            connect = connect.application_name(&opts.application_name);
        }
        let ping = PING_LIMIT.min(opts.timeout);
        let before = answers_ping(ping);
        let after = answers_ping(ping);
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            // Replaced by the bounded ping: sqlx's own waits without a limit.
            .test_before_acquire(false)
            .before_acquire(move |c, m| before(c, m))
            .after_release(move |c, m| after(c, m))
            .connect_lazy_with(connect);
        let openings = std::sync::Arc::new(opening::Openings::new(&opts.queue));
        Ok(PgStore {
            pool,
            timeout: opts.timeout,
            queue: opts.queue.clone(),
            openings,
            unaccounted_horizon: opts.unaccounted_horizon,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn queue(&self) -> &SyncQueue {
        &self.queue
    }

    pub fn unaccounted_horizon(&self) -> Duration {
        self.unaccounted_horizon
    }

    /// The limit of one statement.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    /// Folds the rows the insert triggers appended to `webhook_event_totals`,
    /// `sync_attempt_totals` and `edge_function_event_totals` into one per group. Sums are unchanged at every moment, for every
    /// reader: the rows go and their sum comes in one statement. Replicas may run it at the same
    /// time; each folds rows the other did not.
    pub async fn compact_event_totals(&self) -> Result<u64> {
        let mut folded = 0;
        for (op, sql) in [
            (
                "compacting webhook_event_totals",
                "WITH gone AS (DELETE FROM webhook_event_totals
                               RETURNING org_id, outcome, http_status, rejection_reason, count, last_received_at)
                 INSERT INTO webhook_event_totals
                        (org_id, outcome, http_status, rejection_reason, count, last_received_at)
                 SELECT org_id, outcome, http_status, rejection_reason, sum(count), max(last_received_at)
                 FROM gone GROUP BY org_id, outcome, http_status, rejection_reason",
            ),
            (
                "compacting sync_attempt_totals",
                "WITH gone AS (DELETE FROM sync_attempt_totals
                               RETURNING org_id, outcome, error_class, http_status, lag_le, count, lag_sum,
                                         last_finished_at)
                 INSERT INTO sync_attempt_totals
                        (org_id, outcome, error_class, http_status, lag_le, count, lag_sum, last_finished_at)
                 SELECT org_id, outcome, error_class, http_status, lag_le, sum(count), sum(lag_sum),
                        max(last_finished_at)
                 FROM gone GROUP BY org_id, outcome, error_class, http_status, lag_le",
            ),
            (
                "compacting edge_function_event_totals",
                "WITH gone AS (DELETE FROM edge_function_event_totals
                               RETURNING function_name, event_type, shutdown_reason, count)
                 INSERT INTO edge_function_event_totals (function_name, event_type, shutdown_reason, count)
                 SELECT function_name, event_type, shutdown_reason, sum(count)
                 FROM gone GROUP BY function_name, event_type, shutdown_reason",
            ),
        ] {
            let done = timed(self.timeout, op, sqlx::query(sql).execute(&self.pool)).await?;
            folded += done.rows_affected();
        }
        Ok(folded)
    }
}
