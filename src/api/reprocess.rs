//! POST /api/v1/reprocess: re-enqueue rejected or failed events, and accepted events whose sync
//! failed, for the portal sync service, with the reprocessing flag, atomically and idempotently
//! (see `store::reprocess`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::body;
use super::filter::{parse_event_id, present, FilterInput};
use super::guard::Admin;
use super::state::ApiState;
use crate::access::auth::Principal;
use crate::access::ApiError;
use crate::failure_counters::StorePath;
use crate::reprocess_counters::RequestResult;
use crate::store::reprocess::{
    AuditRow, Counts, Disposition, ReprocessCommand, ReprocessOutcome, Resolution, Selection, StoredResponse,
};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

/// The request body, as sent.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReprocessBody {
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub event_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterInput>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
struct Totals {
    requested: i32,
    enqueued: i32,
    would_enqueue: i32,
    already_pending: i32,
    not_found: i32,
    not_eligible: i32,
}

#[derive(Debug, Serialize)]
struct EventResult {
    event_id: String,
    result: Disposition,
}

#[derive(Debug, Serialize)]
struct ReprocessResponse {
    request_id: String,
    dry_run: bool,
    totals: Totals,
    results: Vec<EventResult>,
}

/// What a request was about, for the audit row, once it is known.
struct Context {
    principal: Principal,
    remote_addr: Option<String>,
    request_id: Uuid,
    idempotency_key: Option<String>,
}

pub async fn create(State(api): State<ApiState>, Admin(principal): Admin, request: Request) -> Response {
    let remote_addr = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string());
    let (parts, body) = request.into_parts();
    let mut ctx = Context { principal, remote_addr, request_id: Uuid::new_v4(), idempotency_key: None };
    match run(&api, &mut ctx, &parts.headers, body).await {
        Ok(response) => response,
        Err((e, selection, dry_run)) => {
            let result =
                if e.status.is_server_error() { RequestResult::Error } else { RequestResult::Rejected };
            api.counters.record_request(result);
            let status = if e.status.is_server_error() { "failed" } else { "rejected" };
            let row = audit_row(
                &ctx,
                None,
                dry_run,
                selection,
                status,
                e.status.as_u16().into(),
                Some(e.code),
                Some(e.json()),
            );
            if let Err(err) = api.store.record_audit(&row).await {
                api.failures.store_error(StorePath::ReprocessAudit, &err, &ctx.request_id.to_string());
            }
            e.into_response()
        }
    }
}

type Failure = (ApiError, Option<serde_json::Value>, bool);

