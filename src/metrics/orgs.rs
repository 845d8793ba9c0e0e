//! The per-organization families: nearly all of the output (a thousand organizations make some
//! 15,000 series). Each organization's sample lines are kept with the figures they were written
//! from and written again only when the collector hands over new figures (a new `Arc`), so a
//! scrape's work follows what changed, not the number of organizations.
//!
//! Sample lines are the same in OpenMetrics and text 0.0.4; only the family headers differ, and
//! those come from prometheus-client, once.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{text, DescriptorEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::families::seconds;
use super::format::Format;
use crate::snapshot::{OrgSnapshot, QueueSnapshot};

/// (name as registered, help, type); a counter's samples add `_total`, an info's `_info`.
type Descriptor = (&'static str, &'static str, MetricType);

/// Families written from [`OrgSnapshot`]s (cached per org), in output order.
const TRAFFIC: [Descriptor; 12] = [
    ("webhook_endpoint", "The active webhook endpoint URL each organization's portal targets.", MetricType::Info),
    (
        "webhook_endpoint_url_changed_timestamp_seconds",
        "When the organization's active endpoint URL last changed.",
        MetricType::Gauge,
    ),
    ("webhook_payloads_received", "Payloads that reached the webhook endpoint.", MetricType::Counter),
    (
        "webhook_window_payloads_received",
        "Payloads received in the last `window`, exact at scrape time.",
        MetricType::Gauge,
    ),
    (
        "webhook_window_payloads_rejected",
        "Payloads rejected in the last `window`, exact at scrape time.",
        MetricType::Gauge,
    ),
    (
        "webhook_window_payloads_rejected_by_reason",
        "Payloads rejected in the last `window` by reason and HTTP status code; only pairs that occurred in it.",
        MetricType::Gauge,
    ),
    (
        "webhook_window_payloads_failed",
        "Payloads failed in processing in the last `window`, exact at scrape time; only when above 0.",
        MetricType::Gauge,
    ),
    (
        "webhook_last_received_timestamp_seconds",
        "Time of the last payload received for the organization.",
        MetricType::Gauge,
    ),
    (
        "webhook_sync_window_items_synced",
        "Queue items the portal sync service applied to the portal in the last `window`, exact at scrape time.",
        MetricType::Gauge,
    ),
    (
        "webhook_sync_window_items_given_up",
        "Queue items the portal sync service gave up on in the last `window`; only when above 0.",
        MetricType::Gauge,
    ),
    (
        "webhook_sync_window_events_unaccounted",
        "Accepted payloads of the last `window` neither synced, nor waiting or in flight, nor given up; only when above 0.",
        MetricType::Gauge,
    ),
    (
        "webhook_sync_last_success_timestamp_seconds",
        "Time of the organization's last successful sync to the portal.",
        MetricType::Gauge,
    ),
];

/// Families written from [`QueueSnapshot`]s at every scrape (the oldest item ages by the second).
const QUEUE: [Descriptor; 5] = [
    (
        "webhook_queue_depth",
        "Sync-queue items waiting (state pending); only while the organization has some.",
        MetricType::Gauge,
    ),
    (
        "webhook_queue_reprocess_depth",
        "Waiting sync-queue items that carry the reprocessing flag; only when above 0.",
        MetricType::Gauge,
    ),
    (
        "webhook_queue_oldest_age_seconds",
        "Age of the oldest waiting sync-queue item; only while the organization has some.",
        MetricType::Gauge,
    ),
    (
        "webhook_queue_in_flight",
        "Sync-queue items a worker holds (state processing); only when above 0.",
        MetricType::Gauge,
    ),
    (
        "webhook_queue_lease_expired",
        "In-flight sync-queue items whose lease ran out (their worker vanished); only when above 0.",
        MetricType::Gauge,
    ),
];

/// One organization's sample lines, family after family: family `f` is `text[ends[f-1]..ends[f]]`.
/// Without figures, nothing is written yet.
#[derive(Debug, Default)]
struct Block {
    figures: Option<Arc<OrgSnapshot>>,
    text: String,
    ends: [usize; TRAFFIC.len()],
}

