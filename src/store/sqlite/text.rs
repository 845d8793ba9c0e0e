//! How SQLite stores times and lists: fixed-width text and JSON arrays. A leaf, so that the
//! queue and the binding helpers can use it without importing the backend's module.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Timestamps are stored as fixed-width RFC 3339 text so that text comparison is time order.
pub fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A list parameter, read in SQL with `json_each`.
pub fn json_list<T: Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).expect("a list of strings serializes")
}
