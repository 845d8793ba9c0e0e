//! The sync service's families over all organizations: attempts by outcome, error class and
//! portal status, and the end-to-end lag histogram.

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::families::counters;
use crate::snapshot::SyncStats;

pub(super) fn encode(e: &mut DescriptorEncoder, s: &SyncStats) -> Result<(), std::fmt::Error> {
    counters(
        e,
        "webhook_sync_attempts",
        "Processing attempts the portal sync service logged, over all organizations, by outcome, error class and the portal's HTTP status code.",
        s.attempts.iter().map(|(outcome, class, code, n)| {
            ([("outcome", *outcome), ("error_class", *class), ("code", &**code)], *n)
        }),
    )?;
    let mut lag = e.encode_descriptor(
        "webhook_sync_lag_seconds",
        "Time from a payload's arrival to its successful sync to the portal, over all organizations.",
        None,
        MetricType::Histogram,
    )?;
    lag.encode_histogram::<NoLabelSet>(s.lag.sum, s.lag.count, &s.lag.buckets, None)
}
