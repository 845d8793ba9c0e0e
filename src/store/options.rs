//! How a store is opened: pool limits, statement limits, and which sync queue it reads.

use std::time::Duration;

use super::queue::SyncQueue;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    /// How long to wait for a connection before a read counts as failed.
    pub acquire_timeout: Duration,
    /// How long one statement may take, on the client and (PostgreSQL) on the server.
    pub timeout: Duration,
    /// PostgreSQL `application_name`, unless the URL sets one.
    pub application_name: String,
    /// The sync queue (`--sync-queue`): the `sync_queue` table, or a pgmq queue (PostgreSQL).
    pub queue: SyncQueue,
    /// How far back the reprocessing API finds accepted events unaccounted for: the collector's
    /// longest window, the horizon of `webhook_sync_window_events_unaccounted`.
    pub unaccounted_horizon: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            application_name: "webhook-health-exporter".into(),
            queue: SyncQueue::Table,
            unaccounted_horizon: Duration::from_secs(24 * 3600),
        }
    }
}
