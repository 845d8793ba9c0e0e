//! The traffic model: who sends how much, what goes wrong, and when.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::Rng;

use super::error::SimError;
use super::incidents::Incidents;
use super::lifecycle::LifecycleSender;
use crate::store::history::QueuedItem;
use crate::store::{NewEvent, NewLifecycleEvent, Store};

const NAMED_ORGS: [&str; 10] = [
    "contoso",
    "fabrikam",
    "northwind",
    "adventure-works",
    "tailspin",
    "wingtip",
    "woodgrove",
    "litware",
    "proseware",
    "alpine-ski",
];

/// Organization ids: well-known demo names first, then numbered ones.
pub fn org_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| NAMED_ORGS.get(i).map_or_else(|| format!("org-{i:04}"), |s| s.to_string())).collect()
}

pub fn display_name(org: &str) -> String {
    let mut s = org.replace('-', " ");
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

pub fn endpoint_url(org: &str) -> String {
    format!("https://portal-sync.supabase.co/functions/v1/dynamics-webhook?org={org}")
}

pub const FUNCTION_NAME: &str = "dynamics-webhook";

pub struct Traffic {
    orgs: Vec<String>,
    /// Cumulative Zipf-like weights: a few orgs send most of the traffic.
    cumulative: Vec<f64>,
    incidents: Incidents,
}

pub struct GeneratedBatch {
    pub events: Vec<NewEvent>,
    pub lifecycle: Vec<NewLifecycleEvent>,
}

impl GeneratedBatch {
    /// The events the Edge Function accepted: each has a queue item.
    pub fn accepted(&self) -> impl Iterator<Item = &NewEvent> {
        self.events.iter().filter(|e| e.outcome == "accepted")
    }

    /// Writes as the real writers do: the Edge Function logs events and hands accepted payloads to
    /// the queue in one transaction (with history, the sync service's attempts come along); the
    /// platform's lifecycle events go to the exporter's ingestion endpoint.
    pub async fn write(
        &self,
        store: &Store,
        items: &[QueuedItem],
        lifecycle: Option<&LifecycleSender>,
    ) -> Result<(), SimError> {
        store.insert_traffic(&self.events, items).await?;
        if let Some(sender) = lifecycle {
            sender.send(&self.lifecycle).await?;
        }
        Ok(())
    }
}

const ENTITIES: [&str; 4] = ["contact", "account", "incident", "appointment"];
const MESSAGES: [&str; 3] = ["Create", "Update", "Delete"];

/// Baseline rejections: (cumulative probability, reason, status).
const BASELINE: [(f64, &str, i32); 9] = [
    (0.012, "invalid_payload", 400),
    (0.016, "payload_too_large", 413),
    (0.019, "unsupported_event", 422),
    (0.022, "duplicate", 409),
    (0.024, "rate_limited", 429),
    (0.025, "missing_auth", 401),
    (0.026, "internal_error", 500),
    (0.027, "unknown_organization", 404),
    (0.0275, "geo_blocked", 403),
];

impl Traffic {
    pub fn new(orgs: usize, incidents: Incidents) -> Traffic {
        let orgs = org_ids(orgs.max(1));
        let mut total = 0.0;
        let cumulative = (0..orgs.len())
            .map(|i| {
                total += 1.0 / ((i + 1) as f64).powf(0.8);
                total
            })
            .collect();
        Traffic { orgs, cumulative, incidents }
    }

    fn pick_org(&self, rng: &mut StdRng, t: DateTime<Utc>) -> usize {
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let x = rng.gen::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c < x).min(self.orgs.len() - 1);
        if self.incidents.silent(i, t) {
            // The silent org's portal now targets another URL: its traffic never arrives here.
            0
        } else {
            i
        }
    }

    /// `n` events spaced `span` apart from `from`, with their lifecycle and queue rows.
    pub fn generate(
        &self,
        rng: &mut StdRng,
        from: DateTime<Utc>,
        span: Duration,
        n: usize,
    ) -> GeneratedBatch {
        let mut batch = GeneratedBatch { events: Vec::with_capacity(n), lifecycle: Vec::new() };
        let span_us = span.num_microseconds().unwrap_or(1).max(1);
        for i in 0..n {
            let t = from + Duration::microseconds(span_us * i as i64 + rng.gen_range(0..span_us));
            let org = self.pick_org(rng, t);
            let mut org_id = self.orgs[org].clone();
            let entity = ENTITIES[rng.gen_range(0..ENTITIES.len())];
            let message = MESSAGES[rng.gen_range(0..MESSAGES.len())];
            let event_id = uuid::Builder::from_random_bytes(rng.gen()).into_uuid();
            let (outcome, status, reason, detail): (&'static str, i32, Option<&str>, Option<String>) = if self
                .incidents
                .crash(t)
                && rng.gen_bool(0.7)
            {
                let status = [500, 502, 503, 504][rng.gen_range(0..4)];
                if rng.gen_bool(0.3) {
                    batch.lifecycle.push(lifecycle(
                        t,
                        "UncaughtException",
                        None,
                        "TypeError: cannot read properties of undefined",
                    ));
                }
                if rng.gen_bool(0.05) {
                    batch.lifecycle.push(lifecycle(t, "Shutdown", Some("Memory"), "worker exceeded 256MB"));
                }
                (
                    "failed",
                    status,
                    None,
                    Some(format!("edge function error-exited while processing ({status})")),
                )
            } else if self.incidents.rotation(org, t) && rng.gen_bool(0.85) {
                let detail = "auth key does not match the configured secret (rotated?)".to_string();
                ("rejected", 401, Some("invalid_auth"), Some(detail))
            } else {
                let x = rng.gen::<f64>();
                match BASELINE.iter().find(|(p, _, _)| x < *p) {
                    Some((_, reason, status)) => {
                        if *reason == "unknown_organization" {
                            org_id = format!("unknown-{:04}", rng.gen_range(0..10_000));
                        }
                        ("rejected", *status, Some(*reason), Some(format!("rejected: {reason}")))
                    }
                    None if x < 0.030 => {
                        ("failed", 500, None, Some("handing off to the sync queue failed".into()))
                    }
                    None => ("accepted", 202, None, None),
                }
            };
            let payload = (outcome != "accepted").then(|| {
                serde_json::json!({
                    "MessageName": message,
                    "PrimaryEntityName": entity,
                    "OrganizationName": org_id,
                    "CorrelationId": uuid::Builder::from_random_bytes(rng.gen()).into_uuid(),
                    "InputParameters": [{"key": "Target", "value": {"Id": uuid::Builder::from_random_bytes(rng.gen()).into_uuid()}}],
                })
            });
            if rng.gen_bool(0.005) {
                batch.lifecycle.push(lifecycle(t, "Boot", None, "worker booted"));
                let reason = if rng.gen_bool(0.5) { "EarlyDrop" } else { "EventLoopCompleted" };
                batch.lifecycle.push(lifecycle(t, "Shutdown", Some(reason), "worker retired"));
            }
            batch.events.push(NewEvent {
                event_id,
                org_id,
                received_at: t,
                outcome,
                http_status: status,
                rejection_reason: reason.map(str::to_string),
                error_detail: detail,
                entity_name: Some(entity.into()),
                message_name: Some(message.into()),
                payload,
            });
        }
        batch
    }
}

fn lifecycle(
    t: DateTime<Utc>,
    event_type: &'static str,
    reason: Option<&'static str>,
    detail: &str,
) -> NewLifecycleEvent {
    NewLifecycleEvent {
        occurred_at: t,
        function_name: FUNCTION_NAME.into(),
        event_type,
        shutdown_reason: reason,
        detail: Some(detail.into()),
    }
}
