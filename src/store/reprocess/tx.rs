//! A reprocess request's write transaction on either backend. The audit statements are the same
//! SQL on both (values bound through `bind.rs`); selecting events and writing queue items differ
//! and live with each backend (`postgres/reprocess.rs`, `sqlite/reprocess.rs`) and with the
//! store's queue implementation (`store/queue/`).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Sqlite, Transaction};
use uuid::Uuid;

use super::types::{AuditRow, Candidate, EventFilter};
use crate::store::bind::{At, Id, Json};
use crate::store::error::{reprocessing as q, Result};
use crate::store::handle::Store;
use crate::store::queue::SyncQueue;
use crate::store::{postgres, sqlite};

pub(super) enum Tx {
    /// With the store's queue, which its writes go to.
    /// With the queue, and the horizon of unaccounted events as of the request.
    Pg(Transaction<'static, Postgres>, SyncQueue, DateTime<Utc>),
    Sqlite(Transaction<'static, Sqlite>, DateTime<Utc>),
}

/// Runs the same code on either transaction; it type-checks once per backend.
macro_rules! on_tx {
    ($tx:expr, $t:ident => $body:expr) => {
        match $tx {
            Tx::Pg($t, ..) => $body,
            Tx::Sqlite($t, _) => $body,
        }
    };
}

impl Tx {
    pub(super) async fn begin(store: &Store) -> Result<Tx> {
        let since = store.unaccounted_since();
        Ok(match store {
            Store::Postgres(s) => Tx::Pg(s.pool().begin().await.map_err(q)?, s.queue().clone(), since),
            // IMMEDIATE takes the write lock up front: a deferred transaction that read first could
            // not upgrade once another writer committed, and would fail instead of waiting.
            Store::Sqlite(s) => Tx::Sqlite(s.pool().begin_with("BEGIN IMMEDIATE").await.map_err(q)?, since),
        })
    }

    pub(super) async fn commit(self) -> Result<()> {
        on_tx!(self, tx => tx.commit().await.map_err(q))
    }

    pub(super) async fn rollback(self) -> Result<()> {
        on_tx!(self, tx => tx.rollback().await.map_err(q))
    }

    /// Inserts an audit row; `None` when a completed request already holds its Idempotency-Key.
    pub(super) async fn insert_audit(&mut self, a: &AuditRow) -> Result<Option<i64>> {
        const COLUMNS: &str = "request_id, requested_at, principal, auth_method, remote_addr,
            idempotency_key, request_hash, dry_run, selection, status, http_status, requested, enqueued,
            already_pending, not_found, not_eligible, error_code, response";
        const CONFLICT: &str =
            "ON CONFLICT (principal, auth_method, idempotency_key) WHERE status = 'completed'
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

    pub(super) async fn finish_audit(&mut self, id: i64, a: &AuditRow) -> Result<()> {
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

    /// The request hash, status and response of the completed request holding a caller's key.
    pub(super) async fn find_claim(
        &mut self,
        audit: &AuditRow,
        key: &str,
    ) -> Result<(Option<String>, i32, String)> {
        const SQL: &str = "SELECT request_hash, http_status, coalesce(response, '') AS response
            FROM reprocess_requests WHERE principal = $1 AND auth_method = $2 AND idempotency_key = $3
              AND status = 'completed'";
        on_tx!(self, tx => {
            let r = sqlx::query(SQL)
                .bind(&audit.principal)
                .bind(audit.auth_method)
                .bind(key)
                .fetch_one(&mut **tx)
                .await
                .map_err(q)?;
            Ok((r.get(0), r.get(1), r.get(2)))
        })
    }

    pub(super) async fn lookup_ids(&mut self, ids: &[Uuid]) -> Result<Vec<Candidate>> {
        match self {
            Tx::Pg(tx, queue, since) => postgres::reprocess::lookup_ids(tx, queue, ids, *since).await,
            Tx::Sqlite(tx, since) => sqlite::reprocess::lookup_ids(tx, ids, *since).await,
        }
    }

    /// Events matching the filter, oldest first, at most `limit`.
    pub(super) async fn lookup_filter(&mut self, f: &EventFilter, limit: i64) -> Result<Vec<Candidate>> {
        match self {
            Tx::Pg(tx, queue, since) => postgres::reprocess::lookup_filter(tx, queue, f, *since, limit).await,
            Tx::Sqlite(tx, since) => sqlite::reprocess::lookup_filter(tx, f, *since, limit).await,
        }
    }

    pub(super) async fn count_filter(&mut self, f: &EventFilter) -> Result<i64> {
        match self {
            Tx::Pg(tx, queue, since) => postgres::reprocess::count_filter(tx, queue, f, *since).await,
            Tx::Sqlite(tx, since) => sqlite::reprocess::count_filter(tx, f, *since).await,
        }
    }

    /// Which of these events have an item pending or processing (a reprocess, or a sync not
    /// finished yet).
    pub(super) async fn pending_among(&mut self, events: &[(&str, Uuid)]) -> Result<HashSet<Uuid>> {
        match self {
            Tx::Pg(tx, queue, _) => queue.pending_pg(tx, events).await,
            Tx::Sqlite(tx, _) => SyncQueue::Table.pending_sqlite(tx, events).await,
        }
    }

    /// Inserts one reprocess item per event unless an item of it is open; returns those inserted.
    pub(super) async fn enqueue_reprocess(
        &mut self,
        events: &[(&str, Uuid)],
        request_id: uuid::Uuid,
        requested_by: &str,
    ) -> Result<HashSet<Uuid>> {
        if events.is_empty() {
            return Ok(HashSet::new());
        }
        match self {
            Tx::Pg(tx, queue, _) => queue.enqueue_reprocess_pg(tx, events, request_id, requested_by).await,
            Tx::Sqlite(tx, _) => {
                SyncQueue::Table.enqueue_reprocess_sqlite(tx, events, request_id, requested_by).await
            }
        }
    }
}
