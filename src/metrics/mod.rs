//! Encodes a [`Snapshot`] in the Prometheus exposition formats.
//!
//! prometheus-client writes OpenMetrics; Prometheus text 0.0.4 is derived from it for clients
//! that do not ask for OpenMetrics (the crate does no content negotiation itself).

mod text004;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::domain::RejectionReason;
use crate::snapshot::Snapshot;

pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition format a scraper asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    /// Picks OpenMetrics when the `Accept` header names it, text 0.0.4 otherwise.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text004,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Text004 => TEXT_CONTENT_TYPE,
        }
    }
}

/// Exposition bytes per organization, measured with the default windows (bench/).
const BYTES_PER_ORG: usize = 3 * 1024;

/// Renders the snapshot.
pub fn encode(snapshot: Snapshot, format: Format) -> String {
    // A thousand organizations make ~3 MB: sized up front, the buffer is not regrown (and the
    // text copied) a dozen times per scrape.
    let capacity = 64 * 1024 + snapshot.orgs.len() * BYTES_PER_ORG;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut out = String::with_capacity(capacity);
    prometheus_client::encoding::text::encode(&mut out, &registry).expect("writing to a String cannot fail");
    match format {
        Format::OpenMetrics => out,
        Format::Text004 => text004::from_openmetrics(&out),
    }
}

#[derive(Debug)]
struct SnapshotCollector(Snapshot);

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// Writes one metric family: a descriptor, then one sample per label set.
fn family<'a, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    samples: impl IntoIterator<Item = (Labels<'a>, M)>,
) -> Result<(), std::fmt::Error> {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in samples {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauges<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels<'a>, f64)>,
) -> Result<(), std::fmt::Error> {
    family(encoder, name, help, MetricType::Gauge, samples.into_iter().map(|(l, v)| (l, ConstGauge::new(v))))
}

/// `name` without `_total`: the encoder appends it.
fn counters<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels<'a>, u64)>,
) -> Result<(), std::fmt::Error> {
    family(
        encoder,
        name,
        help,
        MetricType::Counter,
        samples.into_iter().map(|(l, v)| (l, ConstCounter::new(v))),
    )
}

/// `name` without `_info`: the encoder appends it.
fn info<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = Labels<'a>>,
) -> Result<(), std::fmt::Error> {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Info)?;
    for labels in samples {
        metric.encode_info(&labels)?;
    }
    Ok(())
}

fn seconds(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_micros() as f64 / 1e6
}

