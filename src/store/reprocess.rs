//! Reprocessing: listing error events and re-enqueueing them for the portal sync service, with
//! an audit row per request, on both backends.
//!
//! Safety rests on the database, not on memory, so that several exporter replicas may serve the
//! API at once:
//! - one transaction per request: its audit row and all its queue items commit together or not
//!   at all;
//! - `sync_queue_one_open_reprocess` (one open reprocess per event) with `ON CONFLICT DO NOTHING`:
//!   a concurrent duplicate waits for the first writer and then inserts nothing;
//! - `reprocess_requests_idempotency` (one completed request per principal and key): the same
//!   Idempotency-Key waits for the first request and then replays its stored response.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Postgres, Row, Sqlite, Transaction};
use uuid::Uuid;

use super::bind::{At, Id, Json};
use super::{sqlite_timestamp as ts, Result, Store, StoreError};
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
}

/// Position in a newest-first listing: the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub received_at: DateTime<Utc>,
    pub id: i64,
}

/// One rejected or failed event, as the listing shows it.
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
    /// Accepted events are not reprocessed.
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
struct Candidate {
    event_id: Uuid,
    org_id: String,
    org_label: String,
    eligible: bool,
}

impl Store {
    /// Rejected and failed events matching `filter`, newest first, after `cursor`.
    pub async fn error_events(
        &self,
        filter: &EventFilter,
        cursor: Option<ListCursor>,
        limit: i64,
    ) -> Result<Vec<ErrorEvent>> {
        let op = StoreError::query("listing error events");
        match self {
            Store::Postgres(s) => {
                let sql = format!(
                    "SELECT e.id, e.event_id, e.org_id, e.received_at, e.outcome, e.http_status,
                            e.rejection_reason, left(e.error_detail, {DETAIL_CHARS}) AS error_detail,
                            EXISTS (SELECT 1 FROM sync_queue q WHERE q.event_id = e.event_id
                                    AND q.reprocess AND q.state IN ('pending', 'processing')) AS pending
                     FROM webhook_events e
                     WHERE {PG_FILTER}
                       AND ($7::timestamptz IS NULL OR (e.received_at, e.id) < ($7, $8))
                     ORDER BY e.received_at DESC, e.id DESC LIMIT $9"
                );
                let rows = pg_filter_binds(sqlx::query(&sql), filter)
                    .bind(cursor.map(|c| c.received_at))
                    .bind(cursor.map_or(0, |c| c.id))
                    .bind(limit)
                    .fetch_all(s.pool())
                    .await
                    .map_err(op)?;
                Ok(rows.iter().map(|r| error_event(r.get("event_id"), r)).collect())
            }
            Store::Sqlite(s) => {
                let sql = format!(
                    "SELECT e.id, e.event_id, e.org_id, e.received_at, e.outcome, e.http_status,
                            e.rejection_reason, substr(e.error_detail, 1, {DETAIL_CHARS}) AS error_detail,
                            EXISTS (SELECT 1 FROM sync_queue q WHERE q.event_id = e.event_id
                                    AND q.reprocess = 1 AND q.state IN ('pending', 'processing')) AS pending
                     FROM webhook_events e
                     WHERE {SQLITE_FILTER}
                       AND ($7 IS NULL OR (e.received_at, e.id) < ($7, $8))
                     ORDER BY e.received_at DESC, e.id DESC LIMIT $9"
                );
                let rows = sqlite_filter_binds(sqlx::query(&sql), filter)
                    .bind(cursor.map(|c| ts(c.received_at)))
                    .bind(cursor.map_or(0, |c| c.id))
                    .bind(limit)
                    .fetch_all(s.pool())
                    .await
                    .map_err(op)?;
                rows.iter().map(|r| Ok(error_event(sqlite_uuid(r, "event_id")?, r))).collect()
            }
        }
    }

