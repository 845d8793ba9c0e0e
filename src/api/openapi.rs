//! The OpenAPI 3 document, served unauthenticated at /api/v1/openapi.json. Hand-written (the
//! API is small) and patched at start with the configured limits, so it states the real ones;
//! tests hold its field names and enum values to the handler types (`events.rs`, `reprocess.rs`)
//! and derive the list of protected routes from it (`tests.rs`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::config::Limits;
use super::state::ApiState;

pub(super) const TEMPLATE: &str = include_str!("openapi.json");

pub fn document(limits: &Limits) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(TEMPLATE).expect("openapi.json is valid JSON");
    let mut set = |pointer: &str, value: serde_json::Value| {
        *doc.pointer_mut(pointer).unwrap_or_else(|| panic!("openapi.json has no {pointer}")) = value;
    };
    let limit = parameter_index("/api/v1/events", "get", "limit");
    set(
        &format!("/paths/~1api~1v1~1events/get/parameters/{limit}/schema/maximum"),
        limits.max_page_size.into(),
    );
    set(
        &format!("/paths/~1api~1v1~1events/get/parameters/{limit}/schema/default"),
        limits.default_page_size.into(),
    );
    set(
        "/components/schemas/ReprocessRequest/oneOf/0/properties/event_ids/maxItems",
        limits.max_batch.into(),
    );
    serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
}

/// Where a query parameter sits in an operation's list, found by name, not by position.
fn parameter_index(path: &str, method: &str, name: &str) -> usize {
    let doc: serde_json::Value = serde_json::from_str(TEMPLATE).expect("openapi.json is valid JSON");
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().position(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("openapi.json: {method} {path} has no parameter {name}"))
}

/// The property names of a schema in the document, for tests that hold the document to the
/// handler types.
#[cfg(test)]
pub(super) fn schema_properties(pointer: &str) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(TEMPLATE).unwrap();
    let props = doc.pointer(pointer).unwrap_or_else(|| panic!("openapi.json has no {pointer}"));
    let mut names: Vec<String> = props.as_object().unwrap().keys().cloned().collect();
    names.sort();
    names
}

/// The field names a value serializes with.
#[cfg(test)]
pub(super) fn field_names(value: &impl serde::Serialize) -> Vec<String> {
    let mut names: Vec<String> =
        serde_json::to_value(value).unwrap().as_object().unwrap().keys().cloned().collect();
    names.sort();
    names
}

pub async fn serve(State(api): State<ApiState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], api.openapi.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_patched_in() {
        let limits = Limits { max_batch: 7, max_page_size: 9, default_page_size: 3, ..Limits::default() };
        let doc: serde_json::Value = serde_json::from_str(&document(&limits)).unwrap();
        let limit = &doc["paths"]["/api/v1/events"]["get"]["parameters"]
            [parameter_index("/api/v1/events", "get", "limit")];
        assert_eq!(limit["name"], "limit");
        assert_eq!(limit["schema"]["maximum"], 9);
        assert_eq!(
            doc["components"]["schemas"]["ReprocessRequest"]["oneOf"][0]["properties"]["event_ids"]
                ["maxItems"],
            7
        );
    }
}
