//! Plain rows exchanged with the log store.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Position of an incremental read: everything at or before it has been consumed.
///
/// On PostgreSQL `tx` is the writing transaction id (xid8) and rows are read in `(tx, id)` order
/// below the snapshot's xmin, where no transaction can still commit. On SQLite writes are
/// serialized, so id order is commit order and `tx` stays 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    pub tx: i64,
    pub id: i64,
}

/// A row with its position, as incremental reads return it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Positioned<T> {
    #[sqlx(flatten)]
    pub row: T,
    pub tx: i64,
    pub id: i64,
}

impl<T> Positioned<T> {
    pub fn cursor(&self) -> Cursor {
        Cursor { tx: self.tx, id: self.id }
    }
}

/// One incremental read.
#[derive(Debug, Clone)]
pub struct Batch<T> {
    pub rows: Vec<T>,
    pub next: Cursor,
    /// False when `limit` cut the read short and more rows are ready.
    pub complete: bool,
    /// A write transaction still open holds the horizon back: rows committed after it began are
    /// not readable until it ends (PostgreSQL only).
    pub held_back: bool,
}

impl<T> Batch<T> {
    /// A read the limit cut short continues after its last row; a complete one at `complete_at`.
    pub fn from_rows(rows: Vec<Positioned<T>>, limit: i64, complete_at: Cursor, held_back: bool) -> Batch<T> {
        let complete = (rows.len() as i64) < limit;
        let next = match rows.last() {
            Some(last) if !complete => last.cursor(),
            _ => complete_at,
        };
        Batch { rows: rows.into_iter().map(|p| p.row).collect(), next, complete, held_back }
    }
}

/// A webhook event as the collector needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub org_id: String,
    pub received_at: DateTime<Utc>,
    pub outcome: String,
    pub http_status: i32,
    pub rejection_reason: Option<String>,
}

/// A group of historic events with identical labels.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventAggregate {
    pub org_id: String,
    pub outcome: String,
    pub http_status: i32,
    pub rejection_reason: Option<String>,
    pub count: i64,
    pub last_received_at: DateTime<Utc>,
}

/// What the first read returns: history aggregated, recent rows one by one.
#[derive(Debug, Clone)]
pub struct EventBootstrap {
    pub totals: Vec<EventAggregate>,
    pub recent: Vec<EventRow>,
    pub next: Cursor,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LifecycleRow {
    pub occurred_at: DateTime<Utc>,
    pub function_name: String,
    pub event_type: String,
    pub shutdown_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrgRow {
    pub org_id: String,
    pub display_name: String,
    pub endpoint_url: String,
    pub endpoint_url_changed_at: DateTime<Utc>,
    pub active: bool,
}

/// Waiting sync-queue items of one organization.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct QueueStat {
    pub org_id: String,
    pub depth: i64,
    pub reprocess_depth: i64,
    pub oldest_enqueued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub org_id: String,
    pub display_name: String,
    pub endpoint_url: String,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub org_id: String,
    pub received_at: DateTime<Utc>,
    pub outcome: &'static str,
    pub http_status: i32,
    pub rejection_reason: Option<String>,
    pub error_detail: Option<String>,
    pub entity_name: Option<String>,
    pub message_name: Option<String>,
    pub payload: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct NewLifecycleEvent {
    pub occurred_at: DateTime<Utc>,
    pub function_name: String,
    pub event_type: &'static str,
    pub shutdown_reason: Option<&'static str>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewQueueItem {
    pub org_id: String,
    pub event_id: Uuid,
    pub enqueued_at: DateTime<Utc>,
}
