//! The reprocessing flow's data: filters, selections, dispositions, audit rows, outcomes, and
//! how a listing's and a selection's rows decode (shared by both backends' statements).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use super::sync_failure::{self, Stage, SyncFailure};
use crate::domain::UNKNOWN_ORG;

/// Which error events a listing or a reprocess request selects. Empty lists and `None` match all.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventFilter {
    pub orgs: Vec<String>,
    /// `rejected` or `failed`; error events only in any case.
    pub outcome: Option<String>,
    pub reasons: Vec<String>,
    pub status_code: Option<i32>,
    /// Inclusive.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive.
    pub until: Option<DateTime<Utc>>,
    pub stage: Option<Stage>,
    /// Sync failures of these error classes only.
    pub sync_error_classes: Vec<String>,
    /// The events the collector counts as unaccounted for: the candidates of the stage
    /// `unaccounted`, each checked against the store (not part of what the caller selected).
    #[serde(skip)]
    pub unaccounted: Vec<Uuid>,
}

/// Position in a newest-first listing: the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub received_at: DateTime<Utc>,
    pub id: i64,
}

/// One rejected or failed event, or one whose sync failed, as the listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorEvent {
    pub id: i64,
    pub event_id: Uuid,
    pub org_id: String,
    pub received_at: DateTime<Utc>,
    pub outcome: String,
    pub http_status: i32,
    pub rejection_reason: Option<String>,
    pub error_detail: Option<String>,
    pub reprocess_pending: bool,
    pub sync_failure: Option<SyncFailure>,
}

/// What a reprocess request selects.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Distinct event ids.
    Ids(Vec<Uuid>),
    Filter(EventFilter),
}

/// What happened to one selected event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Enqueued,
    /// Dry run: would have been enqueued.
    WouldEnqueue,
    AlreadyPending,
    NotFound,
    /// Accepted events are reprocessed only when their sync failed.
    NotEligible,
}

/// Per-request figures, as the audit row keeps them. In a dry run `enqueued` counts the events
/// that would have been enqueued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub requested: i32,
    pub enqueued: i32,
    pub already_pending: i32,
    pub not_found: i32,
    pub not_eligible: i32,
}

/// One row of `reprocess_requests`.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub request_id: Uuid,
    pub requested_at: DateTime<Utc>,
    pub principal: String,
    /// `token` or `jwt`.
    pub auth_method: &'static str,
    pub remote_addr: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub dry_run: bool,
    pub selection: Option<serde_json::Value>,
    /// `completed`, `dry_run`, `replayed`, `rejected` or `failed`.
    pub status: &'static str,
    pub http_status: i32,
    pub counts: Counts,
    pub error_code: Option<String>,
    pub response: Option<String>,
}

/// A reprocess request, ready to run.
#[derive(Debug, Clone)]
pub struct ReprocessCommand {
    /// Status, counts and response are filled in by [`Store::reprocess`].
    pub audit: AuditRow,
    pub selection: Selection,
    pub max_batch: usize,
}

/// The events of a request and what happened to each, in selection order.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub events: Vec<(Uuid, Disposition)>,
    /// Enqueued events by org label (`_unknown` for orgs that are not configured).
    pub enqueued_by_org: BTreeMap<String, u64>,
}

impl Resolution {
    pub fn counts(&self) -> Counts {
        let mut c = Counts { requested: self.events.len() as i32, ..Counts::default() };
        for (_, d) in &self.events {
            match d {
                Disposition::Enqueued | Disposition::WouldEnqueue => c.enqueued += 1,
                Disposition::AlreadyPending => c.already_pending += 1,
                Disposition::NotFound => c.not_found += 1,
                Disposition::NotEligible => c.not_eligible += 1,
            }
        }
        c
    }
}

/// The response of a completed request, stored for replays.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub http_status: u16,
    pub body: String,
}

#[derive(Debug, Clone)]
pub enum ReprocessOutcome {
    Completed {
        resolution: Resolution,
        response: StoredResponse,
    },
    /// The Idempotency-Key was used before with the same request: its stored response.
    Replayed(StoredResponse),
    /// The Idempotency-Key was used before with a different request.
    KeyReused,
    /// The filter matches more events than one request may enqueue.
    TooMany {
        matched: i64,
    },
}

/// A selected event before its disposition is known.
pub(crate) struct Candidate {
    pub event_id: Uuid,
    pub org_id: String,
    pub org_label: String,
    /// Refused by the webhook, sync failed, or an item of it is open (then already pending).
    pub eligible: bool,
}

/// Error details can be long stack traces; a listing shows their start.
pub(crate) const DETAIL_CHARS: usize = 2000;

pub(crate) fn error_event<R: Row>(event_id: Uuid, r: &R) -> ErrorEvent
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i32: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    ErrorEvent {
        id: r.get("id"),
        event_id,
        org_id: r.get("org_id"),
        received_at: r.get("received_at"),
        outcome: r.get("outcome"),
        http_status: r.get("http_status"),
        rejection_reason: r.get("rejection_reason"),
        error_detail: r.get("error_detail"),
        reprocess_pending: r.get("pending"),
        sync_failure: sync_failure::decode(r),
    }
}

pub(crate) fn candidate<R: Row>(event_id: Uuid, r: &R) -> Candidate
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let org_id: String = r.get("org_id");
    let known: bool = r.get("known");
    // Metric labels only for configured orgs, so that a writer cannot create series at will.
    let org_label = if known { org_id.clone() } else { UNKNOWN_ORG.to_string() };
    Candidate { event_id, org_id, org_label, eligible: r.get("eligible") }
}