impl Block {
    /// Whether it was written from these very figures.
    fn shows(&self, figures: &Arc<OrgSnapshot>) -> bool {
        self.figures.as_ref().is_some_and(|f| Arc::ptr_eq(f, figures))
    }

    fn family(&self, f: usize) -> &str {
        let start = if f == 0 { 0 } else { self.ends[f - 1] };
        &self.text[start..self.ends[f]]
    }
}

/// The blocks of the organizations of the last scrape.
#[derive(Debug, Default)]
pub(super) struct OrgCache {
    /// One per organization, in the order of the last scrape's: found by position, as the set of
    /// organizations seldom changes (looking ten thousand of them up by name was a tenth of a
    /// scrape's encoding).
    blocks: Vec<Block>,
    /// Each family's samples over all orgs, kept for their capacity.
    families: [String; TRAFFIC.len()],
}

impl OrgCache {
    /// Appends every per-organization family to `out`.
    pub(super) fn write(
        &mut self,
        out: &mut String,
        orgs: &[Arc<OrgSnapshot>],
        queues: &[QueueSnapshot],
        format: Format,
    ) {
        self.align(orgs);
        rewrite_stale(&mut self.blocks, orgs);
        // Org by org, each block read once from start to end into the family it belongs to: a
        // family-by-family pass over a thousand blocks touched each of them twelve times.
        for family in &mut self.families {
            family.clear();
        }
        for b in &self.blocks {
            for (f, family) in self.families.iter_mut().enumerate() {
                family.push_str(b.family(f));
            }
        }
        let headers = headers(format);
        for (header, family) in headers.traffic.iter().zip(&self.families) {
            if !family.is_empty() {
                out.push_str(header);
                out.push_str(family);
            }
        }
        write_queues(out, queues, &headers.queue);
    }

    /// Puts the blocks in the order of `orgs` (a block per org; an org's block by its name when
    /// the organizations changed).
    fn align(&mut self, orgs: &[Arc<OrgSnapshot>]) {
        let aligned = self.blocks.len() == orgs.len()
            && self.blocks.iter().zip(orgs).all(|(b, o)| {
                b.figures.as_ref().is_some_and(|f| Arc::ptr_eq(&f.org, &o.org) || f.org == o.org)
            });
        if aligned {
            return;
        }
        let mut old: HashMap<Arc<str>, Block> =
            self.blocks.drain(..).filter_map(|b| Some((Arc::clone(&b.figures.as_ref()?.org), b))).collect();
        self.blocks = orgs.iter().map(|o| old.remove(&*o.org).unwrap_or_default()).collect();
    }
}

/// Writes again, in place and into its old buffer (no allocation per org), the block of each org
/// whose figures moved (`blocks` aligned with `orgs`): on two threads when there are many (a busy
/// scrape has most of a thousand), which halves the time on the two cores the exporter is sized for.
fn rewrite_stale(blocks: &mut [Block], orgs: &[Arc<OrgSnapshot>]) {
    const TWO_THREADS_FROM: usize = 64;
    fn rewrite(blocks: &mut [Block], orgs: &[Arc<OrgSnapshot>]) {
        for (b, o) in blocks.iter_mut().zip(orgs) {
            if !b.shows(o) {
                *b = block(o, std::mem::take(&mut b.text));
            }
        }
    }
    if blocks.iter().zip(orgs).filter(|(b, o)| !b.shows(o)).count() < TWO_THREADS_FROM {
        return rewrite(blocks, orgs);
    }
    let (first, second) = blocks.split_at_mut(blocks.len() / 2);
    let (first_orgs, second_orgs) = orgs.split_at(first.len());
    std::thread::scope(|s| {
        s.spawn(|| rewrite(first, first_orgs));
        rewrite(second, second_orgs);
    });
}

