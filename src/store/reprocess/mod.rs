//! Reprocessing: listing error events (refused by the webhook, or given up by the portal sync) and
//! re-enqueueing them for the portal sync service, with an audit row per request, on both backends.
//!
//! Safety rests on the database, not on memory, so that several exporter replicas may serve the
//! API at once:
//! - one transaction per request: its audit row and all its queue items commit together or not
//!   at all;
//! - at most one open reprocess item per event, decided by the queue implementation
//!   (`store/queue/`): the table's partial unique index `sync_queue_one_open_reprocess` with
//!   `ON CONFLICT DO NOTHING`, pgmq's advisory lock per event then a check of the queue's table;
//!   a concurrent duplicate waits for the first writer and then enqueues nothing;
//! - `reprocess_requests_idempotency` (one completed request per principal and key): the same
//!   Idempotency-Key waits for the first request and then replays its stored response.

pub(crate) mod select;
mod sync_failure;
mod tx;
pub(crate) mod types;

use std::collections::BTreeMap;

use uuid::Uuid;

use super::error::Result;
use super::handle::Store;
use super::{postgres, sqlite};
pub use sync_failure::{Stage, SyncFailure, SyncState};
use tx::Tx;
pub use types::*;

impl Store {
    /// Rejected and failed events and sync failures matching `filter`, newest first, after
    /// `cursor`.
    pub async fn error_events(
        &self,
        filter: &EventFilter,
        cursor: Option<ListCursor>,
        limit: i64,
    ) -> Result<Vec<ErrorEvent>> {
        let since = self.unaccounted_since();
        match self {
            Store::Postgres(s) => {
                postgres::reprocess::error_events(s.pool(), s.queue(), filter, since, cursor, limit).await
            }
            Store::Sqlite(s) => sqlite::reprocess::error_events(s.pool(), filter, since, cursor, limit).await,
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
            let (hash, status, body) = tx.find_claim(&cmd.audit, key).await?;
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