    /// Runs a reprocess request in one transaction. `render` builds the response from the
    /// resolution; it is stored with the audit row so that a replayed Idempotency-Key gets it back.
    pub async fn reprocess(
        &self,
        mut cmd: ReprocessCommand,
        render: impl FnOnce(&Resolution) -> StoredResponse,
    ) -> Result<ReprocessOutcome> {
        let mut tx = Tx::begin(self).await?;
        cmd.audit.status = if cmd.audit.dry_run { "dry_run" } else { "completed" };
        let Some(audit_id) = tx.insert_audit(&cmd.audit).await? else {
            // Another request (maybe on another replica, which we waited for) holds the key.
            let key = cmd.audit.idempotency_key.as_deref().unwrap_or_default();
            let (hash, status, body) = tx.find_claim(&cmd.audit.principal, key).await?;
            tx.rollback().await?;
            if hash.as_deref() != cmd.audit.request_hash.as_deref() {
                return Ok(ReprocessOutcome::KeyReused);
            }
            return Ok(ReprocessOutcome::Replayed(StoredResponse { http_status: status as u16, body }));
        };

        let candidates = match &cmd.selection {
            Selection::Ids(ids) => {
                let found = tx.lookup_ids(ids).await?;
                let mut by_id: BTreeMap<Uuid, Candidate> =
                    found.into_iter().map(|c| (c.event_id, c)).collect();
                ids.iter().map(|id| (*id, by_id.remove(id))).collect::<Vec<_>>()
            }
            Selection::Filter(filter) => {
                let found = tx.lookup_filter(filter, cmd.max_batch as i64 + 1).await?;
                if found.len() > cmd.max_batch {
                    let matched = tx.count_filter(filter).await?;
                    tx.rollback().await?;
                    return Ok(ReprocessOutcome::TooMany { matched });
                }
                found.into_iter().map(|c| (c.event_id, Some(c))).collect()
            }
        };

        // Sorted, so that two requests with overlapping events lock them in the same order.
        let mut eligible: Vec<(&str, Uuid)> = candidates
            .iter()
            .filter_map(|(_, c)| c.as_ref().filter(|c| c.eligible).map(|c| (c.org_id.as_str(), c.event_id)))
            .collect();
        eligible.sort_by_key(|(_, id)| *id);
        let (fresh, fresh_disposition) = if cmd.audit.dry_run {
            let pending = tx.pending_among(&eligible).await?;
            let fresh = eligible.iter().map(|(_, id)| *id).filter(|id| !pending.contains(id)).collect();
            (fresh, Disposition::WouldEnqueue)
        } else {
            let request_id = cmd.audit.request_id;
            (tx.enqueue_reprocess(&eligible, request_id, &cmd.audit.principal).await?, Disposition::Enqueued)
        };

        let mut resolution = Resolution::default();
        for (id, candidate) in &candidates {
            let disposition = match candidate {
                None => Disposition::NotFound,
                Some(c) if !c.eligible => Disposition::NotEligible,
                Some(c) if fresh.contains(&c.event_id) => {
                    if !cmd.audit.dry_run {
                        *resolution.enqueued_by_org.entry(c.org_label.clone()).or_default() += 1;
                    }
                    fresh_disposition
                }
                Some(_) => Disposition::AlreadyPending,
            };
            resolution.events.push((*id, disposition));
        }
        let response = render(&resolution);
        cmd.audit.counts = resolution.counts();
        cmd.audit.http_status = i32::from(response.http_status);
        cmd.audit.response = Some(response.body.clone());
        tx.finish_audit(audit_id, &cmd.audit).await?;
        tx.commit().await?;
        Ok(ReprocessOutcome::Completed { resolution, response })
    }

    /// Writes an audit row on its own: for requests that were rejected, failed or replayed.
    pub async fn record_audit(&self, row: &AuditRow) -> Result<()> {
        let mut tx = Tx::begin(self).await?;
        tx.insert_audit(row).await?;
        tx.commit().await
    }
}

/// Error details can be long stack traces; a listing shows their start.
const DETAIL_CHARS: usize = 2000;

/// Binds $1..$6; see [`pg_filter_binds`].
const PG_FILTER: &str = "e.outcome IN ('rejected', 'failed') AND e.outcome <> 'accepted'
    AND (cardinality($1::text[]) = 0 OR e.org_id = ANY($1::text[]))
    AND ($2::text IS NULL OR e.outcome = $2)
    AND (cardinality($3::text[]) = 0 OR e.rejection_reason = ANY($3::text[]))
    AND ($4::integer IS NULL OR e.http_status = $4)
    AND ($5::timestamptz IS NULL OR e.received_at >= $5)
    AND ($6::timestamptz IS NULL OR e.received_at < $6)";

