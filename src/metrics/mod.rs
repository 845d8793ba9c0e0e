//! Encodes a [`Snapshot`] in the Prometheus exposition formats.
//!
//! prometheus-client writes OpenMetrics; Prometheus text 0.0.4 is derived from it for clients
//! that do not ask for OpenMetrics (the crate does no content negotiation itself). The
//! per-organization families, nearly all of the output, are kept between scrapes (`orgs`).

mod families;
mod format;
mod orgs;
mod process;
mod sync;
mod text004;

use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use crate::snapshot::Snapshot;
use families::{bool_gauge, counters, gauges, info, seconds, NO_LABELS};
pub use format::{Format, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};

/// Encodes snapshots, keeping each organization's text while its figures stand (see `orgs`).
#[derive(Debug, Default)]
pub struct Encoder {
    orgs: Mutex<orgs::OrgCache>,
}

impl Encoder {
    /// Renders the snapshot: the exporter's own families through prometheus-client, then the
    /// per-organization ones from the cache.
    pub fn encode(&self, snapshot: &Snapshot, format: Format) -> String {
        let mut registry = Registry::default();
        registry
            .register_collector(Box::new(SnapshotCollector { snapshot: Arc::new(snapshot.clone_rest()) }));
        let mut om = String::with_capacity(16 * 1024);
        text::encode_registry(&mut om, &registry).expect("writing to a String cannot fail");
        let mut out = match format {
            Format::OpenMetrics => om,
            Format::Text004 => text004::from_openmetrics(&om),
        };
        out.reserve(snapshot.orgs.len() * 1024);
        self.orgs.lock().unwrap().write(&mut out, &snapshot.orgs, &snapshot.queues, format);
        if format == Format::OpenMetrics {
            text::encode_eof(&mut out).expect("writing to a String cannot fail");
        }
        out
    }
}

#[derive(Debug)]
struct SnapshotCollector {
    snapshot: Arc<Snapshot>,
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_rest(&mut enc, &self.snapshot)
    }
}

