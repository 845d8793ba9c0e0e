//! The OpenAPI 3 document, served unauthenticated at /api/v1/openapi.json. Hand-written (the
//! API is small) and patched at start with the configured limits, so it states the real ones.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::config::Limits;
use super::ApiState;

pub(super) const TEMPLATE: &str = include_str!("openapi.json");

pub fn document(limits: &Limits) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(TEMPLATE).expect("openapi.json is valid JSON");
    let mut set = |pointer: &str, value: serde_json::Value| {
        *doc.pointer_mut(pointer).unwrap_or_else(|| panic!("openapi.json has no {pointer}")) = value;
    };
    set("/paths/~1api~1v1~1events/get/parameters/6/schema/maximum", limits.max_page_size.into());
    set("/paths/~1api~1v1~1events/get/parameters/6/schema/default", limits.default_page_size.into());
    set(
        "/components/schemas/ReprocessRequest/oneOf/0/properties/event_ids/maxItems",
        limits.max_batch.into(),
    );
    serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
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
        let limit = &doc["paths"]["/api/v1/events"]["get"]["parameters"][6];
        assert_eq!(limit["name"], "limit");
        assert_eq!(limit["schema"]["maximum"], 9);
        assert_eq!(
            doc["components"]["schemas"]["ReprocessRequest"]["oneOf"][0]["properties"]["event_ids"]
                ["maxItems"],
            7
        );
    }
}
