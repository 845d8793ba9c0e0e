//! What the reprocessing API has done, counted in memory for `/metrics`. The API writes here and
//! the collector copies it into each snapshot; neither module knows the other.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::snapshot::ReprocessStats;

/// How a POST /api/v1/reprocess ended: the `result` label of `webhook_reprocess_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestResult {
    /// Completed: its eligible events are enqueued (possibly none).
    Enqueued,
    DryRun,
    /// A repeated Idempotency-Key answered with the stored response.
    Replayed,
    /// Refused for its content or a limit (4xx after authorization).
    Rejected,
    Unauthorized,
    Forbidden,
    /// The log store failed; nothing was written.
    Error,
}

impl RequestResult {
    pub const ALL: [RequestResult; 7] = [
        RequestResult::Enqueued,
        RequestResult::DryRun,
        RequestResult::Replayed,
        RequestResult::Rejected,
        RequestResult::Unauthorized,
        RequestResult::Forbidden,
        RequestResult::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestResult::Enqueued => "enqueued",
            RequestResult::DryRun => "dry_run",
            RequestResult::Replayed => "replayed",
            RequestResult::Rejected => "rejected",
            RequestResult::Unauthorized => "unauthorized",
            RequestResult::Forbidden => "forbidden",
            RequestResult::Error => "error",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    requests: [u64; RequestResult::ALL.len()],
    enqueued_by_org: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
pub struct ReprocessCounters {
    inner: Mutex<Counts>,
}

impl ReprocessCounters {
    pub fn record_request(&self, result: RequestResult) {
        self.inner.lock().unwrap().requests[result as usize] += 1;
    }

    /// `by_org` is keyed by org label (configured orgs, or `_unknown`), so the label set is bounded.
    pub fn record_enqueued(&self, by_org: &BTreeMap<String, u64>) {
        let mut inner = self.inner.lock().unwrap();
        for (org, n) in by_org {
            *inner.enqueued_by_org.entry(org.clone()).or_default() += n;
        }
    }

    pub fn stats(&self) -> ReprocessStats {
        let inner = self.inner.lock().unwrap();
        ReprocessStats {
            requests: RequestResult::ALL.iter().map(|r| (r.as_str(), inner.requests[*r as usize])).collect(),
            enqueued_by_org: inner.enqueued_by_org.iter().map(|(o, n)| (o.clone(), *n)).collect(),
        }
    }
}