fn encode_rest(e: &mut DescriptorEncoder, s: &Snapshot) -> Result<(), std::fmt::Error> {
    counters(
        e,
        "webhook_payloads_rejected",
        "Payloads the webhook endpoint rejected, over all organizations, by reason and HTTP status code.",
        s.rejected_totals.iter().map(|(r, code, n)| ([("reason", r.as_str()), ("code", code.as_str())], *n)),
    )?;
    counters(
        e,
        "webhook_payloads_failed",
        "Payloads accepted but failed in processing, over all organizations, by HTTP status code.",
        s.failed_totals.iter().map(|(code, n)| ([("code", code.as_str())], *n)),
    )?;
    gauges(
        e,
        "webhook_infrastructure_up",
        "1 when the component is healthy, 0 when unreachable or error-exited.",
        s.components.iter().map(|c| ([("component", c.component.as_str())], bool_gauge(c.up))),
    )?;
    gauges(
        e,
        "webhook_last_healthy_timestamp_seconds",
        "Last moment the component was seen healthy (persisted in the log store).",
        s.components
            .iter()
            .filter_map(|c| c.last_healthy.map(|t| ([("component", c.component.as_str())], seconds(t)))),
    )?;
    let probes = || s.components.iter().filter_map(|c| c.probe.as_ref().map(|p| (c.component.as_str(), p)));
    gauges(
        e,
        "webhook_probe_success",
        "1 when the last probe of the endpoint succeeded.",
        probes().map(|(c, p)| ([("component", c)], bool_gauge(p.success))),
    )?;
    gauges(
        e,
        "webhook_probe_duration_seconds",
        "Duration of the last probe of the endpoint.",
        probes().map(|(c, p)| ([("component", c)], p.duration_seconds)),
    )?;
    gauges(
        e,
        "webhook_probe_status_code",
        "HTTP status of the last probe (0 on a connection error or timeout).",
        probes().map(|(c, p)| ([("component", c)], u32::from(p.status_code))),
    )?;
    counters(
        e,
        "webhook_edge_function_exits",
        "Edge Function exits by reason; error=\"true\" for error exits.",
        s.edge_exits
            .iter()
            .map(|x| ([("reason", x.reason), ("error", if x.error { "true" } else { "false" })], x.count)),
    )?;

    sync::encode(e, &s.sync)?;

    counters(
        e,
        "webhook_reprocess_requests",
        "Requests to the reprocessing API (POST /api/v1/reprocess), by result.",
        s.reprocess.requests.iter().map(|(result, n)| ([("result", *result)], *n)),
    )?;
    counters(
        e,
        "webhook_reprocess_events_enqueued",
        "Events re-enqueued for the portal sync service through the reprocessing API.",
        s.reprocess.enqueued_by_org.iter().map(|(org, n)| ([("org", org.as_str())], *n)),
    )?;
    counters(
        e,
        "webhook_api_refused_requests",
        "API and ingestion requests refused for their credential before any work: 401 (unauthorized) or 403 (forbidden), by route.",
        s.reprocess.refused.iter().map(|(route, reason, n)| ([("route", route.as_str()), ("reason", *reason)], *n)),
    )?;
    counters(
        e,
        "webhook_lifecycle_events_received",
        "Edge Function lifecycle events received by the ingestion endpoints, by source and result.",
        s.lifecycle.events.iter().map(|(source, result, n)| ([("source", *source), ("result", *result)], *n)),
    )?;
    counters(
        e,
        "webhook_lifecycle_batches",
        "Authenticated batches posted to the ingestion endpoints, by source and result.",
        s.lifecycle
            .batches
            .iter()
            .map(|(source, result, n)| ([("source", *source), ("result", *result)], *n)),
    )?;

    gauges(
        e,
        "webhook_store_up",
        "1 when the last read of the log store succeeded.",
        [(NO_LABELS, bool_gauge(s.store_up))],
    )?;
    info(
        e,
        "webhook_exporter_build",
        "Build and store backend of the exporter.",
        [[
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", env!("WHE_REVISION")),
            ("rustversion", env!("WHE_RUSTC_VERSION")),
            ("backend", s.backend),
        ]],
    )?;
    if let Some(p) = &s.process {
        process::encode(e, p)?;
    }
    let x = &s.exporter;
    gauges(
        e,
        "webhook_exporter_collect_duration_seconds",
        "Duration of the last collection from the log store.",
        [(NO_LABELS, x.collect_duration_seconds)],
    )?;
    gauges(
        e,
        "webhook_exporter_last_collect_success_timestamp_seconds",
        "End of the last successful collection.",
        x.last_success.map(|t| (NO_LABELS, seconds(t))),
    )?;
    gauges(
        e,
        "webhook_exporter_read_held_back_seconds",
        "Age of the oldest open transaction that has written to the log tables: its rows are read when it commits (0 when none).",
        [(NO_LABELS, x.read_held_back_seconds)],
    )?;
    counters(
        e,
        "webhook_exporter_scrape_deadline_exceeded",
        "Scrapes that stopped waiting for the log store read at the deadline and got last-known values.",
        [(NO_LABELS, s.failures.scrape_deadline_exceeded)],
    )?;
    counters(
        e,
        "webhook_exporter_store_errors",
        "Log store failures outside the collector's reads, by path (logged; retried or answered with a 5xx).",
        s.failures.store_errors.iter().map(|(path, n)| ([("path", *path)], *n)),
    )?;
    counters(
        e,
        "webhook_exporter_collect_errors",
        "Collections that failed or outlived the scrape deadline.",
        [(NO_LABELS, x.collect_errors_total)],
    )?;
    counters(
        e,
        "webhook_exporter_window_rebuilds",
        "Times the window gauges were read anew because rows inside a window were deleted.",
        [(NO_LABELS, x.window_rebuilds_total)],
    )?;
    counters(
        e,
        "webhook_exporter_rows_read",
        "Log-store rows read incrementally.",
        [
            ([("table", "webhook_events")], x.event_rows_read_total),
            ([("table", "edge_function_events")], x.lifecycle_rows_read_total),
            ([("table", "sync_attempts")], x.attempt_rows_read_total),
        ],
    )?;
    Ok(())
}
