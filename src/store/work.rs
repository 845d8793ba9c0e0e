//! What the sync service's work exchanges: claims, claimed items, finishes and attempt records,
//! and how an attempt's class and detail are logged. Plain data shared by the queue
//! implementations, the history writer and the simulator.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::sync::{SyncErrorClass, SyncOutcome};

/// An item handed to a worker by a claim: it holds it until its lease runs out.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedItem {
    pub item_id: i64,
    pub event_id: Uuid,
    pub org_id: String,
    /// This attempt's number (1 for the first); finishing names it, so that a worker whose lease
    /// ran out cannot finish an attempt that is no longer its own.
    pub attempt: i32,
    pub reprocess: bool,
    pub received_at: Option<DateTime<Utc>>,
    pub entity_name: Option<String>,
}

/// How a claim hands out work.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub worker: &'a str,
    pub limit: i64,
    pub lease: std::time::Duration,
    /// Attempts after which an item whose worker vanished is given up instead of returned.
    pub max_attempts: i32,
}

/// The end of an attempt.
#[derive(Debug, Clone)]
pub struct Finish {
    /// `Succeeded`, `Retrying` or `GaveUp` (abandonment is the claim's to record).
    pub outcome: SyncOutcome,
    pub error_class: Option<SyncErrorClass>,
    pub http_status: Option<i32>,
    pub error_detail: Option<String>,
    /// For `Retrying`: how long before the item is handed out again.
    pub retry_in: std::time::Duration,
}

impl Finish {
    pub fn succeeded() -> Finish {
        Finish {
            outcome: SyncOutcome::Succeeded,
            error_class: None,
            http_status: None,
            error_detail: None,
            retry_in: std::time::Duration::ZERO,
        }
    }

    pub fn failed(outcome: SyncOutcome, class: SyncErrorClass, status: Option<i32>, detail: &str) -> Finish {
        Finish {
            outcome,
            error_class: Some(class),
            http_status: status,
            error_detail: Some(detail.to_string()),
            retry_in: std::time::Duration::ZERO,
        }
    }
}

/// An attempt recorded directly, by a sync service whose queue is not the `sync_queue` table.
#[derive(Debug, Clone)]
pub struct AttemptRecord<'a> {
    pub event_id: Uuid,
    pub org_id: &'a str,
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub finish: &'a Finish,
    pub worker: Option<&'a str>,
    pub item_id: Option<i64>,
    pub reprocess: bool,
    pub queue: &'a str,
}

/// The class an attempt is logged with, as `sync_error_class()` folds it.
pub(crate) fn logged_class(outcome: SyncOutcome, class: Option<SyncErrorClass>) -> Option<&'static str> {
    match outcome {
        SyncOutcome::Succeeded => None,
        SyncOutcome::Abandoned => Some(SyncErrorClass::WorkerLost.as_str()),
        _ => Some(class.unwrap_or(SyncErrorClass::Other).as_str()),
    }
}

/// An error detail as the functions keep it (`left(detail, 2000)`).
pub(crate) fn logged_detail(text: Option<&str>) -> Option<String> {
    text.map(|t| t.chars().take(2000).collect())
}