async fn run(
    api: &ApiState,
    ctx: &mut Context,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Response, Failure> {
    ctx.idempotency_key = idempotency_key(headers).map_err(|e| (e, None, false))?;
    let bytes = body::read(headers, body, api.limits.max_body_bytes).await.map_err(|e| (e, None, false))?;
    let request: ReprocessBody = body::parse(&bytes).map_err(|e| (e, None, false))?;
    let selection_json = serde_json::to_value(&request).ok();
    let fail = |e: ApiError| (e, selection_json.clone(), request.dry_run);
    let mut selection = selection(&request, api.limits.max_batch).map_err(fail)?;
    if let Selection::Filter(filter) = &mut selection {
        api.find_unaccounted(filter).await;
    }
    // The normalized request, so that a replay with other whitespace or key order still matches.
    let request_hash = hex::encode(Sha256::digest(serde_json::to_vec(&request).unwrap_or_default()));

    let mut audit = audit_row(
        ctx,
        Some(request_hash),
        request.dry_run,
        selection_json.clone(),
        "completed",
        200,
        None,
        None,
    );
    audit.requested_at = Utc::now();
    let cmd = ReprocessCommand { audit, selection, max_batch: api.limits.max_batch };
    let dry_run = request.dry_run;
    let request_id = ctx.request_id;
    let outcome =
        api.store.reprocess(cmd, |resolution| render(request_id, dry_run, resolution)).await.map_err(
            |e| {
                api.failures.store_error(StorePath::Reprocess, &e, &request_id.to_string());
                fail(ApiError::internal())
            },
        )?;
    match outcome {
        ReprocessOutcome::Completed { resolution, response } => {
            let counts = resolution.counts();
            if dry_run {
                api.counters.record_request(RequestResult::DryRun);
            } else {
                api.counters.record_request(RequestResult::Enqueued);
                api.counters.record_enqueued(&resolution.enqueued_by_org);
            }
            tracing::info!(
                request_id = %request_id,
                principal = %ctx.principal.name,
                dry_run,
                requested = counts.requested,
                enqueued = counts.enqueued,
                already_pending = counts.already_pending,
                not_found = counts.not_found,
                not_eligible = counts.not_eligible,
                "reprocess request completed"
            );
            Ok(stored_response(response, false))
        }
        ReprocessOutcome::Replayed(stored) => {
            api.counters.record_request(RequestResult::Replayed);
            let row = audit_row(
                ctx,
                None,
                dry_run,
                selection_json,
                "replayed",
                stored.http_status.into(),
                None,
                None,
            );
            if let Err(err) = api.store.record_audit(&row).await {
                api.failures.store_error(StorePath::ReprocessAudit, &err, &request_id.to_string());
            }
            Ok(stored_response(stored, true))
        }
        ReprocessOutcome::KeyReused => Err(fail(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request; use a new key for a new request",
        ))),
        ReprocessOutcome::TooMany { matched } => {
            Err(fail(batch_too_large(format!("the filter matches {matched} events"), api.limits.max_batch)))
        }
    }
}

fn batch_too_large(what: String, max: usize) -> ApiError {
    ApiError::unprocessable(
        "batch_too_large",
        format!("{what}; at most {max} events may be reprocessed per request (--api.max-batch): narrow the selection"),
    )
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else { return Ok(None) };
    let bad = || {
        ApiError::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key must be given once, 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )
    };
    if values.next().is_some() {
        return Err(bad());
    }
    let text = value.to_str().map_err(|_| bad())?;
    if text.is_empty() || text.len() > MAX_KEY_LEN || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(text.to_string()))
}

fn selection(request: &ReprocessBody, max_batch: usize) -> Result<Selection, ApiError> {
    match (&request.event_ids, &request.filter) {
        (Some(ids), None) => {
            if ids.is_empty() {
                return Err(ApiError::unprocessable(
                    "invalid_selection",
                    "event_ids must list at least one event",
                ));
            }
            if ids.len() > max_batch {
                return Err(batch_too_large(format!("event_ids lists {} events", ids.len()), max_batch));
            }
            let mut out = Vec::with_capacity(ids.len());
            for (i, text) in ids.iter().enumerate() {
                let id = parse_event_id(&format!("event_ids[{i}]"), text)?;
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            Ok(Selection::Ids(out))
        }
        (None, Some(filter)) => Ok(Selection::Filter(filter.validate()?)),
        _ => Err(ApiError::unprocessable("invalid_selection", "give exactly one of event_ids and filter")),
    }
}

fn render(request_id: Uuid, dry_run: bool, resolution: &Resolution) -> StoredResponse {
    let Counts { requested, enqueued, already_pending, not_found, not_eligible } = resolution.counts();
    let (enqueued, would_enqueue) = if dry_run { (0, enqueued) } else { (enqueued, 0) };
    let response = ReprocessResponse {
        request_id: request_id.to_string(),
        dry_run,
        totals: Totals { requested, enqueued, would_enqueue, already_pending, not_found, not_eligible },
        results: resolution
            .events
            .iter()
            .map(|(id, d)| EventResult { event_id: id.to_string(), result: *d })
            .collect(),
    };
    StoredResponse {
        http_status: 200,
        body: serde_json::to_string(&response).expect("a reprocess response serializes"),
    }
}

fn stored_response(stored: StoredResponse, replayed: bool) -> Response {
    let status = StatusCode::from_u16(stored.http_status).unwrap_or(StatusCode::OK);
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], stored.body).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

