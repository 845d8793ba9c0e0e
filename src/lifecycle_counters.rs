//! What the lifecycle ingestion endpoints (`src/ingest`) have done, counted in memory for
//! `/metrics`. Ingestion writes here and the collector copies it into each snapshot; neither
//! module knows the other.

use std::sync::Mutex;

use crate::snapshot::LifecycleStats;

/// Where ingested lifecycle events come from: the `source` label, and the `source` column of
/// `edge_function_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A self-hosted edge runtime's event worker (`POST /api/v1/lifecycle/edge-runtime`).
    EdgeRuntime,
    /// A Supabase log drain (`POST /api/v1/lifecycle/log-drain`).
    LogDrain,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::EdgeRuntime, Source::LogDrain];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::EdgeRuntime => "edge_runtime",
            Source::LogDrain => "log_drain",
        }
    }
}

/// What became of one received event: the `result` label of
/// `webhook_lifecycle_events_received_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventResult {
    Inserted,
    /// Its source delivered it before (a retried batch), or the batch repeats it.
    Duplicate,
    /// Not a lifecycle event (a log line, an edge log, an unknown type or shape).
    Ignored,
}

impl EventResult {
    pub const ALL: [EventResult; 3] = [EventResult::Inserted, EventResult::Duplicate, EventResult::Ignored];

    pub fn as_str(self) -> &'static str {
        match self {
            EventResult::Inserted => "inserted",
            EventResult::Duplicate => "duplicate",
            EventResult::Ignored => "ignored",
        }
    }
}

/// How an authenticated batch ended: the `result` label of `webhook_lifecycle_batches_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchResult {
    /// 200: written (or ignored) event by event.
    Accepted,
    /// 400 or 415: not JSON, not the documented shape, or an unsupported encoding.
    Invalid,
    /// 413: over a size or count limit.
    TooLarge,
    /// 503: the log store failed; nothing was written and the sender may retry.
    Error,
}

impl BatchResult {
    pub const ALL: [BatchResult; 4] =
        [BatchResult::Accepted, BatchResult::Invalid, BatchResult::TooLarge, BatchResult::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            BatchResult::Accepted => "accepted",
            BatchResult::Invalid => "invalid",
            BatchResult::TooLarge => "too_large",
            BatchResult::Error => "error",
        }
    }
}

#[derive(Debug, Default)]
struct Tally {
    enabled: bool,
    events: [[u64; EventResult::ALL.len()]; Source::ALL.len()],
    batches: [[u64; BatchResult::ALL.len()]; Source::ALL.len()],
}

#[derive(Debug, Default)]
pub struct LifecycleCounters {
    inner: Mutex<Tally>,
}

impl LifecycleCounters {
    /// Ingestion is on: every series is exported from now on, zeros included.
    pub fn enable(&self) {
        self.inner.lock().unwrap().enabled = true;
    }

    pub fn record_events(&self, source: Source, result: EventResult, n: u64) {
        self.inner.lock().unwrap().events[source as usize][result as usize] += n;
    }

    pub fn record_batch(&self, source: Source, result: BatchResult) {
        self.inner.lock().unwrap().batches[source as usize][result as usize] += 1;
    }

    /// Empty while ingestion is disabled.
    pub fn stats(&self) -> LifecycleStats {
        let t = self.inner.lock().unwrap();
        if !t.enabled {
            return LifecycleStats::default();
        }
        let mut stats = LifecycleStats::default();
        for s in Source::ALL {
            for r in EventResult::ALL {
                stats.events.push((s.as_str(), r.as_str(), t.events[s as usize][r as usize]));
            }
            for r in BatchResult::ALL {
                stats.batches.push((s.as_str(), r.as_str(), t.batches[s as usize][r as usize]));
            }
        }
        stats
    }
}
