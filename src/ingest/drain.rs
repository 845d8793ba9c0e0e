//! Events of a Supabase log drain ("generic HTTP endpoint"): `{id, timestamp, event_message,
//! metadata}` per event, `timestamp` in microseconds, with no field naming the log table. Only
//! Edge Function runtime rows (`function_logs`) describe lifecycle; edge logs
//! (`function_edge_logs`, with `request`/`response`) and every other table are ignored.
//!
//! The hosted format is documented only in part (docs/log-store.md lists what is uncertain), so
//! fields are looked for in `metadata` (an object, or the array of objects the log explorer
//! shows) and then at the top level, names are matched in any case, and what cannot be told
//! apart from an ordinary log line is ignored rather than guessed.

use serde_json::{Map, Value};

use super::fields::{self, EpochUnit};
use super::parsed::Parsed;
use crate::domain;
use crate::store::{IngestedLifecycleEvent, NewLifecycleEvent};

/// Reads one event of a drain batch.
pub fn parse(value: &Value) -> Parsed {
    let Some(top) = value.as_object() else { return Parsed::Ignored("not a JSON object") };
    let Some(id) = fields::event_id(top.get("id")) else { return Parsed::Ignored("no valid id") };
    let view = View::new(top);
    if view.get("request").is_some() || view.get("response").is_some() {
        return Parsed::Ignored("an edge (HTTP) log");
    }
    let message = fields::text(top.get("event_message")).unwrap_or("");
    let kind: String =
        view.text("event_type").unwrap_or("").chars().filter(char::is_ascii_alphanumeric).collect();
    let (event_type, reason) = match kind.to_ascii_lowercase().as_str() {
        "boot" => ("Boot", None),
        "bootfailure" | "booterror" => ("BootFailure", None),
        "uncaughtexception" => ("UncaughtException", None),
        "shutdown" => {
            let reason =
                view.text("reason").and_then(domain::shutdown_reason).or_else(|| limit_reason(message));
            match reason {
                Some(r) => ("Shutdown", Some(r)),
                // A hosted shutdown row without a reason we can read: never guessed to be an error.
                None => return Parsed::Ignored("a shutdown without a readable reason"),
            }
        }
        "log" => match from_message(message, view.text("level")) {
            Some(found) => found,
            None => return Parsed::Ignored("a log line"),
        },
        "" => return Parsed::Ignored("not an Edge Function runtime row"),
        _ => return Parsed::Ignored("an unknown event type"),
    };
    let Some(occurred_at) = fields::timestamp(top.get("timestamp"), EpochUnit::Micros) else {
        return Parsed::Ignored("no valid timestamp");
    };
    let function_name = ["function_name", "function_slug", "slug", "function_id"]
        .iter()
        .find_map(|k| view.text(k))
        .map_or_else(|| "unknown".to_string(), fields::function_name);
    let execution = view.text("execution_id");
    // An isolate shuts down once, but the drain may tell it twice (a "CPU Time exceeded" line,
    // then the shutdown row): keyed by the isolate, whichever arrives first is the one kept.
    let source_event_id = match (event_type, execution) {
        ("Shutdown", Some(x)) if x.chars().count() <= fields::MAX_ID_CHARS - 9 => format!("shutdown:{x}"),
        _ => id,
    };
    let mut detail = vec![message.to_string()];
    detail.extend(execution.map(|x| format!("execution_id={x}")));
    Parsed::Lifecycle(IngestedLifecycleEvent {
        source_event_id,
        event: NewLifecycleEvent {
            occurred_at,
            function_name,
            event_type,
            shutdown_reason: reason,
            detail: fields::detail(&detail),
        },
    })
}

/// Lifecycle told only by a log line's text, at error level (or with no level): the runtime's
/// boot errors and resource-limit terminations.
fn from_message(message: &str, level: Option<&str>) -> Option<(&'static str, Option<&'static str>)> {
    let error_level = match level {
        Some(l) => l.eq_ignore_ascii_case("error") || l.eq_ignore_ascii_case("fatal"),
        None => true,
    };
    if !error_level {
        return None;
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("worker boot error")
        || lower.starts_with("bootfailure")
        || lower.starts_with("boot error")
    {
        return Some(("BootFailure", None));
    }
    limit_reason(message).map(|r| ("Shutdown", Some(r)))
}

/// The resource limit a runtime message names: "CPU Time exceeded", "Memory limit exceeded",
/// "wall clock duration reached"...
fn limit_reason(message: &str) -> Option<&'static str> {
    let lower = message.to_ascii_lowercase();
    let over = ["exceeded", "reached", "limit"].iter().any(|w| lower.contains(w));
    if !over {
        return None;
    }
    if lower.contains("cpu time") {
        Some("CPUTime")
    } else if lower.contains("memory limit") {
        Some("Memory")
    } else if lower.contains("wall clock") || lower.contains("wallclock") {
        Some("WallClockTime")
    } else {
        None
    }
}

/// The fields of an event: its metadata's (an object, or an array of objects) first, then its
/// own; keys compared in any case.
struct View<'a> {
    layers: Vec<&'a Map<String, Value>>,
}