/// An org's block, written into `text` (a buffer to reuse: cleared first).
fn block(o: &Arc<OrgSnapshot>, mut text: String) -> Block {
    text.clear();
    text.reserve(1024);
    let mut ends = [0; TRAFFIC.len()];
    let org = &*o.org;
    let mut end = |text: &String, f: usize| ends[f] = text.len();
    if let Some(ep) = &o.endpoint {
        sample(&mut text, "webhook_endpoint_info", &[("org", org), ("url", ep.url.as_str())], Value::Int(1));
    }
    end(&text, 0);
    if let Some(ep) = &o.endpoint {
        let t = seconds(ep.changed_at);
        sample(&mut text, "webhook_endpoint_url_changed_timestamp_seconds", &[("org", org)], Value::Float(t));
    }
    end(&text, 1);
    sample(&mut text, "webhook_payloads_received_total", &[("org", org)], Value::Int(o.received_total));
    end(&text, 2);
    for w in &o.windows {
        let labels = [("org", org), ("window", &*w.window)];
        sample(&mut text, "webhook_window_payloads_received", &labels, Value::Int(w.received));
    }
    end(&text, 3);
    for w in &o.windows {
        let labels = [("org", org), ("window", &*w.window)];
        sample(&mut text, "webhook_window_payloads_rejected", &labels, Value::Int(w.rejected));
    }
    end(&text, 4);
    for w in &o.windows {
        for (reason, code, n) in &w.rejected_by_reason {
            let labels =
                [("org", org), ("window", &*w.window), ("reason", reason.as_str()), ("code", &**code)];
            sample(&mut text, "webhook_window_payloads_rejected_by_reason", &labels, Value::Int(*n));
        }
    }
    end(&text, 5);
    for w in o.windows.iter().filter(|w| w.failed > 0) {
        let labels = [("org", org), ("window", &*w.window)];
        sample(&mut text, "webhook_window_payloads_failed", &labels, Value::Int(w.failed));
    }
    end(&text, 6);
    if let Some(t) = o.last_received {
        sample(
            &mut text,
            "webhook_last_received_timestamp_seconds",
            &[("org", org)],
            Value::Float(seconds(t)),
        );
    }
    end(&text, 7);
    for w in &o.windows {
        let labels = [("org", org), ("window", &*w.window)];
        sample(&mut text, "webhook_sync_window_items_synced", &labels, Value::Int(w.synced));
    }
    end(&text, 8);
    for w in o.windows.iter().filter(|w| w.given_up > 0) {
        let labels = [("org", org), ("window", &*w.window)];
        sample(&mut text, "webhook_sync_window_items_given_up", &labels, Value::Int(w.given_up));
    }
    end(&text, 9);
    for w in o.windows.iter().filter(|w| w.unaccounted > 0) {
        let labels = [("org", org), ("window", &*w.window)];
        sample(&mut text, "webhook_sync_window_events_unaccounted", &labels, Value::Int(w.unaccounted));
    }
    end(&text, 10);
    if let Some(t) = o.last_synced {
        let t = Value::Float(seconds(t));
        sample(&mut text, "webhook_sync_last_success_timestamp_seconds", &[("org", org)], t);
    }
    end(&text, 11);
    Block { figures: Some(Arc::clone(o)), text, ends }
}

fn write_queues(out: &mut String, queues: &[QueueSnapshot], headers: &[String; QUEUE.len()]) {
    if queues.is_empty() {
        return;
    }
    out.push_str(&headers[0]);
    for q in queues.iter().filter(|q| q.depth > 0) {
        sample(out, "webhook_queue_depth", &[("org", q.org.as_str())], Value::Int(q.depth));
    }
    out.push_str(&headers[1]);
    for q in queues.iter().filter(|q| q.reprocess_depth > 0) {
        sample(
            out,
            "webhook_queue_reprocess_depth",
            &[("org", q.org.as_str())],
            Value::Int(q.reprocess_depth),
        );
    }
    out.push_str(&headers[2]);
    for q in queues {
        if let Some(age) = q.oldest_age_seconds {
            sample(out, "webhook_queue_oldest_age_seconds", &[("org", q.org.as_str())], Value::Float(age));
        }
    }
    out.push_str(&headers[3]);
    for q in queues.iter().filter(|q| q.in_flight > 0) {
        sample(out, "webhook_queue_in_flight", &[("org", q.org.as_str())], Value::Int(q.in_flight));
    }
    out.push_str(&headers[4]);
    for q in queues.iter().filter(|q| q.lease_expired > 0) {
        sample(out, "webhook_queue_lease_expired", &[("org", q.org.as_str())], Value::Int(q.lease_expired));
    }
}

