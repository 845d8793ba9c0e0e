//! Sync failures: accepted events whose portal sync the sync service gave up on (migration 0007),
//! listed and reprocessed beside the events the webhook refused; and accepted events that are
//! unaccounted for (the exporter's `webhook_sync_window_events_unaccounted`).
//!
//! Which events have a sync failure is the queue implementation's to say (`SyncQueue::failures`:
//! given up, or in flight past its lease); it gives one relation `f` of the same columns for every
//! queue, which this file lists and decodes. The unaccounted events are the same for every queue
//! ([`unaccounted`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::store::queue::SyncQueue;

/// Where an event failed: refused by the webhook, or given up by the portal sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// `rejected` or `failed` at the Edge Function.
    Webhook,
    /// The sync service gave up on it, or its worker vanished.
    Sync,
    /// Accepted, yet neither synced, nor waiting or in flight, nor given up: lost between the
    /// webhook and the portal without an error anywhere. Listed only when asked for by name, from
    /// the collector's candidates (`EventFilter::unaccounted`).
    Unaccounted,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Webhook, Stage::Sync, Stage::Unaccounted];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Webhook => "webhook",
            Stage::Sync => "sync",
            Stage::Unaccounted => "unaccounted",
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
    /// No open item, no logged success or give-up (see [`Stage::Unaccounted`]). Reprocessable.
    Unaccounted,
}

/// An event's sync failure, as the listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncFailure {
    pub state: SyncState,
    /// One of [`SyncErrorClass`]'s values; `worker_lost` when abandoned; none when unaccounted.
    pub error_class: Option<String>,
    /// The portal's answer to the last attempt, when it gave one.
    pub http_status: Option<i32>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub given_up_at: Option<DateTime<Utc>>,
    pub lease_expired_at: Option<DateTime<Utc>>,
    /// The worker that held the item last.
    pub worker: Option<String>,
}

/// The listing's columns of sync failure `f` (NULL without one).
pub(crate) fn columns(detail_chars: usize) -> String {
    format!(
        "f.state AS sync_state, f.error_class AS sync_error_class, f.http_status AS sync_http_status,
         f.attempts AS sync_attempts, substr(f.last_error, 1, {detail_chars}) AS sync_last_error,
         f.given_up_at AS sync_given_up_at, f.lease_expired_at AS sync_lease_expired_at,
         f.worker AS sync_worker"
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
        "unaccounted" => SyncState::Unaccounted,
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

/// Whether accepted event `e` is unaccounted for: no open item, no logged success or give-up, no
/// sync failure of the queue's (an item `failed` by a plain UPDATE), as the collector counts it. `now`
/// the backend's clock. Received after `since`, a parameter of the caller's: the exporter's
/// longest window, the figure's horizon (older events may have lost their attempts to the
/// attempt log's retention, not to the pipeline). Only attempts finished after `since` count, as
/// the collector counts them (it reads the window's attempts at start).
pub(crate) fn unaccounted(q: &SyncQueue, e: &str, now: &str, since: &str) -> String {
    format!(
        "({e}.outcome = 'accepted' AND {e}.received_at > {since}
          AND NOT {open}
          AND NOT EXISTS (SELECT 1 FROM sync_attempts a WHERE a.event_id = {e}.event_id
                          AND a.outcome IN ('succeeded', 'gave_up') AND a.finished_at > {since})
          AND NOT EXISTS (SELECT 1 FROM {failures} g WHERE g.event_id = {e}.event_id))",
        open = q.open_item(&format!("{e}.event_id"), false),
        failures = q.failures(now),
    )
}

/// The unaccounted events among the candidates `ids` (an SQL condition on `u.event_id`: the
/// collector's, checked here against the store as of the request) as a relation of the failures'
/// columns (see [`columns`]), only while `wanted` (evaluated once) holds: its attempts those
/// logged of the event, its last error and worker the last attempt's.
pub(crate) fn unaccounted_relation(q: &SyncQueue, now: &str, since: &str, ids: &str, wanted: &str) -> String {
    let last = |column: &str| {
        format!(
            "(SELECT a.{column} FROM sync_attempts a WHERE a.event_id = u.event_id
              ORDER BY a.finished_at DESC, a.id DESC LIMIT 1)"
        )
    };
    format!(
        "(SELECT u.id, u.event_id, 'unaccounted' AS state, CAST(NULL AS text) AS error_class,
                 CAST(NULL AS integer) AS http_status,
                 (SELECT CAST(count(*) AS integer) FROM sync_attempts a WHERE a.event_id = u.event_id) AS attempts,
                 {error} AS last_error, CAST(NULL AS timestamptz) AS given_up_at,
                 CAST(NULL AS timestamptz) AS lease_expired_at, {worker} AS worker
          FROM webhook_events u WHERE {wanted} AND {ids} AND {cond})",
        error = last("error_detail"),
        worker = last("worker"),
        cond = unaccounted(q, "u", now, since),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sync::SyncErrorClass;

    #[test]
    fn the_admin_page_lists_the_error_classes_and_stages_parse() {
        let classes: Vec<&str> = SyncErrorClass::ALL.iter().map(|c| c.as_str()).collect();
        let options = crate::admin::select_options("f-sync-class");
        assert_eq!(options, classes, "the admin page's sync error class filter");
        assert_eq!(Stage::parse("sync"), Some(Stage::Sync));
        assert_eq!(Stage::parse("Sync"), None);
    }
}
