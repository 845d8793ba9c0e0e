//! The log store's errors, and the client-side limit every statement runs under. A leaf module:
//! every room of the store imports it, it imports none of them.

use std::future::Future;
use std::time::Duration;

/// Errors from the log store, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL scheme in {0:?}: expected postgres://, postgresql:// or sqlite://")]
    UnsupportedUrl(String),
    #[error("log store {op} failed: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("applying log-store migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("log store {op} did not answer within {after:?}")]
    Timeout { op: &'static str, after: Duration },
    #[error("invalid value for {field}: {detail}")]
    Invalid { field: &'static str, detail: String },
}

impl StoreError {
    pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { op, source }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Runs one store operation with a client-side time limit: a path that goes silent without
/// closing the connection must fail the operation, not hang it.
pub(crate) async fn timed<T>(
    limit: Duration,
    op: &'static str,
    operation: impl Future<Output = std::result::Result<T, sqlx::Error>>,
) -> Result<T> {
    match tokio::time::timeout(limit, operation).await {
        Ok(result) => result.map_err(StoreError::query(op)),
        Err(_) => Err(StoreError::Timeout { op, after: limit }),
    }
}

/// A failed statement of a reprocess request (the listing, the selection, the audit, the queue).
pub(crate) fn reprocessing(e: sqlx::Error) -> StoreError {
    StoreError::Query { op: "reprocessing", source: e }
}
