//! The SQL that selects events for the listing and for reprocessing, written once for both
//! backends: a [`Dialect`] supplies what differs (typed parameters, list parameters, the clock).
//!
//! The events are those the webhook refused and those whose sync failed ([`sync_failure`]). Each
//! comes from its own branch, cut to the page in the requested order before the two are merged,
//! so that each can use its own index: `webhook_events_errors` (refused events) and the queue
//! implementation's failures (`SyncQueue::failures`: on the table, `sync_queue_failed` /
//! `sync_queue_in_flight`). The queue's open items come from `SyncQueue::open_item`.
//!
//! The accepted events that are unaccounted for come from a third branch, evaluated only for the
//! stage `unaccounted`: the collector's candidates, each checked against the store.
//!
//! Parameters of every filter: $1 orgs, $2 outcome, $3 reasons, $4 status code, $5 since,
//! $6 until, $7 stage, $8 sync error classes, $9 the horizon of unaccounted events, $10 the
//! candidate unaccounted events (ids).

use super::sync_failure;
use super::types::DETAIL_CHARS;
use crate::store::queue::SyncQueue;

pub(crate) struct Dialect {
    /// Parameter `$n` of SQL type `ty`, typed where the backend needs it (compared with NULL).
    pub param: fn(usize, &str) -> String,
    /// `expr` is in list parameter `$n`, or that list is empty.
    pub in_list: fn(&str, usize) -> String,
    /// Event id `expr` is in the id list parameter `$n` (none when it is empty).
    pub in_ids: fn(&str, usize) -> String,
    /// The current time, comparable with the store's timestamps.
    pub now: &'static str,
}

/// The filter's conditions on event `e` and its sync failure `f` (NULL when it has none).
fn filter(d: &Dialect) -> String {
    let p = d.param;
    format!(
        "{orgs}
         AND ({outcome} IS NULL OR e.outcome = $2)
         AND {reasons}
         AND ({status} IS NULL OR e.http_status = $4)
         AND ({since} IS NULL OR e.received_at >= $5)
         AND ({until} IS NULL OR e.received_at < $6)
         AND ({stage} IS NULL OR ($7 = 'webhook' AND e.outcome <> 'accepted')
                              OR ($7 = 'sync' AND f.id IS NOT NULL)
                              OR ($7 = 'unaccounted' AND f.state = 'unaccounted'))
         AND {classes}",
        orgs = (d.in_list)("e.org_id", 1),
        outcome = p(2, "text"),
        reasons = (d.in_list)("e.rejection_reason", 3),
        status = p(4, "integer"),
        since = p(5, "timestamptz"),
        until = p(6, "timestamptz"),
        stage = p(7, "text"),
        classes = (d.in_list)("f.error_class", 8),
    )
}

#[derive(Clone, Copy)]
enum Order {
    NewestFirst,
    OldestFirst,
}

/// Both branches with `columns`, `filter` and `extra`, each cut to `limit` (when given) in `order`.
fn union(
    d: &Dialect,
    q: &SyncQueue,
    columns: &str,
    extra: &str,
    order: Order,
    limit: Option<&str>,
) -> String {
    let dir = match order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    let cut = |by: &str| match limit {
        Some(l) => format!("ORDER BY {by} LIMIT {l}"),
        None => String::new(),
    };
    let inner = cut(&format!("e.received_at {dir}, e.id {dir}"));
    let (failures, filter) = (q.failures(d.now), filter(d));
    let wanted = format!("{} = 'unaccounted'", (d.param)(7, "text"));
    let since = (d.param)(9, "timestamptz");
    let unaccounted =
        sync_failure::unaccounted_relation(q, d.now, &since, &(d.in_ids)("u.event_id", 10), &wanted);
    format!(
        "SELECT * FROM (
           SELECT * FROM (
             SELECT {columns} FROM webhook_events e
             LEFT JOIN {failures} f ON f.event_id = e.event_id
             WHERE e.outcome IN ('rejected', 'failed') AND e.outcome <> 'accepted' AND {filter} {extra}
             {inner}) AS refused
           UNION ALL
           SELECT * FROM (
             SELECT {columns} FROM {failures} f JOIN webhook_events e ON e.event_id = f.event_id
             WHERE e.outcome = 'accepted' AND {filter} {extra}
             {inner}) AS unsynced
           UNION ALL
           SELECT * FROM (
             SELECT {columns} FROM {unaccounted} f JOIN webhook_events e ON e.id = f.id
             WHERE {filter} {extra}
             {inner}) AS unaccounted
         ) AS hits {outer}",
        outer = cut(&format!("received_at {dir}, id {dir}")),
    )
}

/// A page of the listing: $11 and $12 the cursor (time and id, or NULL), $13 the page size.
pub(crate) fn listing(d: &Dialect, q: &SyncQueue) -> String {
    let columns = format!(
        "e.id, e.event_id, e.org_id, e.received_at, e.outcome, e.http_status, e.rejection_reason,
         substr(e.error_detail, 1, {DETAIL_CHARS}) AS error_detail, {} AS pending, {}",
        q.open_item("e.event_id", true),
        sync_failure::columns(DETAIL_CHARS)
    );
    let cursor =
        format!("AND ({} IS NULL OR (e.received_at, e.id) < ($11, $12))", (d.param)(11, "timestamptz"));
    union(d, q, &columns, &cursor, Order::NewestFirst, Some("$13"))
}

/// Whether event `e`'s org is configured and active (metric labels name only those).
const KNOWN: &str = "EXISTS (SELECT 1 FROM organizations o WHERE o.org_id = e.org_id AND o.active) AS known";

/// The events a reprocess filter selects, oldest first, at most $11.
pub(crate) fn lookup_filter(d: &Dialect, q: &SyncQueue) -> String {
    let columns = format!("e.event_id, e.org_id, e.received_at, e.id, true AS eligible, {KNOWN}");
    union(d, q, &columns, "", Order::OldestFirst, Some("$11"))
}

pub(crate) fn count_filter(d: &Dialect, q: &SyncQueue) -> String {
    format!("SELECT count(*) FROM ({}) AS matched", union(d, q, "e.id", "", Order::OldestFirst, None))
}

/// The events of a reprocess request by ids (`ids` the backend's condition on `e.event_id`, $1;
/// $2 the horizon of unaccounted events). An event is eligible when refused by the webhook, when
/// its sync failed, when it is unaccounted for, or when an item of it is open (then it is found
/// already pending); an accepted event synced, or older than the horizon and never queued, is not.
pub(crate) fn lookup_ids(d: &Dialect, q: &SyncQueue, ids: &str) -> String {
    format!(
        "SELECT e.event_id, e.org_id, {KNOWN},
                (e.outcome IN ('rejected', 'failed') OR f.event_id IS NOT NULL OR {open} OR {lost}) AS eligible
         FROM webhook_events e LEFT JOIN {failures} f ON f.event_id = e.event_id
         WHERE {ids}",
        open = q.open_item("e.event_id", false),
        failures = q.failures(d.now),
        lost = sync_failure::unaccounted(q, "e", d.now, &(d.param)(2, "timestamptz")),
    )
}
