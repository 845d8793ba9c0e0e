//! Reading the fields the two sources share, tolerantly: a field of the wrong type is a field
//! that is absent, and every text kept is bounded.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// Longest source event id accepted (the event worker's contract: 1 to 128 characters).
pub const MAX_ID_CHARS: usize = 128;
/// Longest `function_name` and `detail` kept.
const MAX_NAME_CHARS: usize = 200;
const MAX_DETAIL_CHARS: usize = 2000;

/// How a number in a `timestamp` field counts.
#[derive(Debug, Clone, Copy)]
pub enum EpochUnit {
    Millis,
    Micros,
}

/// An event id: a string of 1 to 128 characters without control characters (a number is taken
/// as its decimal text).
pub fn event_id(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let ok = (1..=MAX_ID_CHARS).contains(&text.chars().count()) && !text.chars().any(char::is_control);
    ok.then_some(text)
}

/// An RFC 3339 string, or a number of `unit` since the Unix epoch.
pub fn timestamp(value: Option<&Value>, unit: EpochUnit) -> Option<DateTime<Utc>> {
    match value? {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => {
            let x = n.as_f64()?;
            let micros = match unit {
                EpochUnit::Millis => x * 1e3,
                EpochUnit::Micros => x,
            };
            if !(0.0..=1e17).contains(&micros) {
                return None;
            }
            Utc.timestamp_micros(micros.round() as i64).single()
        }
        _ => None,
    }
}

/// A string field, trimmed; None when absent, empty or not a string.
pub fn text(value: Option<&Value>) -> Option<&str> {
    value?.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// A function name as the log store keeps it: printable, at most 200 characters.
pub fn function_name(name: &str) -> String {
    bounded(name, MAX_NAME_CHARS)
}

/// The last segment of a path (`/home/deno/functions/dynamics-webhook` -> `dynamics-webhook`).
pub fn last_segment(path: &str) -> Option<&str> {
    path.trim().trim_end_matches(['/', '\\']).rsplit(['/', '\\']).next().filter(|s| !s.is_empty())
}

/// Free text for the `detail` column: control characters but newlines and tabs dropped, bounded.
pub fn detail(parts: &[String]) -> Option<String> {
    let joined = parts.iter().filter(|p| !p.is_empty()).cloned().collect::<Vec<_>>().join("; ");
    (!joined.is_empty()).then(|| bounded(&joined, MAX_DETAIL_CHARS))
}

fn bounded(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_and_times_are_read_tolerantly() {
        assert_eq!(event_id(Some(&json!("a-1"))).as_deref(), Some("a-1"));
        assert_eq!(event_id(Some(&json!(42))).as_deref(), Some("42"));
        assert_eq!(event_id(Some(&json!(""))), None);
        assert_eq!(event_id(Some(&json!("x".repeat(129)))), None);
        assert_eq!(event_id(Some(&json!("a\u{0}b"))), None);
        assert_eq!(event_id(None), None);

        let t = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
        assert_eq!(timestamp(Some(&json!("2026-11-28T10:00:00.000Z")), EpochUnit::Millis), Some(t));
        assert_eq!(timestamp(Some(&json!("2026-11-28T11:00:00+01:00")), EpochUnit::Millis), Some(t));
        assert_eq!(timestamp(Some(&json!(t.timestamp_millis())), EpochUnit::Millis), Some(t));
        assert_eq!(timestamp(Some(&json!(t.timestamp_micros())), EpochUnit::Micros), Some(t));
        assert_eq!(timestamp(Some(&json!("yesterday")), EpochUnit::Millis), None);
        assert_eq!(timestamp(Some(&json!(-1)), EpochUnit::Millis), None);
        assert_eq!(timestamp(Some(&json!(true)), EpochUnit::Millis), None);
    }

    #[test]
    fn names_and_details_are_bounded() {
        assert_eq!(last_segment("/home/deno/functions/dynamics-webhook"), Some("dynamics-webhook"));
        assert_eq!(last_segment("./functions/hook/"), Some("hook"));
        assert_eq!(last_segment("hook"), Some("hook"));
        assert_eq!(last_segment("/"), None);
        assert_eq!(function_name(&"f".repeat(300)).len(), 200);
        assert_eq!(detail(&["a".into(), String::new(), "b\u{7}".into()]).as_deref(), Some("a; b"));
        assert_eq!(detail(&[]), None);
    }
}
