//! The two routes' handler: authenticate (before a byte of the body is read), read the batch
//! within the limits, read each event, write the lifecycle rows in one transaction, count.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::parsed::Parsed;
use super::state::IngestState;
use super::{body, drain, runtime};
use crate::access::auth::Principal;
use crate::access::{refusal, ApiError};
use crate::failure_counters::StorePath;
use crate::lifecycle_counters::{BatchResult, EventResult, Source};
use crate::reprocess_counters::Refusal;

/// A sender holding an ingestion token; refusals are logged and counted like the API's.
pub struct Sender(pub Principal);

impl FromRequestParts<IngestState> for Sender {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &IngestState) -> Result<Sender, ApiError> {
        match st.auth.authenticate(&parts.headers) {
            Ok(principal) => Ok(Sender(principal)),
            Err(e) => {
                refusal::refuse(&st.refusals, parts, None, Refusal::Unauthorized);
                Err(e)
            }
        }
    }
}

/// The answer to an accepted batch: what became of its events.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Received {
    pub inserted: u64,
    pub duplicates: u64,
    pub ignored: u64,
}

pub async fn edge_runtime(
    State(st): State<IngestState>,
    sender: Sender,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ingest(&st, Source::EdgeRuntime, &sender, &headers, body).await
}

pub async fn log_drain(
    State(st): State<IngestState>,
    sender: Sender,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ingest(&st, Source::LogDrain, &sender, &headers, body).await
}

async fn ingest(
    st: &IngestState,
    source: Source,
    sender: &Sender,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    match receive(st, source, sender, headers, body).await {
        Ok(received) => {
            st.counters.record_batch(source, BatchResult::Accepted);
            Json(received).into_response()
        }
        Err(e) => {
            let result = match e.status {
                StatusCode::PAYLOAD_TOO_LARGE => BatchResult::TooLarge,
                s if s.is_server_error() => BatchResult::Error,
                _ => BatchResult::Invalid,
            };
            st.counters.record_batch(source, result);
            tracing::info!(source = source.as_str(), sender = %sender.0.name, status = e.status.as_u16(),
                code = e.code, "lifecycle batch refused: {}", e.message);
            if result == BatchResult::Error {
                return ([(header::RETRY_AFTER, "5")], e).into_response();
            }
            e.into_response()
        }
    }
}

async fn receive(
    st: &IngestState,
    source: Source,
    sender: &Sender,
    headers: &HeaderMap,
    body: Body,
) -> Result<Received, ApiError> {
    let value = body::read_json(headers, body, &st.limits).await?;
    let (events, max, parse): (&Vec<Value>, usize, fn(&Value) -> Parsed) = match source {
        Source::EdgeRuntime => (
            value.get("events").and_then(Value::as_array).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_batch",
                    "the body must be a JSON object with an `events` array",
                )
            })?,
            st.limits.max_runtime_events,
            runtime::parse,
        ),
        Source::LogDrain => (
            value.as_array().ok_or_else(|| {
                ApiError::bad_request("invalid_batch", "the body must be a JSON array of log events")
            })?,
            st.limits.max_drain_events,
            drain::parse,
        ),
    };
    if events.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!("a batch holds at most {max} events; this one has {}", events.len()),
        ));
    }
    let mut rows = Vec::new();
    let mut ignored: BTreeMap<&'static str, u64> = BTreeMap::new();
    for event in events {
        match parse(event) {
            Parsed::Lifecycle(row) => rows.push(row),
            Parsed::Ignored(why) => *ignored.entry(why).or_default() += 1,
        }
    }
    let outcome = st.store.ingest_lifecycle(source.as_str(), &rows).await.map_err(|e| {
        st.failures.store_error(StorePath::Ingest, &e, source.as_str());
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the log store failed; nothing was written, send the batch again",
        )
    })?;
    let received = Received {
        inserted: outcome.inserted,
        duplicates: outcome.duplicates,
        ignored: ignored.values().sum(),
    };
    st.counters.record_events(source, EventResult::Inserted, received.inserted);
    st.counters.record_events(source, EventResult::Duplicate, received.duplicates);
    st.counters.record_events(source, EventResult::Ignored, received.ignored);
    tracing::debug!(source = source.as_str(), sender = %sender.0.name, inserted = received.inserted,
        duplicates = received.duplicates, ignored = ?ignored, "lifecycle batch received");
    Ok(received)
}