/// The same filter on SQLite, lists bound as JSON arrays.
const SQLITE_FILTER: &str = "e.outcome IN ('rejected', 'failed') AND e.outcome <> 'accepted'
    AND (json_array_length($1) = 0 OR e.org_id IN (SELECT value FROM json_each($1)))
    AND ($2 IS NULL OR e.outcome = $2)
    AND (json_array_length($3) = 0 OR e.rejection_reason IN (SELECT value FROM json_each($3)))
    AND ($4 IS NULL OR e.http_status = $4)
    AND ($5 IS NULL OR e.received_at >= $5)
    AND ($6 IS NULL OR e.received_at < $6)";

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;
type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn pg_filter_binds<'q>(q: PgQuery<'q>, f: &'q EventFilter) -> PgQuery<'q> {
    q.bind(&f.orgs).bind(&f.outcome).bind(&f.reasons).bind(f.status_code).bind(f.since).bind(f.until)
}

fn sqlite_filter_binds<'q>(q: SqliteQuery<'q>, f: &'q EventFilter) -> SqliteQuery<'q> {
    q.bind(json_list(&f.orgs))
        .bind(f.outcome.clone())
        .bind(json_list(&f.reasons))
        .bind(f.status_code)
        .bind(f.since.map(ts))
        .bind(f.until.map(ts))
}

fn json_list<T: Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).expect("a list of strings serializes")
}

fn error_event<R: Row>(event_id: Uuid, r: &R) -> ErrorEvent
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
    }
}

