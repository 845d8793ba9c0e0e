//! The log store: the one module that speaks SQL.
//!
//! Two backends share one contract (see `docs/log-store.md`): PostgreSQL for production and SQLite
//! as the embedded default; the sync queue is the `sync_queue` table or a pgmq queue (`queue/`).
//! Everything above this module sees plain rows and cursors. This file only declares the rooms
//! and re-exports what the rest of the crate uses: no room imports from it.

/// Runs the same code on either backend's store; defined before the submodules so that they
/// can use it too.
macro_rules! dispatch {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            Store::Postgres($s) => $body,
            Store::Sqlite($s) => $body,
        }
    };
}

mod bind;
mod error;
mod handle;
pub mod history;
mod ingest;
mod options;
mod postgres;
pub mod queue;
mod read;
pub mod reprocess;
mod sql;
mod sqlite;
pub mod sync;
pub mod types;
mod work;
mod writer;

pub use error::{Result, StoreError};
pub use handle::{redact_url, Store};
pub use options::{Backend, ConnectOptions};
pub use queue::SyncQueue;
pub use read::ReadTx;
pub use sqlite::text::ts as sqlite_timestamp;
pub use types::*;