enum Value {
    Int(u64),
    Float(f64),
}

/// One sample line, written as prometheus-client writes it (same escaping, itoa/dtoa numbers).
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: Value) {
    out.push_str(name);
    out.push('{');
    for (i, (key, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push_str("=\"");
        push_escaped(out, v);
        out.push('"');
    }
    out.push_str("} ");
    match value {
        Value::Int(n) => out.push_str(itoa::Buffer::new().format(n)),
        Value::Float(x) => out.push_str(dtoa::Buffer::new().format(x)),
    }
    out.push('\n');
}

/// Label-value escaping of both exposition formats: backslash, double quote, line feed.
fn push_escaped(out: &mut String, v: &str) {
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Family headers (HELP, TYPE, UNIT) in one format.
struct Headers {
    traffic: [String; TRAFFIC.len()],
    queue: [String; QUEUE.len()],
}

fn headers(format: Format) -> &'static Headers {
    static OPENMETRICS: OnceLock<Headers> = OnceLock::new();
    static TEXT004: OnceLock<Headers> = OnceLock::new();
    let cell = match format {
        Format::OpenMetrics => &OPENMETRICS,
        Format::Text004 => &TEXT004,
    };
    cell.get_or_init(|| Headers {
        traffic: TRAFFIC.map(|d| header(d, format)),
        queue: QUEUE.map(|d| header(d, format)),
    })
}

/// The header prometheus-client writes for a family, in `format`.
fn header(descriptor: Descriptor, format: Format) -> String {
    #[derive(Debug)]
    struct Only(Descriptor);
    impl Collector for Only {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            let (name, help, metric_type) = self.0;
            encoder.encode_descriptor(name, help, None, metric_type).map(drop)
        }
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Only(descriptor)));
    let mut om = String::new();
    text::encode_registry(&mut om, &registry).expect("writing to a String cannot fail");
    match format {
        Format::OpenMetrics => om,
        Format::Text004 => super::text004::from_openmetrics(&om),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_as_the_formats_require() {
        let mut out = String::new();
        sample(&mut out, "m", &[("org", "a\"b\\c\nd"), ("w", "1h")], Value::Float(1.5));
        assert_eq!(out, "m{org=\"a\\\"b\\\\c\\nd\",w=\"1h\"} 1.5\n");
    }

    /// Blocks are found by position: organizations coming, going and changing figures between
    /// scrapes give the same text as a cache that starts empty.
    #[test]
    fn cached_blocks_follow_the_organizations() {
        let org = |name: &str, n: u64| {
            Arc::new(OrgSnapshot {
                org: name.into(),
                endpoint: None,
                received_total: n,
                windows: vec![],
                last_received: None,
                last_synced: None,
            })
        };
        let (a, b, c) = (org("a", 1), org("b", 2), org("c", 3));
        let mut cache = OrgCache::default();
        for orgs in
            [vec![a.clone(), b.clone()], vec![a.clone(), c.clone(), b.clone()], vec![org("a", 5), b], vec![c]]
        {
            let (mut cached, mut fresh) = (String::new(), String::new());
            cache.write(&mut cached, &orgs, &[], Format::OpenMetrics);
            OrgCache::default().write(&mut fresh, &orgs, &[], Format::OpenMetrics);
            assert_eq!(cached, fresh);
            let names: Vec<&str> = orgs.iter().map(|o| &*o.org).collect();
            assert!(names.iter().all(|n| cached.contains(&format!("org=\"{n}\""))), "{cached}");
        }
    }

    #[test]
    fn headers_name_counters_and_infos_per_format() {
        let om = header(TRAFFIC[2], Format::OpenMetrics);
        assert!(om.contains("# TYPE webhook_payloads_received counter\n"), "{om}");
        let text = header(TRAFFIC[0], Format::Text004);
        assert!(text.contains("# TYPE webhook_endpoint_info gauge\n"), "{text}");
    }
}
