//! GET /api/v1/events: recent rejected and failed events, and accepted events whose portal sync
//! failed, newest first, with cursor pagination.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::DateTime;
use serde::Serialize;

use super::filter::{
    format_time, parse_orgs, parse_outcome, parse_reasons, parse_stage, parse_status,
    parse_sync_error_classes, parse_time,
};
use super::guard::Admin;
use super::state::ApiState;
use crate::access::ApiError;
use crate::failure_counters::StorePath;
use crate::store::reprocess::{ErrorEvent, EventFilter, ListCursor, SyncFailure, SyncState};

#[derive(Debug, Serialize)]
struct EventOut {
    event_id: String,
    org: String,
    received_at: String,
    outcome: String,
    http_status: i32,
    rejection_reason: Option<String>,
    error_detail: Option<String>,
    reprocess_pending: bool,
    sync_failure: Option<SyncFailureOut>,
}

/// What became of an event's portal sync, when it failed.
#[derive(Debug, Serialize)]
struct SyncFailureOut {
    state: SyncState,
    error_class: Option<String>,
    http_status: Option<i32>,
    attempts: i32,
    last_error: Option<String>,
    given_up_at: Option<String>,
    lease_expired_at: Option<String>,
    worker: Option<String>,
}

#[derive(Debug, Serialize)]
struct Page {
    events: Vec<EventOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// The listing's query, validated.
#[derive(Debug, PartialEq)]
struct ListQuery {
    filter: EventFilter,
    cursor: Option<ListCursor>,
    limit: i64,
}

pub async fn list(State(api): State<ApiState>, _: Admin, RawQuery(query): RawQuery) -> Response {
    match list_inner(&api, query.as_deref().unwrap_or("")).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn list_inner(api: &ApiState, query: &str) -> Result<Page, ApiError> {
    let mut q = parse_query(query, api.limits.default_page_size, api.limits.max_page_size)?;
    api.find_unaccounted(&mut q.filter).await;
    let mut rows = api.store.error_events(&q.filter, q.cursor, q.limit + 1).await.map_err(|e| {
        api.failures.store_error(StorePath::EventsList, &e, "");
        ApiError::internal()
    })?;
    let more = rows.len() as i64 > q.limit;
    rows.truncate(q.limit as usize);
    let next_cursor = if more { rows.last().map(cursor_text) } else { None };
    Ok(Page { events: rows.into_iter().map(event_out).collect(), next_cursor })
}

fn event_out(e: ErrorEvent) -> EventOut {
    EventOut {
        event_id: e.event_id.to_string(),
        org: e.org_id,
        received_at: format_time(e.received_at),
        outcome: e.outcome,
        http_status: e.http_status,
        rejection_reason: e.rejection_reason,
        error_detail: e.error_detail,
        reprocess_pending: e.reprocess_pending,
        sync_failure: e.sync_failure.map(sync_failure_out),
    }
}

fn sync_failure_out(f: SyncFailure) -> SyncFailureOut {
    SyncFailureOut {
        state: f.state,
        error_class: f.error_class,
        http_status: f.http_status,
        attempts: f.attempts,
        last_error: f.last_error,
        given_up_at: f.given_up_at.map(format_time),
        lease_expired_at: f.lease_expired_at.map(format_time),
        worker: f.worker,
    }
}

/// `<received_at in Unix microseconds>.<row id>`: every string of that shape is a valid position,
/// so a client can only ever get a page, never an error, from a well-formed cursor.
fn cursor_text(e: &ErrorEvent) -> String {
    format!("{}.{}", e.received_at.timestamp_micros(), e.id)
}

fn parse_cursor(text: &str) -> Result<ListCursor, ApiError> {
    let bad =
        || ApiError::bad_request("invalid_cursor", "cursor must be a next_cursor value from a previous page");
    let (micros, id) = text.split_once('.').ok_or_else(bad)?;
    let digits =
        |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(micros, 17) || !digits(id, 18) {
        return Err(bad());
    }
    let received_at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok(ListCursor { received_at, id: id.parse().map_err(|_| bad())? })
}

fn parse_query(query: &str, default_limit: i64, max_limit: i64) -> Result<ListQuery, ApiError> {
    let mut filter = EventFilter::default();
    let (mut orgs, mut reasons, mut classes) = (Vec::new(), Vec::new(), Vec::new());
    let mut cursor = None;
    let mut limit = None;
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let single = matches!(
            key.as_ref(),
            "outcome" | "status_code" | "since" | "until" | "stage" | "limit" | "cursor"
        );
        if single && seen.iter().any(|k| *k == key) {
            return Err(ApiError::bad_request(
                "duplicate_parameter",
                format!("{key} may be given only once"),
            ));
        }
        seen.push(key.to_string());
        let field = format!("query parameter {key}");
        match key.as_ref() {
            "org" => orgs.push(value.into_owned()),
            "reason" => reasons.push(value.into_owned()),
            "sync_error_class" => classes.push(value.into_owned()),
            "stage" => filter.stage = Some(parse_stage(&field, &value)?),
            "outcome" => filter.outcome = Some(parse_outcome(&field, &value)?),
            "status_code" => {
                let code = value.parse::<i64>().map_err(|_| {
                    ApiError::unprocessable("invalid_status_code", format!("{field} must be an integer"))
                })?;
                filter.status_code = Some(parse_status(&field, code)?);
            }
            "since" => filter.since = Some(parse_time(&field, &value)?),
            "until" => filter.until = Some(parse_time(&field, &value)?),
            "limit" => {
                let n = value.parse::<i64>().map_err(|_| {
                    ApiError::unprocessable("invalid_limit", format!("{field} must be an integer"))
                })?;
                if n < 1 {
                    return Err(ApiError::unprocessable("invalid_limit", "limit must be at least 1"));
                }
                if n > max_limit {
                    return Err(ApiError::unprocessable(
                        "page_size_too_large",
                        format!(
                            "limit {n} exceeds the maximum page size of {max_limit} (--api.max-page-size)"
                        ),
                    ));
                }
                limit = Some(n);
            }
            "cursor" => cursor = Some(parse_cursor(&value)?),
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!(
                        "unknown query parameter {shown:?}; expected org, outcome, reason, status_code, since, \
                         until, stage, sync_error_class, limit or cursor"
                    ),
                ));
            }
        }
    }
    filter.orgs = parse_orgs("query parameter org", &orgs)?;
    filter.reasons = parse_reasons("query parameter reason", &reasons)?;
    filter.sync_error_classes = parse_sync_error_classes("query parameter sync_error_class", &classes)?;
    Ok(ListQuery { filter, cursor, limit: limit.unwrap_or(default_limit) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_names_the_fields_the_handler_writes() {
        use super::super::openapi::{field_names, schema_properties};
        let event = super::EventOut {
            event_id: String::new(),
            org: String::new(),
            received_at: String::new(),
            outcome: String::new(),
            http_status: 0,
            rejection_reason: None,
            error_detail: None,
            reprocess_pending: false,
            sync_failure: None,
        };
        assert_eq!(field_names(&event), schema_properties("/components/schemas/Event/properties"));
        let failure = super::SyncFailureOut {
            state: SyncState::GivenUp,
            error_class: None,
            http_status: None,
            attempts: 0,
            last_error: None,
            given_up_at: None,
            lease_expired_at: None,
            worker: None,
        };
        assert_eq!(
            field_names(&failure),
            schema_properties("/components/schemas/Event/properties/sync_failure/properties")
        );
        let page = super::Page { events: Vec::new(), next_cursor: None };
        assert_eq!(field_names(&page), schema_properties("/components/schemas/EventPage/properties"));

        // The enums of the document are the vocabularies: outcomes (a listed event may be an
        // accepted one whose sync failed; filters select error outcomes), stages, sync states and
        // error classes.
        use crate::domain::sync::SyncErrorClass;
        use crate::domain::Outcome;
        use crate::store::reprocess::Stage;
        use serde_json::json;
        let doc: serde_json::Value = serde_json::from_str(super::super::openapi::TEMPLATE).unwrap();
        let all: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(doc.pointer("/components/schemas/Event/properties/outcome/enum").unwrap(), &json!(all));
        let outcomes: Vec<&str> = super::super::filter::error_outcomes().map(|o| o.as_str()).collect();
        let stages: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
        let classes: Vec<&str> = SyncErrorClass::ALL.iter().map(|c| c.as_str()).collect();
        let param = |name: &str| {
            doc["paths"]["/api/v1/events"]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("no parameter {name}"))["schema"]
                .clone()
        };
        let schemas = &doc["components"]["schemas"];
        for (pointer, want) in [
            ("/Filter/properties/outcome/enum", json!(outcomes)),
            ("/Filter/properties/stage/enum", json!(stages)),
            ("/SyncErrorClass/enum", json!(classes)),
            (
                "/Event/properties/sync_failure/properties/state/enum",
                json!([SyncState::GivenUp, SyncState::Abandoned, SyncState::Unaccounted]),
            ),
        ] {
            assert_eq!(schemas.pointer(pointer).unwrap(), &want, "{pointer}");
        }
        assert_eq!(param("outcome")["enum"], json!(outcomes));
        assert_eq!(param("stage")["enum"], json!(stages));
        assert_eq!(param("sync_error_class")["items"]["$ref"], "#/components/schemas/SyncErrorClass");
        assert_eq!(param("sync_error_class")["maxItems"], classes.len());
    }

    use super::*;

    #[test]
    fn queries_parse_and_refuse_by_name() {
        let q =
            parse_query("org=contoso&org=fabrikam&outcome=rejected&reason=invalid_auth&limit=5", 100, 500)
                .unwrap();
        assert_eq!(q.filter.orgs, ["contoso", "fabrikam"]);
        assert_eq!(q.limit, 5);
        let e = parse_query("limit=501", 100, 500).unwrap_err();
        assert_eq!(e.code, "page_size_too_large");
        assert!(e.message.contains("500"), "{}", e.message);
        assert_eq!(parse_query("org=x%27%20OR%201%3D1", 100, 500).unwrap_err().code, "invalid_org");
        assert_eq!(parse_query("bogus=1", 100, 500).unwrap_err().code, "unknown_parameter");
        assert_eq!(parse_query("limit=1&limit=2", 100, 500).unwrap_err().code, "duplicate_parameter");
        let q = parse_query("stage=sync&sync_error_class=timeout&sync_error_class=portal_auth", 100, 500)
            .unwrap();
        assert_eq!(q.filter.stage, Some(crate::store::reprocess::Stage::Sync));
        assert_eq!(q.filter.sync_error_classes, ["timeout", "portal_auth"]);
        assert_eq!(
            parse_query("stage=sync&stage=webhook", 100, 500).unwrap_err().code,
            "duplicate_parameter"
        );
        assert_eq!(
            parse_query("sync_error_class=nope", 100, 500).unwrap_err().code,
            "invalid_sync_error_class"
        );
    }

    #[test]
    fn cursors_round_trip() {
        let c = parse_cursor("1714000000123456.42").unwrap();
        assert_eq!(c.id, 42);
        assert_eq!(c.received_at.timestamp_micros(), 1714000000123456);
        assert!(parse_cursor("abc").is_err() && parse_cursor("1.").is_err());
    }
}
