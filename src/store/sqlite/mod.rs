//! SQLite backend: the embedded default for demos and single-machine use.

pub mod read;
pub mod reprocess;
pub mod sync;
pub mod text;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::error::{Result, StoreError};
use super::options::ConnectOptions;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    timeout: Duration,
    unaccounted_horizon: Duration,
}

impl SqliteStore {
    pub fn open_lazy(url: &str, opts: &ConnectOptions) -> Result<SqliteStore> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::query("parsing the SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(connect);
        Ok(SqliteStore { pool, timeout: opts.timeout, unaccounted_horizon: opts.unaccounted_horizon })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The limit of one statement.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn unaccounted_horizon(&self) -> Duration {
        self.unaccounted_horizon
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }
}