#[allow(clippy::too_many_arguments)]
fn audit_row(
    ctx: &Context,
    request_hash: Option<String>,
    dry_run: bool,
    selection: Option<serde_json::Value>,
    status: &'static str,
    http_status: i32,
    error_code: Option<&str>,
    response: Option<String>,
) -> AuditRow {
    AuditRow {
        // Each HTTP request commits exactly one audit row, under its own id.
        request_id: ctx.request_id,
        requested_at: Utc::now(),
        principal: ctx.principal.name.clone(),
        auth_method: ctx.principal.method.as_str(),
        remote_addr: ctx.remote_addr.clone(),
        idempotency_key: ctx.idempotency_key.clone(),
        request_hash,
        dry_run,
        selection,
        status,
        http_status,
        counts: Counts::default(),
        error_code: error_code.map(str::to_string),
        response,
    }
}

#[cfg(test)]
mod openapi_tests {
    use super::super::filter::FilterInput;
    use super::super::openapi::{field_names, schema_properties};
    use super::*;

    #[test]
    fn the_openapi_document_names_the_fields_and_values_the_handler_uses() {
        const SCHEMAS: &str = "/components/schemas";
        let totals = Totals {
            requested: 0,
            enqueued: 0,
            would_enqueue: 0,
            already_pending: 0,
            not_found: 0,
            not_eligible: 0,
        };
        let result = EventResult { event_id: String::new(), result: Disposition::Enqueued };
        let results = format!("{SCHEMAS}/ReprocessResponse/properties/results/items/properties");
        assert_eq!(field_names(&result), schema_properties(&results));
        let response =
            ReprocessResponse { request_id: String::new(), dry_run: false, totals, results: vec![result] };
        assert_eq!(
            field_names(&response),
            schema_properties(&format!("{SCHEMAS}/ReprocessResponse/properties"))
        );
        assert_eq!(
            field_names(&response.totals),
            schema_properties(&format!("{SCHEMAS}/ReprocessResponse/properties/totals/properties"))
        );

        let filter = FilterInput {
            orgs: Vec::new(),
            since: String::new(),
            until: Some(String::new()),
            outcome: Some(String::new()),
            reasons: Some(Vec::new()),
            status_code: Some(0),
            stage: Some(String::new()),
            sync_error_classes: Some(Vec::new()),
        };
        assert_eq!(field_names(&filter), schema_properties(&format!("{SCHEMAS}/Filter/properties")));
        let by_ids = ReprocessBody { event_ids: Some(Vec::new()), filter: None, dry_run: false };
        assert_eq!(
            field_names(&by_ids),
            schema_properties(&format!("{SCHEMAS}/ReprocessRequest/oneOf/0/properties"))
        );
        let by_filter = ReprocessBody { event_ids: None, filter: Some(filter), dry_run: false };
        assert_eq!(
            field_names(&by_filter),
            schema_properties(&format!("{SCHEMAS}/ReprocessRequest/oneOf/1/properties"))
        );

        // Every disposition the store can give is an enum value of the document, and nothing else.
        let doc: serde_json::Value = serde_json::from_str(super::super::openapi::TEMPLATE).unwrap();
        let values = doc
            .pointer(&format!("{SCHEMAS}/ReprocessResponse/properties/results/items/properties/result/enum"))
            .unwrap();
        let all = [
            Disposition::Enqueued,
            Disposition::WouldEnqueue,
            Disposition::AlreadyPending,
            Disposition::NotFound,
            Disposition::NotEligible,
        ];
        assert_eq!(values, &serde_json::to_value(all).unwrap());
    }
}
