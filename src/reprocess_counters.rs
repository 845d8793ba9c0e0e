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

/// Why the API refused a caller before any handler ran: the `reason` label of
/// `webhook_api_refused_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unauthorized,
    Forbidden,
}

impl Refusal {
    pub const ALL: [Refusal; 2] = [Refusal::Unauthorized, Refusal::Forbidden];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unauthorized => "unauthorized",
            Refusal::Forbidden => "forbidden",
        }
    }
}

impl From<Refusal> for RequestResult {
    fn from(refusal: Refusal) -> RequestResult {
        match refusal {
            Refusal::Unauthorized => RequestResult::Unauthorized,
            Refusal::Forbidden => RequestResult::Forbidden,
        }
    }
}

#[derive(Debug, Default)]
struct Tally {
    requests: [u64; RequestResult::ALL.len()],
    enqueued_by_org: BTreeMap<String, u64>,
    /// Keyed by route pattern, which the router bounds.
    refused: BTreeMap<String, [u64; Refusal::ALL.len()]>,
}

#[derive(Debug, Default)]
pub struct ReprocessCounters {
    inner: Mutex<Tally>,
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

    /// Exports a route's refusals as zeros until the first one, so that `rate()` and `increase()`
    /// see that first one.
    pub fn declare_route(&self, route: &str) {
        self.inner.lock().unwrap().refused.entry(route.to_string()).or_default();
    }

    /// `route` is the matched route pattern (`/api/v1/events`), never the request path.
    pub fn record_refusal(&self, route: &str, refusal: Refusal) {
        self.inner.lock().unwrap().refused.entry(route.to_string()).or_default()[refusal as usize] += 1;
    }

    pub fn stats(&self) -> ReprocessStats {
        let inner = self.inner.lock().unwrap();
        ReprocessStats {
            requests: RequestResult::ALL.iter().map(|r| (r.as_str(), inner.requests[*r as usize])).collect(),
            enqueued_by_org: inner.enqueued_by_org.iter().map(|(o, n)| (o.clone(), *n)).collect(),
            refused: inner
                .refused
                .iter()
                .flat_map(|(route, n)| {
                    Refusal::ALL.iter().map(|r| (route.clone(), r.as_str(), n[*r as usize]))
                })
                .collect(),
        }
    }
}