fn bool_gauge(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let orgs = &s.orgs;
        let e = &mut enc;

        info(
            e,
            "webhook_endpoint",
            "The active webhook endpoint URL each organization's portal targets.",
            orgs.iter().filter_map(|o| {
                o.endpoint.as_ref().map(|ep| vec![("org", o.org.as_str()), ("url", ep.url.as_str())])
            }),
        )?;
        gauges(
            e,
            "webhook_endpoint_url_changed_timestamp_seconds",
            "When the organization's active endpoint URL last changed.",
            orgs.iter().filter_map(|o| {
                o.endpoint.as_ref().map(|ep| (vec![("org", o.org.as_str())], seconds(ep.changed_at)))
            }),
        )?;
        counters(
            e,
            "webhook_payloads_received",
            "Payloads that reached the webhook endpoint.",
            orgs.iter().map(|o| (vec![("org", o.org.as_str())], o.received_total)),
        )?;
        counters(
            e,
            "webhook_payloads_rejected",
            "Payloads the webhook endpoint rejected, by reason and HTTP status code.",
            orgs.iter().flat_map(|o| {
                o.rejected_total.iter().map(|(r, code, n)| {
                    (vec![("org", o.org.as_str()), ("reason", r.as_str()), ("code", code.as_str())], *n)
                })
            }),
        )?;
        counters(
            e,
            "webhook_payloads_failed",
            "Payloads accepted but failed in processing, by HTTP status code.",
            orgs.iter().flat_map(|o| {
                o.failed_total
                    .iter()
                    .map(|(code, n)| (vec![("org", o.org.as_str()), ("code", code.as_str())], *n))
            }),
        )?;
        gauges(
            e,
            "webhook_window_payloads_received",
            "Payloads received in the last `window`, exact at scrape time.",
            orgs.iter().flat_map(|o| {
                o.windows.iter().map(|w| {
                    (vec![("org", o.org.as_str()), ("window", w.window.as_str())], w.received as f64)
                })
            }),
        )?;
        gauges(
            e,
            "webhook_window_payloads_rejected",
            "Payloads rejected in the last `window`, by reason, exact at scrape time.",
            orgs.iter().flat_map(|o| {
                o.windows.iter().flat_map(move |w| {
                    RejectionReason::ALL.iter().map(move |r| {
                        (
                            vec![
                                ("org", o.org.as_str()),
                                ("window", w.window.as_str()),
                                ("reason", r.as_str()),
                            ],
                            w.rejected_by_reason[r.index()] as f64,
                        )
                    })
                })
            }),
        )?;
        gauges(
            e,
            "webhook_window_payloads_rejected_by_code",
            "Payloads rejected in the last `window`, by HTTP status code, exact at scrape time.",
            orgs.iter().flat_map(|o| {
                o.windows.iter().flat_map(move |w| {
                    w.rejected_by_code.iter().map(move |(code, n)| {
                        (
                            vec![
                                ("org", o.org.as_str()),
                                ("window", w.window.as_str()),
                                ("code", code.as_str()),
                            ],
                            *n as f64,
                        )
                    })
                })
            }),
        )?;
        gauges(
            e,
            "webhook_window_payloads_failed",
            "Payloads failed in processing in the last `window`, exact at scrape time.",
            orgs.iter().flat_map(|o| {
                o.windows
                    .iter()
                    .map(|w| (vec![("org", o.org.as_str()), ("window", w.window.as_str())], w.failed as f64))
            }),
        )?;
        gauges(
            e,
            "webhook_last_received_timestamp_seconds",
            "Time of the last payload received for the organization.",
            orgs.iter().filter_map(|o| o.last_received.map(|t| (vec![("org", o.org.as_str())], seconds(t)))),
        )?;
        gauges(
            e,
            "webhook_queue_depth",
            "Sync-queue items waiting (state pending).",
            orgs.iter().map(|o| (vec![("org", o.org.as_str())], o.queue_depth as f64)),
        )?;
        gauges(
            e,
            "webhook_queue_reprocess_depth",
            "Waiting sync-queue items that carry the reprocessing flag.",
            orgs.iter().map(|o| (vec![("org", o.org.as_str())], o.queue_reprocess_depth as f64)),
        )?;
        gauges(
            e,
            "webhook_queue_oldest_age_seconds",
            "Age of the oldest waiting sync-queue item (0 when none).",
            orgs.iter().map(|o| (vec![("org", o.org.as_str())], o.queue_oldest_age_seconds)),
        )?;

        gauges(
            e,
            "webhook_infrastructure_up",
            "1 when the component is healthy, 0 when unreachable or error-exited.",
            s.components.iter().map(|c| (vec![("component", c.component.as_str())], bool_gauge(c.up))),
        )?;
        gauges(
            e,
            "webhook_last_healthy_timestamp_seconds",
            "Last moment the component was seen healthy (persisted in the log store).",
            s.components.iter().filter_map(|c| {
                c.last_healthy.map(|t| (vec![("component", c.component.as_str())], seconds(t)))
            }),
        )?;
        let probes =
            || s.components.iter().filter_map(|c| c.probe.as_ref().map(|p| (c.component.as_str(), p)));
        gauges(
            e,
            "webhook_probe_success",
            "1 when the last probe of the endpoint succeeded.",
            probes().map(|(c, p)| (vec![("component", c)], bool_gauge(p.success))),
        )?;
        gauges(
            e,
            "webhook_probe_duration_seconds",
            "Duration of the last probe of the endpoint.",
            probes().map(|(c, p)| (vec![("component", c)], p.duration_seconds)),
        )?;
        gauges(
            e,
            "webhook_probe_status_code",
            "HTTP status of the last probe (0 on a connection error or timeout).",
            probes().map(|(c, p)| (vec![("component", c)], f64::from(p.status_code))),
        )?;
        counters(
            e,
            "webhook_edge_function_exits",
            "Edge Function exits by reason; error=\"true\" for error exits.",
            s.edge_exits.iter().map(|x| {
                (vec![("reason", x.reason), ("error", if x.error { "true" } else { "false" })], x.count)
            }),
        )?;

        counters(
            e,
            "webhook_reprocess_requests",
            "Requests to the reprocessing API (POST /api/v1/reprocess), by result.",
            s.reprocess.requests.iter().map(|(result, n)| (vec![("result", *result)], *n)),
        )?;
        counters(
            e,
            "webhook_reprocess_events_enqueued",
            "Events re-enqueued for the portal sync service through the reprocessing API.",
            s.reprocess.enqueued_by_org.iter().map(|(org, n)| (vec![("org", org.as_str())], *n)),
        )?;

        gauges(
            e,
            "webhook_store_up",
            "1 when the last read of the log store succeeded.",
            [(vec![], bool_gauge(s.store_up))],
        )?;
        info(
            e,
            "webhook_exporter_build",
            "Build and store backend of the exporter.",
            [vec![("version", env!("CARGO_PKG_VERSION")), ("backend", s.backend)]],
        )?;
        let x = &s.exporter;
        gauges(
            e,
            "webhook_exporter_collect_duration_seconds",
            "Duration of the last collection from the log store.",
            [(vec![], x.collect_duration_seconds)],
        )?;
        gauges(
            e,
            "webhook_exporter_last_collect_success_timestamp_seconds",
            "End of the last successful collection.",
            x.last_success.map(|t| (vec![], seconds(t))),
        )?;
        counters(
            e,
            "webhook_exporter_collect_errors",
            "Collections that failed or outlived the scrape deadline.",
            [(vec![], x.collect_errors_total)],
        )?;
        counters(
            e,
            "webhook_exporter_rows_read",
            "Log-store rows read incrementally.",
            [
                (vec![("table", "webhook_events")], x.event_rows_read_total),
                (vec![("table", "edge_function_events")], x.lifecycle_rows_read_total),
            ],
        )?;
        Ok(())
    }
}
