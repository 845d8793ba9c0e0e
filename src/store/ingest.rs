//! Lifecycle events received by the exporter's ingestion endpoints (`src/ingest`): written in one
//! transaction, idempotent on `(source, source_event_id)` (migration 0005's unique index).

use std::collections::HashSet;

use sqlx::QueryBuilder;

use super::bind::At;
use super::error::{timed, Result};
use super::handle::Store;
use super::types::{IngestOutcome, IngestedLifecycleEvent};

/// Rows per INSERT: 7 bound columns each stays far under SQLite's 32766 variables.
const INSERT_CHUNK: usize = 1000;

impl Store {
    /// Inserts the events of one batch from `source`; an event whose id that source already
    /// delivered (or that the batch repeats) is a duplicate and changes nothing. All or nothing.
    pub async fn ingest_lifecycle(
        &self,
        source: &'static str,
        events: &[IngestedLifecycleEvent],
    ) -> Result<IngestOutcome> {
        let mut seen = HashSet::new();
        let unique: Vec<&IngestedLifecycleEvent> =
            events.iter().filter(|e| seen.insert(e.source_event_id.as_str())).collect();
        if unique.is_empty() {
            return Ok(IngestOutcome { inserted: 0, duplicates: events.len() as u64 });
        }
        let inserted = dispatch!(self, s => timed(s.timeout(), "writing ingested lifecycle events", async {
            let mut tx = s.pool().begin().await?;
            let mut inserted = 0;
            for chunk in unique.chunks(INSERT_CHUNK) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO edge_function_events (occurred_at, function_name, event_type, \
                     shutdown_reason, detail, source, source_event_id) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(At(e.event.occurred_at))
                        .push_bind(&e.event.function_name)
                        .push_bind(e.event.event_type)
                        .push_bind(e.event.shutdown_reason)
                        .push_bind(&e.event.detail)
                        .push_bind(source)
                        .push_bind(&e.source_event_id);
                });
                qb.push(" ON CONFLICT (source, source_event_id) DO NOTHING");
                inserted += qb.build().execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok(inserted)
        })
        .await)?;
        Ok(IngestOutcome { inserted, duplicates: events.len() as u64 - inserted })
    }
}
