//! Events of a self-hosted edge runtime's event worker: each value the runtime's `EventManager`
//! yields, forwarded as is, plus an `id` the worker assigns.
//!
//! The runtime (supabase/edge-runtime, `ext/event_worker`) yields
//! `{timestamp, event_type, event, metadata}`: `timestamp` an ISO 8601 string set when the worker
//! dequeues the event, `event_type` the variant's name (`Boot`, `BootFailure`,
//! `UncaughtException`, `Shutdown`, `Log`), `event` the variant's fields (`{"reason": "CPUTime",
//! "cpu_time_used": 12, "memory_used": {...}}`), and `metadata` `{service_path, execution_id,
//! otel_attributes}`. Also accepted: `event` still wrapped as serde serializes the variant
//! (`{"Shutdown": {...}}`) and `timestamp` as epoch milliseconds.

use serde_json::Value;

use super::fields::{self, EpochUnit};
use super::parsed::Parsed;
use crate::domain;
use crate::store::{IngestedLifecycleEvent, NewLifecycleEvent};

/// Reads one event of a batch; what is not a lifecycle event is ignored, with the reason.
pub fn parse(value: &Value) -> Parsed {
    let Some(obj) = value.as_object() else { return Parsed::Ignored("not a JSON object") };
    let Some(id) = fields::event_id(obj.get("id")) else { return Parsed::Ignored("no valid id") };
    let Some(kind) = fields::text(obj.get("event_type")) else { return Parsed::Ignored("no event_type") };
    let event_type = match kind {
        "Boot" => "Boot",
        "BootFailure" => "BootFailure",
        "UncaughtException" => "UncaughtException",
        "Shutdown" => "Shutdown",
        "Log" => return Parsed::Ignored("a log line"),
        _ => return Parsed::Ignored("an unknown event type"),
    };
    let Some(occurred_at) = fields::timestamp(obj.get("timestamp"), EpochUnit::Millis) else {
        return Parsed::Ignored("no valid timestamp");
    };
    let event = unwrap_variant(obj.get("event"), kind);
    let field = |name: &str| event.and_then(|e| e.get(name));
    let metadata = obj.get("metadata");
    let function_name = fields::text(metadata.and_then(|m| m.get("service_path")))
        .and_then(fields::last_segment)
        .map_or_else(|| "unknown".to_string(), fields::function_name);
    let mut detail = Vec::new();
    let mut shutdown_reason = None;
    match event_type {
        "Boot" => detail.extend(number(field("boot_time")).map(|ms| format!("boot_time={ms}ms"))),
        "BootFailure" => detail.extend(fields::text(field("msg")).map(str::to_string)),
        "UncaughtException" => detail.extend(fields::text(field("exception")).map(str::to_string)),
        _ => {
            let reason = fields::text(field("reason"));
            shutdown_reason = reason.and_then(domain::shutdown_reason);
            if shutdown_reason.is_none() {
                // Kept for people: the health rules count an unknown reason as an error exit.
                detail.push(format!("reason={}", reason.unwrap_or("(none)")));
            }
            let memory = field("memory_used").and_then(|m| m.get("total"));
            detail.extend(number(field("cpu_time_used")).map(|ms| format!("cpu_time_used={ms}ms")));
            detail.extend(number(memory).map(|b| format!("memory_used={b}B")));
        }
    }
    if let Some(execution) = fields::text(metadata.and_then(|m| m.get("execution_id"))) {
        detail.push(format!("execution_id={execution}"));
    }
    Parsed::Lifecycle(IngestedLifecycleEvent {
        source_event_id: id,
        event: NewLifecycleEvent {
            occurred_at,
            function_name,
            event_type,
            shutdown_reason,
            detail: fields::detail(&detail),
        },
    })
}

/// The variant's fields: `event` itself, or its only member when that is named after the variant.
fn unwrap_variant<'a>(event: Option<&'a Value>, kind: &str) -> Option<&'a Value> {
    let map = event?.as_object()?;
    match map.get(kind) {
        Some(inner) if map.len() == 1 => Some(inner),
        _ => event,
    }
}

