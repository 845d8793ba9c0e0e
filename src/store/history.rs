//! A queue item's life replayed in memory, step by step as `sync_claim` and `sync_finish`
//! (migration 0007) change its row and log its attempts, for a writer that knows the past: the
//! simulator's history, written in bulk by `Store::insert_traffic`. The functions stamp `now()`,
//! so they cannot write the past themselves; this writes what they would have written then.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::work::{logged_class, logged_detail, Finish};
use crate::domain::sync::{SyncErrorClass, SyncOutcome};

/// A `sync_queue` state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    Pending,
    Processing,
    Done,
    Failed,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Processing => "processing",
            ItemState::Done => "done",
            ItemState::Failed => "failed",
        }
    }
}

/// One `sync_attempts` row as `sync_record_attempt()` writes it (with the item's id, once the
/// item is inserted, and its event's `received_at`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedAttempt {
    pub attempt: i32,
    pub worker: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: SyncOutcome,
    pub error_class: Option<&'static str>,
    pub http_status: Option<i32>,
    pub error_detail: Option<String>,
}

/// A `sync_queue` row (not a reprocess item) and the attempts logged for it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedItem {
    pub org_id: String,
    pub event_id: Uuid,
    pub enqueued_at: DateTime<Utc>,
    /// The event's receive time, which its attempts copy (`sync_record_attempt()` looks it up).
    pub received_at: Option<DateTime<Utc>>,
    pub state: ItemState,
    pub updated_at: DateTime<Utc>,
    pub attempts: i32,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub lease_until: Option<DateTime<Utc>>,
    pub visible_at: Option<DateTime<Utc>>,
    pub last_error_class: Option<&'static str>,
    pub last_http_status: Option<i32>,
    pub last_error: Option<String>,
    pub log: Vec<LoggedAttempt>,
}

impl QueuedItem {
    /// As the Edge Function enqueues an accepted event (received at `at`, enqueued at once).
    pub fn enqueued(org_id: &str, event_id: Uuid, at: DateTime<Utc>) -> QueuedItem {
        QueuedItem {
            org_id: org_id.to_string(),
            event_id,
            enqueued_at: at,
            received_at: Some(at),
            state: ItemState::Pending,
            updated_at: at,
            attempts: 0,
            claimed_by: None,
            claimed_at: None,
            lease_until: None,
            visible_at: None,
            last_error_class: None,
            last_http_status: None,
            last_error: None,
            log: Vec::new(),
        }
    }

    /// Whether a claim at `at` may hand the item out.
    pub fn claimable(&self, at: DateTime<Utc>) -> bool {
        self.state == ItemState::Pending && self.visible_at.map_or(true, |v| v <= at)
    }

    /// `sync_claim` handing the item to `worker` at `at`; returns the attempt's number.
    pub fn claim(&mut self, worker: &str, at: DateTime<Utc>, lease: chrono::Duration) -> i32 {
        self.state = ItemState::Processing;
        self.attempts += 1;
        self.claimed_by = Some(worker.to_string());
        self.claimed_at = Some(at);
        self.lease_until = Some(at + lease);
        self.updated_at = at;
        self.attempts
    }

    /// `sync_finish` of the current attempt at `at`.
    pub fn finish(&mut self, f: &Finish, at: DateTime<Utc>) {
        self.record(f.outcome, f.error_class, f.http_status, f.error_detail.as_deref(), at);
        self.state = match f.outcome {
            SyncOutcome::Succeeded => ItemState::Done,
            SyncOutcome::Retrying => ItemState::Pending,
            _ => ItemState::Failed,
        };
        self.visible_at = (f.outcome == SyncOutcome::Retrying)
            .then(|| at + chrono::Duration::from_std(f.retry_in).unwrap_or(chrono::Duration::MAX));
        self.lease_until = None;
        self.updated_at = at;
        self.last_error_class = logged_class(f.outcome, f.error_class);
        self.last_http_status = f.http_status;
        self.last_error = match f.outcome {
            SyncOutcome::Succeeded => None,
            _ => logged_detail(f.error_detail.as_deref()),
        };
    }

    /// `sync_claim` at `at` finding the current attempt's lease ran out: logged `abandoned`, or
    /// `gave_up` once the item has had `max_attempts`; returns which.
    pub fn lose(&mut self, at: DateTime<Utc>, max_attempts: i32) -> SyncOutcome {
        let give_up = self.attempts >= max_attempts;
        let outcome = if give_up { SyncOutcome::GaveUp } else { SyncOutcome::Abandoned };
        let worker = self.claimed_by.clone().unwrap_or_default();
        let ran_out = self.lease_until.map(|t| t.to_rfc3339()).unwrap_or_default();
        let detail = format!("lease of worker {worker} ran out at {ran_out}");
        self.record(outcome, Some(SyncErrorClass::WorkerLost), None, Some(&detail), at);
        self.state = if give_up { ItemState::Failed } else { ItemState::Pending };
        self.claimed_by = None;
        self.lease_until = None;
        self.visible_at = None;
        self.updated_at = at;
        self.last_error_class = Some(SyncErrorClass::WorkerLost.as_str());
        self.last_http_status = None;
        self.last_error = Some(format!("lease of worker {worker} ran out"));
        outcome
    }

    fn record(
        &mut self,
        outcome: SyncOutcome,
        class: Option<SyncErrorClass>,
        status: Option<i32>,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) {
        self.log.push(LoggedAttempt {
            attempt: self.attempts.max(1),
            worker: self.claimed_by.as_ref().map(|w| w.chars().take(200).collect()),
            started_at: self.claimed_at.unwrap_or(at).min(at),
            finished_at: at,
            outcome,
            error_class: logged_class(outcome, class),
            http_status: status,
            error_detail: logged_detail(detail),
        });
    }
}
