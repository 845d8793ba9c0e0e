//! The exporter's own process, under the names every Prometheus client library uses.

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

use super::families::{family, gauges, NO_LABELS};

/// The `process_*` families every Prometheus client library writes, same names and units.
pub(super) fn encode(
    e: &mut DescriptorEncoder,
    p: &crate::process::ProcessStats,
) -> Result<(), std::fmt::Error> {
    family(
        e,
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        MetricType::Counter,
        [(NO_LABELS, ConstCounter::new(p.cpu_seconds_total))],
    )?;
    gauges(
        e,
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        [(NO_LABELS, p.resident_memory_bytes as f64)],
    )?;
    gauges(
        e,
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        [(NO_LABELS, p.virtual_memory_bytes as f64)],
    )?;
    gauges(e, "process_open_fds", "Number of open file descriptors.", [(NO_LABELS, p.open_fds as f64)])?;
    gauges(
        e,
        "process_max_fds",
        "Maximum number of open file descriptors.",
        p.max_fds.map(|m| (NO_LABELS, m as f64)),
    )?;
    gauges(
        e,
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        [(NO_LABELS, p.start_time_seconds)],
    )
}
