//! Sync failures: accepted events whose portal sync the sync service gave up on (migration 0007),
//! listed and reprocessed beside the events the webhook refused.
//!
//! An event's sync failure is its latest queue item, an open reprocess of it left aside, when that
//! item is `failed` (given up), or `processing` with a lease that ran out (its worker vanished;
//! the next `sync_claim` returns it to the queue or gives it up). Leaving the open reprocess aside
//! keeps a reprocessed failure listed, flagged pending, until the reprocess succeeds or fails.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::domain::sync::SyncErrorClass;

/// Where an event failed: refused by the webhook, or given up by the portal sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// `rejected` or `failed` at the Edge Function.
    Webhook,
    /// The sync service gave up on it, or its worker vanished.
    Sync,
}

impl Stage {
    pub const ALL: [Stage; 2] = [Stage::Webhook, Stage::Sync];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Webhook => "webhook",
            Stage::Sync => "sync",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// The item is `failed`: the sync service gave up on it. Reprocessable.
    GivenUp,
    /// The item is still `processing` but its lease ran out: the worker vanished. Not enqueued
    /// again (`already_pending`): the next claim returns the item to the queue by itself.
    Abandoned,
}

/// An event's sync failure, as the listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncFailure {
    pub state: SyncState,
    /// One of [`SyncErrorClass`]'s values; `worker_lost` when abandoned.
    pub error_class: String,
    /// The portal's answer to the last attempt, when it gave one.
    pub http_status: Option<i32>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub given_up_at: Option<DateTime<Utc>>,
    pub lease_expired_at: Option<DateTime<Utc>>,
    /// The worker that held the item last.
    pub worker: Option<String>,
}

/// `f` is an event's sync failure (see the module's comment); `now` is the backend's clock.
pub(crate) fn failed_item(now: &str) -> String {
    format!(
        "(f.state = 'failed' OR (f.state = 'processing' AND NOT f.reprocess AND f.lease_until < {now}))
         AND NOT EXISTS (SELECT 1 FROM sync_queue l WHERE l.event_id = f.event_id AND l.id > f.id
                         AND NOT (l.reprocess AND l.state IN ('pending', 'processing')))"
    )
}

/// The error class of sync failure `f`, folded into the vocabulary as the attempt log folds it
/// (a writer may have put anything in `sync_queue.last_error_class`); NULL without a failure.
pub(crate) fn error_class() -> String {
    let known: Vec<String> = SyncErrorClass::ALL.iter().map(|c| format!("'{c}'")).collect();
    format!(
        "CASE WHEN f.id IS NULL THEN NULL WHEN f.state = 'processing' THEN 'worker_lost'
              WHEN f.last_error_class IN ({}) THEN f.last_error_class ELSE 'other' END",
        known.join(", ")
    )
}

/// The listing's columns of sync failure `f` (NULL without one). A give-up's time is that of
/// its logged `gave_up` attempt: a writer that sets `state = 'failed'` by hand rarely moves
/// `updated_at`, but the log's trigger records the attempt all the same.
pub(crate) fn columns(detail_chars: usize) -> String {
    format!(
        "f.state AS sync_state, {class} AS sync_error_class,
         CASE WHEN f.state = 'failed' AND f.last_http_status BETWEEN 100 AND 599
              THEN f.last_http_status END AS sync_http_status,
         f.attempts AS sync_attempts,
         CASE WHEN f.state = 'failed' THEN substr(f.last_error, 1, {detail_chars}) END AS sync_last_error,
         CASE WHEN f.state = 'failed' THEN coalesce(
             (SELECT max(a.finished_at) FROM sync_attempts a
              WHERE a.item_id = f.id AND a.queue = 'sync_queue' AND a.outcome = 'gave_up'),
             f.updated_at) END AS sync_given_up_at,
         CASE WHEN f.state = 'processing' THEN f.lease_until END AS sync_lease_expired_at,
         f.claimed_by AS sync_worker",
        class = error_class()
    )
}

/// Decodes [`columns`]; `None` for an event without a sync failure.
pub(crate) fn decode<R: Row>(r: &R) -> Option<SyncFailure>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    i32: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let state = match r.get::<Option<String>, _>("sync_state")?.as_str() {
        "failed" => SyncState::GivenUp,
        _ => SyncState::Abandoned,
    };
    Some(SyncFailure {
        state,
        error_class: r.get("sync_error_class"),
        http_status: r.get("sync_http_status"),
        attempts: r.get("sync_attempts"),
        last_error: r.get("sync_last_error"),
        given_up_at: r.get("sync_given_up_at"),
        lease_expired_at: r.get("sync_lease_expired_at"),
        worker: r.get("sync_worker"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_page_lists_the_error_classes_and_stages_parse() {
        let classes: Vec<&str> = SyncErrorClass::ALL.iter().map(|c| c.as_str()).collect();
        let options = crate::admin::select_options("f-sync-class");
        assert_eq!(options, classes, "the admin page's sync error class filter");
        assert_eq!(Stage::parse("sync"), Some(Stage::Sync));
        assert_eq!(Stage::parse("Sync"), None);
    }
}