/// A write transaction on either backend; the flow in [`Store::reprocess`] is written once.
enum Tx {
    Pg(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// Runs the same code on either transaction; it type-checks once per backend.
macro_rules! on_tx {
    ($tx:expr, $t:ident => $body:expr) => {
        match $tx {
            Tx::Pg($t) => $body,
            Tx::Sqlite($t) => $body,
        }
    };
}

const OP: &str = "reprocessing";

fn q(e: sqlx::Error) -> StoreError {
    StoreError::Query { op: OP, source: e }
}

impl Tx {
    async fn begin(store: &Store) -> Result<Tx> {
        Ok(match store {
            Store::Postgres(s) => Tx::Pg(s.pool().begin().await.map_err(q)?),
            // IMMEDIATE takes the write lock up front: a deferred transaction that read first could
            // not upgrade once another writer committed, and would fail instead of waiting.
            Store::Sqlite(s) => Tx::Sqlite(s.pool().begin_with("BEGIN IMMEDIATE").await.map_err(q)?),
        })
    }

    async fn commit(self) -> Result<()> {
        on_tx!(self, tx => tx.commit().await.map_err(q))
    }

    async fn rollback(self) -> Result<()> {
        on_tx!(self, tx => tx.rollback().await.map_err(q))
    }

    /// Inserts an audit row; `None` when a completed request already holds its Idempotency-Key.
    async fn insert_audit(&mut self, a: &AuditRow) -> Result<Option<i64>> {
        const COLUMNS: &str = "request_id, requested_at, principal, auth_method, remote_addr,
            idempotency_key, request_hash, dry_run, selection, status, http_status, requested, enqueued,
            already_pending, not_found, not_eligible, error_code, response";
        const CONFLICT: &str = "ON CONFLICT (principal, idempotency_key) WHERE status = 'completed'
            DO NOTHING RETURNING id";
        let c = &a.counts;
        let sql = format!(
            "INSERT INTO reprocess_requests ({COLUMNS}) VALUES
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) {CONFLICT}"
        );
        on_tx!(self, tx => sqlx::query_scalar(&sql)
            .bind(Id(a.request_id))
            .bind(At(a.requested_at))
            .bind(&a.principal)
            .bind(a.auth_method)
            .bind(&a.remote_addr)
            .bind(&a.idempotency_key)
            .bind(&a.request_hash)
            .bind(a.dry_run)
            .bind(a.selection.as_ref().map(Json))
            .bind(a.status)
            .bind(a.http_status)
            .bind(c.requested)
            .bind(c.enqueued)
            .bind(c.already_pending)
            .bind(c.not_found)
            .bind(c.not_eligible)
            .bind(&a.error_code)
            .bind(&a.response)
            .fetch_optional(&mut **tx)
            .await
            .map_err(q))
    }

    async fn finish_audit(&mut self, id: i64, a: &AuditRow) -> Result<()> {
        const SQL: &str = "UPDATE reprocess_requests SET http_status = $2, requested = $3, enqueued = $4,
            already_pending = $5, not_found = $6, not_eligible = $7, response = $8 WHERE id = $1";
        let c = &a.counts;
        on_tx!(self, tx => sqlx::query(SQL)
            .bind(id)
            .bind(a.http_status)
            .bind(c.requested)
            .bind(c.enqueued)
            .bind(c.already_pending)
            .bind(c.not_found)
            .bind(c.not_eligible)
            .bind(&a.response)
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(q))
    }

    /// The request hash, status and response of the completed request holding a key.
    async fn find_claim(&mut self, principal: &str, key: &str) -> Result<(Option<String>, i32, String)> {
        const SQL: &str = "SELECT request_hash, http_status, coalesce(response, '') AS response
            FROM reprocess_requests WHERE principal = $1 AND idempotency_key = $2 AND status = 'completed'";
        on_tx!(self, tx => {
            let r = sqlx::query(SQL).bind(principal).bind(key).fetch_one(&mut **tx).await.map_err(q)?;
            Ok((r.get(0), r.get(1), r.get(2)))
        })
    }

    async fn lookup_ids(&mut self, ids: &[Uuid]) -> Result<Vec<Candidate>> {
        const SELECT: &str = "SELECT e.event_id, e.org_id, e.outcome IN ('rejected', 'failed') AS eligible,
            o.org_id IS NOT NULL AS known FROM webhook_events e LEFT JOIN organizations o ON o.org_id = e.org_id AND o.active";
        match self {
            Tx::Pg(tx) => {
                let rows = sqlx::query(&format!("{SELECT} WHERE e.event_id = ANY($1::uuid[])"))
                    .bind(ids)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(q)?;
                Ok(rows.iter().map(|r| candidate(r.get("event_id"), r)).collect())
            }
            Tx::Sqlite(tx) => {
                let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
                let rows =
                    sqlx::query(&format!("{SELECT} WHERE e.event_id IN (SELECT value FROM json_each($1))"))
                        .bind(json_list(&texts))
                        .fetch_all(&mut **tx)
                        .await
                        .map_err(q)?;
                rows.iter().map(|r| Ok(candidate(sqlite_uuid(r, "event_id")?, r))).collect()
            }
        }
    }

    /// Eligible events matching the filter, oldest first, at most `limit`.
    async fn lookup_filter(&mut self, f: &EventFilter, limit: i64) -> Result<Vec<Candidate>> {
        const SELECT: &str = "SELECT e.event_id, e.org_id, true AS eligible, o.org_id IS NOT NULL AS known
            FROM webhook_events e LEFT JOIN organizations o ON o.org_id = e.org_id AND o.active";
        match self {
            Tx::Pg(tx) => {
                let sql = format!("{SELECT} WHERE {PG_FILTER} ORDER BY e.received_at, e.id LIMIT $7");
                let rows = pg_filter_binds(sqlx::query(&sql), f)
                    .bind(limit)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(q)?;
                Ok(rows.iter().map(|r| candidate(r.get("event_id"), r)).collect())
            }
            Tx::Sqlite(tx) => {
                let sql = format!("{SELECT} WHERE {SQLITE_FILTER} ORDER BY e.received_at, e.id LIMIT $7");
                let rows = sqlite_filter_binds(sqlx::query(&sql), f)
                    .bind(limit)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(q)?;
                rows.iter().map(|r| Ok(candidate(sqlite_uuid(r, "event_id")?, r))).collect()
            }
        }
    }

    async fn count_filter(&mut self, f: &EventFilter) -> Result<i64> {
        match self {
            Tx::Pg(tx) => {
                let sql = format!("SELECT count(*) FROM webhook_events e WHERE {PG_FILTER}");
                let row = pg_filter_binds(sqlx::query(&sql), f).fetch_one(&mut **tx).await.map_err(q)?;
                Ok(row.get(0))
            }
            Tx::Sqlite(tx) => {
                let sql = format!("SELECT count(*) FROM webhook_events e WHERE {SQLITE_FILTER}");
                let row = sqlite_filter_binds(sqlx::query(&sql), f).fetch_one(&mut **tx).await.map_err(q)?;
                Ok(row.get(0))
            }
        }
    }

    /// Which of these events have a reprocess pending or processing.
    async fn pending_among(&mut self, events: &[(&str, Uuid)]) -> Result<HashSet<Uuid>> {
        let ids: Vec<Uuid> = events.iter().map(|(_, id)| *id).collect();
        match self {
            Tx::Pg(tx) => {
                let rows: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT event_id FROM sync_queue WHERE event_id = ANY($1::uuid[])
                     AND reprocess AND state IN ('pending', 'processing')",
                )
                .bind(&ids)
                .fetch_all(&mut **tx)
                .await
                .map_err(q)?;
                Ok(rows.into_iter().collect())
            }
            Tx::Sqlite(tx) => {
                let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT event_id FROM sync_queue WHERE event_id IN (SELECT value FROM json_each($1))
                     AND reprocess = 1 AND state IN ('pending', 'processing')",
                )
                .bind(json_list(&texts))
                .fetch_all(&mut **tx)
                .await
                .map_err(q)?;
                Ok(rows.iter().filter_map(|t| Uuid::parse_str(t).ok()).collect())
            }
        }
    }

    /// Inserts one reprocess item per event unless one is already open; returns those inserted.
    async fn enqueue_reprocess(
        &mut self,
        events: &[(&str, Uuid)],
        request_id: Uuid,
        requested_by: &str,
    ) -> Result<HashSet<Uuid>> {
        if events.is_empty() {
            return Ok(HashSet::new());
        }
        match self {
            Tx::Pg(tx) => {
                let orgs: Vec<&str> = events.iter().map(|(o, _)| *o).collect();
                let ids: Vec<Uuid> = events.iter().map(|(_, id)| *id).collect();
                let rows: Vec<Uuid> = sqlx::query_scalar(
                    "INSERT INTO sync_queue (org_id, event_id, state, enqueued_at, updated_at, reprocess,
                                             reprocess_request_id, requested_by)
                     SELECT t.org_id, t.event_id, 'pending', now(), now(), true, $3, $4
                     FROM unnest($1::text[], $2::uuid[]) WITH ORDINALITY AS t(org_id, event_id, n)
                     ORDER BY t.n
                     ON CONFLICT (event_id) WHERE reprocess AND state IN ('pending', 'processing') DO NOTHING
                     RETURNING event_id",
                )
                .bind(&orgs)
                .bind(&ids)
                .bind(request_id)
                .bind(requested_by)
                .fetch_all(&mut **tx)
                .await
                .map_err(q)?;
                Ok(rows.into_iter().collect())
            }
            Tx::Sqlite(tx) => {
                let pairs: Vec<(&str, String)> = events.iter().map(|(o, id)| (*o, id.to_string())).collect();
                let rows: Vec<String> = sqlx::query_scalar(
                    "INSERT INTO sync_queue (org_id, event_id, state, enqueued_at, updated_at, reprocess,
                                             reprocess_request_id, requested_by)
                     SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), 'pending', $2, $2, 1,
                            $3, $4
                     FROM json_each($1) AS j WHERE true
                     ON CONFLICT (event_id) WHERE reprocess = 1 AND state IN ('pending', 'processing')
                     DO NOTHING
                     RETURNING event_id",
                )
                .bind(json_list(&pairs))
                .bind(ts(Utc::now()))
                .bind(request_id.to_string())
                .bind(requested_by)
                .fetch_all(&mut **tx)
                .await
                .map_err(q)?;
                Ok(rows.iter().filter_map(|t| Uuid::parse_str(t).ok()).collect())
            }
        }
    }
}

fn candidate<R: Row>(event_id: Uuid, r: &R) -> Candidate
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

fn sqlite_uuid(r: &sqlx::sqlite::SqliteRow, column: &'static str) -> Result<Uuid> {
    let text: String = r.get(column);
    Uuid::parse_str(&text).map_err(|e| StoreError::Invalid {
        field: "webhook_events.event_id",
        detail: format!("{text:?}: {e}"),
    })
}
