//! Failures the exporter survives, logged and counted for `/metrics` in one place each: a scrape
//! that stopped waiting for the store, and the log store failing on a path other than the
//! collector's reads (those are `webhook_exporter_collect_errors_total`). Each kind has one
//! function here that both logs and counts, as `access::refusal::refuse` does for refused
//! callers, so that no call site can do one without the other. The collector copies the counts
//! into each snapshot; every series is exported from the start, at 0.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::snapshot::FailureStats;

/// Where the log store failed: the `path` label of `webhook_exporter_store_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorePath {
    /// Writing (or loading) the components' last-healthy times; retried on the next round.
    HealthPersist,
    /// Folding the event-totals rollup; retried later.
    CompactTotals,
    /// The reprocess transaction of POST /api/v1/reprocess (answered 500, nothing enqueued).
    Reprocess,
    /// The audit row of a refused, failed or replayed reprocess request.
    ReprocessAudit,
    /// GET /api/v1/events: error events and their sync failures (answered 500).
    EventsList,
    /// Writing ingested lifecycle events (answered 503, the sender sends the batch again).
    Ingest,
}

impl StorePath {
    pub const ALL: [StorePath; 6] = [
        StorePath::HealthPersist,
        StorePath::CompactTotals,
        StorePath::Reprocess,
        StorePath::ReprocessAudit,
        StorePath::EventsList,
        StorePath::Ingest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StorePath::HealthPersist => "health_persist",
            StorePath::CompactTotals => "compact_totals",
            StorePath::Reprocess => "reprocess",
            StorePath::ReprocessAudit => "reprocess_audit",
            StorePath::EventsList => "events_list",
            StorePath::Ingest => "ingest",
        }
    }

    /// What failed, for the log line.
    fn doing(self) -> &'static str {
        match self {
            StorePath::HealthPersist => "persisting last-healthy times failed; retrying",
            StorePath::CompactTotals => "compacting event totals failed; retrying later",
            StorePath::Reprocess => "reprocess transaction failed; nothing was enqueued",
            StorePath::ReprocessAudit => "writing the audit row failed",
            StorePath::EventsList => "listing error events failed",
            StorePath::Ingest => "writing ingested lifecycle events failed; nothing was written",
        }
    }
}

#[derive(Debug, Default)]
pub struct FailureCounters {
    scrape_deadline_exceeded: AtomicU64,
    store_errors: [AtomicU64; StorePath::ALL.len()],
}

impl FailureCounters {
    /// A scrape stopped waiting for the store read at `deadline` and got the last-known values.
    pub fn scrape_deadline_exceeded(&self, deadline: Duration) {
        tracing::warn!(?deadline, "log store read outlived the scrape deadline; serving last-known values");
        self.scrape_deadline_exceeded.fetch_add(1, Ordering::Relaxed);
    }

    /// The log store failed on `path`; `about` names what the failure concerned (a request id,
    /// an ingestion source), or is empty.
    pub fn store_error(&self, path: StorePath, error: &dyn Display, about: &str) {
        let label = path.as_str();
        match path {
            // Retried in the background: the exporter carries on.
            StorePath::HealthPersist | StorePath::CompactTotals => {
                tracing::warn!(path = label, %error, about, "{}", path.doing())
            }
            // A caller was answered with a server error.
            _ => tracing::error!(path = label, %error, about, "{}", path.doing()),
        }
        self.store_errors[path as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> FailureStats {
        FailureStats {
            scrape_deadline_exceeded: self.scrape_deadline_exceeded.load(Ordering::Relaxed),
            store_errors: StorePath::ALL
                .iter()
                .map(|p| (p.as_str(), self.store_errors[*p as usize].load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_exported_from_the_start_and_counted_apart() {
        let counters = FailureCounters::default();
        let stats = counters.stats();
        assert_eq!(stats.scrape_deadline_exceeded, 0);
        assert_eq!(stats.store_errors.len(), StorePath::ALL.len());
        assert!(stats.store_errors.iter().all(|(_, n)| *n == 0));
        counters.store_error(StorePath::Ingest, &"down", "log_drain");
        counters.store_error(StorePath::Ingest, &"down", "");
        counters.scrape_deadline_exceeded(Duration::from_secs(5));
        let stats = counters.stats();
        assert_eq!(stats.scrape_deadline_exceeded, 1);
        for (path, n) in stats.store_errors {
            assert_eq!(n, if path == "ingest" { 2 } else { 0 }, "{path}");
        }
    }
}