impl<'a> View<'a> {
    fn new(top: &'a Map<String, Value>) -> View<'a> {
        let mut layers = Vec::new();
        match top.get("metadata") {
            Some(Value::Object(m)) => layers.push(m),
            Some(Value::Array(items)) => layers.extend(items.iter().filter_map(Value::as_object)),
            _ => {}
        }
        layers.push(top);
        View { layers }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.layers
            .iter()
            .find_map(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
            .filter(|v| !v.is_null())
    }

    fn text(&self, key: &str) -> Option<&'a str> {
        fields::text(self.get(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TS: u64 = 1_795_860_000_000_000;

    fn row(message: &str, metadata: Value) -> Value {
        json!({"id": "6b1c5a6e-1", "timestamp": TS, "event_message": message, "metadata": metadata})
    }

    fn lifecycle(v: Value) -> IngestedLifecycleEvent {
        match parse(&v) {
            Parsed::Lifecycle(e) => e,
            Parsed::Ignored(why) => panic!("ignored ({why}): {v}"),
        }
    }

    fn ignored(v: Value) -> &'static str {
        match parse(&v) {
            Parsed::Ignored(why) => why,
            Parsed::Lifecycle(e) => panic!("taken as {e:?}: {v}"),
        }
    }

    #[test]
    fn function_log_rows_map_to_lifecycle() {
        let boot = lifecycle(row("booted (time: 42ms)", json!({"event_type": "Boot", "function_id": "f-1"})));
        assert_eq!((boot.event.event_type, boot.event.function_name.as_str()), ("Boot", "f-1"));
        assert_eq!(boot.event.occurred_at.timestamp_micros(), TS as i64);
        assert_eq!(boot.source_event_id, "6b1c5a6e-1");
        let crash = lifecycle(row(
            "TypeError: cannot read properties of undefined",
            json!({"event_type": "uncaughtException", "level": "error", "execution_id": "x-1", "function_id": "f-1"}),
        ));
        assert_eq!(crash.event.event_type, "UncaughtException");
        assert_eq!(
            crash.event.detail.as_deref(),
            Some("TypeError: cannot read properties of undefined; execution_id=x-1")
        );
        // The log explorer's shape: metadata as an array, the reason in it.
        let early = lifecycle(row(
            "shutdown",
            json!([{"event_type": "Shutdown", "reason": "EarlyDrop", "cpu_time_used": 62, "execution_id": "x-2"}]),
        ));
        assert_eq!(
            (early.event.shutdown_reason, early.source_event_id.as_str()),
            (Some("EarlyDrop"), "shutdown:x-2")
        );
        // Flattened at the top level, as some exports show it.
        let flat = json!({"id": "9", "timestamp": TS, "event_message": "shutdown", "event_type": "Shutdown",
            "reason": "WallClockTime", "function_id": "f-1"});
        assert_eq!(lifecycle(flat).event.shutdown_reason, Some("WallClockTime"));
        // A limit line and the isolate's shutdown row are one exit.
        let cpu = lifecycle(row(
            "CPU Time exceeded",
            json!({"event_type": "log", "level": "error", "execution_id": "x-3"}),
        ));
        assert_eq!((cpu.event.event_type, cpu.event.shutdown_reason), ("Shutdown", Some("CPUTime")));
        assert_eq!(cpu.source_event_id, "shutdown:x-3");
        let mem = lifecycle(row("Memory limit exceeded", json!({"event_type": "Log", "level": "error"})));
        assert_eq!(mem.event.shutdown_reason, Some("Memory"));
        let boot_error = lifecycle(row(
            "InvalidWorkerCreation: worker boot error: Uncaught SyntaxError",
            json!({"event_type": "log", "level": "error", "function_id": "f-1"}),
        ));
        assert_eq!(boot_error.event.event_type, "BootFailure");
        let typed = lifecycle(row("boot failed", json!({"event_type": "BootFailure"})));
        assert_eq!(typed.event.event_type, "BootFailure");
    }

    #[test]
    fn everything_else_is_ignored() {
        assert_eq!(ignored(row("hello", json!({"event_type": "log", "level": "info"}))), "a log line");
        assert_eq!(
            ignored(row("CPU Time exceeded", json!({"event_type": "log", "level": "info"}))),
            "a log line",
            "only error-level lines are read for lifecycle"
        );
        assert_eq!(
            ignored(row("shutdown", json!({"event_type": "Shutdown"}))),
            "a shutdown without a readable reason"
        );
        let edge = row(
            "POST | 200 | https://x.supabase.co/functions/v1/hook",
            json!([{"request": [{"method": "POST"}], "response": [{"status_code": 200}]}]),
        );
        assert_eq!(ignored(edge), "an edge (HTTP) log");
        assert_eq!(ignored(row("x", json!({"event_type": "Telemetry"}))), "an unknown event type");
        assert_eq!(ignored(json!({"timestamp": TS, "event_message": "booted"})), "no valid id");
        assert_eq!(
            ignored(json!({"id": "1", "event_message": "b", "metadata": {"event_type": "Boot"}})),
            "no valid timestamp"
        );
        assert_eq!(ignored(json!("text")), "not a JSON object");
        let postgres = row("worker boot error", json!({"parsed": {"error_severity": "ERROR"}}));
        assert_eq!(ignored(postgres), "not an Edge Function runtime row");
    }
}