fn number(value: Option<&Value>) -> Option<String> {
    value.and_then(|v| v.as_u64().map(|n| n.to_string()).or_else(|| v.as_f64().map(|f| f.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lifecycle(v: Value) -> NewLifecycleEvent {
        match parse(&v) {
            Parsed::Lifecycle(e) => e.event,
            Parsed::Ignored(why) => panic!("ignored ({why}): {v}"),
        }
    }

    fn meta() -> Value {
        json!({"service_path": "/home/deno/functions/dynamics-webhook", "execution_id": "e-1"})
    }

    #[test]
    fn every_lifecycle_variant_maps_to_a_row() {
        let ts = "2026-11-28T10:00:00.000Z";
        let boot = lifecycle(json!({"id": "1", "timestamp": ts, "event_type": "Boot",
            "event": {"boot_time": 31}, "metadata": meta()}));
        assert_eq!((boot.event_type, boot.function_name.as_str()), ("Boot", "dynamics-webhook"));
        assert_eq!(boot.detail.as_deref(), Some("boot_time=31ms; execution_id=e-1"));
        let failure = lifecycle(json!({"id": "2", "timestamp": ts, "event_type": "BootFailure",
            "event": {"msg": "worker boot error: SyntaxError"}, "metadata": meta()}));
        assert_eq!(failure.event_type, "BootFailure");
        assert!(failure.detail.unwrap().starts_with("worker boot error"));
        let crash = lifecycle(json!({"id": "3", "timestamp": 1_795_860_000_000u64,
            "event_type": "UncaughtException",
            "event": {"exception": "TypeError: x is undefined", "cpu_time_used": 3}, "metadata": meta()}));
        assert_eq!(crash.event_type, "UncaughtException");
        assert_eq!(crash.occurred_at.timestamp_millis(), 1_795_860_000_000);
        // As serde serializes the variant, and as the runtime's JS iterator unwraps it.
        for event in [
            json!({"Shutdown": {"reason": "CPUTime", "cpu_time_used": 12, "memory_used": {"total": 9}}}),
            json!({"reason": "CPUTime", "cpu_time_used": 12, "memory_used": {"total": 9}}),
        ] {
            let s = lifecycle(json!({"id": "4", "timestamp": ts, "event_type": "Shutdown",
                "event": event, "metadata": meta()}));
            assert_eq!((s.event_type, s.shutdown_reason), ("Shutdown", Some("CPUTime")));
            assert_eq!(s.detail.as_deref(), Some("cpu_time_used=12ms; memory_used=9B; execution_id=e-1"));
        }
        let odd = lifecycle(json!({"id": "5", "timestamp": ts, "event_type": "Shutdown",
            "event": {"reason": "Meteor"}}));
        assert_eq!((odd.shutdown_reason, odd.function_name.as_str()), (None, "unknown"));
        assert_eq!(odd.detail.as_deref(), Some("reason=Meteor"));
    }

    #[test]
    fn logs_unknown_types_and_broken_events_are_ignored() {
        let ts = "2026-11-28T10:00:00Z";
        let cases = [
            (
                json!({"id": "1", "timestamp": ts, "event_type": "Log", "event": {"msg": "hi", "level": "Info"}}),
                "a log line",
            ),
            (json!({"id": "1", "timestamp": ts, "event_type": "Telemetry"}), "an unknown event type"),
            (json!({"timestamp": ts, "event_type": "Boot"}), "no valid id"),
            (json!({"id": "1", "event_type": "Boot"}), "no valid timestamp"),
            (json!({"id": "1", "timestamp": ts}), "no event_type"),
            (json!([1, 2]), "not a JSON object"),
        ];
        for (v, why) in cases {
            assert!(matches!(parse(&v), Parsed::Ignored(w) if w == why), "{v}");
        }
    }
}
