//! Plain rows exchanged with the log store.

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use super::postgres::snapshot::PgSnapshot;

/// A row's place in the order incremental reads go through a table: `(tx, id)` on PostgreSQL
/// (writing transaction, then id), `(0, id)` on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    pub tx: i64,
    pub id: i64,
}

/// A row with its place, as incremental reads return it.
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

/// How far incremental reads of one table have gone: every row readable at this position has
/// been read, and no other. Opaque to the collector; each backend defines its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Everything visible in snapshot `read` has been read; with `pending`, also the rows visible
    /// in the newer snapshot up to the cursor (a read the batch limit cut short).
    Postgres { read: PgSnapshot, pending: Option<(PgSnapshot, Cursor)> },
    /// Ids are commit order under SQLite's single writer: every id up to this one has been read.
    Sqlite { id: i64 },
}

/// Where a refresh's incremental reads of each log continue, and how many rows a read may return:
/// a backend may read the new rows with its opening statement.
#[derive(Debug, Clone, Copy)]
pub struct ReadFrom<'a> {
    pub events: Option<&'a Position>,
    pub attempts: Option<&'a Position>,
    pub lifecycle: Option<&'a Position>,
    pub limit: i64,
}

/// One incremental read.
#[derive(Debug, Clone)]
pub struct Batch<T> {
    pub rows: Vec<T>,
    pub next: Position,
    /// False when the batch limit cut the read short and more rows are ready.
    pub complete: bool,
}

/// Counters the log store's triggers keep, read at the start of a refresh: when one moved, what it
/// watches changed (migrations 0003 and 0006).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    /// Deleting statements on `webhook_events`.
    pub deletions: i64,
    /// Writing statements on `organizations`.
    pub organization_changes: i64,
    /// Deleting statements on `sync_attempts` (migration 0007).
    pub sync_deletions: i64,
    /// A fingerprint of the partitions of `webhook_events` and `sync_attempts` (which tables, and
    /// their storage): moves when one is attached, detached, dropped or truncated, which no
    /// trigger sees. Constant for unpartitioned tables (and on SQLite).
    pub partitions: i64,
}

/// A transaction that has written to the log tables and not ended yet: its rows are not
/// readable until it commits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct OpenWriter {
    /// Identifies the transaction (PostgreSQL's virtual transaction id).
    pub key: String,
    /// When it began, where the store lets the exporter see it.
    pub started_at: Option<DateTime<Utc>>,
}

/// A webhook event as the collector needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub event_id: EventKey,
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

/// A group of lifecycle events with identical labels, from the totals rollup (migration 0010).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LifecycleAggregate {
    pub function_name: String,
    pub event_type: String,
    pub shutdown_reason: Option<String>,
    pub count: i64,
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

/// Open sync-queue items of one organization: waiting (`pending`) and in flight (`processing`); a
/// store may hand out several for one org, whose figures add up (`State::set_queue`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Deserialize)]
pub struct QueueStat {
    pub org_id: String,
    /// Waiting items.
    pub depth: i64,
    pub reprocess_depth: i64,
    pub oldest_enqueued_at: Option<DateTime<Utc>>,
    /// Items a worker holds.
    pub in_flight: i64,
    /// Of those, items whose lease ran out: their worker vanished, and the next claim returns them.
    pub lease_expired: i64,
}

/// One logged attempt of the sync service, as the collector needs it (`sync_attempts`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub event_id: EventKey,
    pub org_id: String,
    pub finished_at: DateTime<Utc>,
    pub outcome: String,
    pub error_class: Option<String>,
    pub http_status: Option<i32>,
    /// The event's, copied when the attempt was recorded (None when it was not found).
    pub received_at: Option<DateTime<Utc>>,
}

/// A group of logged attempts with identical labels, from the totals rollup.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptAggregate {
    pub org_id: String,
    pub outcome: String,
    pub error_class: Option<String>,
    pub http_status: Option<i32>,
    /// Upper bound of the lag bucket of successful attempts (None otherwise).
    pub lag_le: Option<f64>,
    pub count: i64,
    pub lag_sum: f64,
    pub last_finished_at: DateTime<Utc>,
}

/// An event id as either backend stores it: `uuid` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct EventKey(pub Uuid);

impl sqlx::Type<sqlx::Postgres> for EventKey {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <Uuid as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl sqlx::postgres::PgHasArrayType for EventKey {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <Uuid as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for EventKey {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <Uuid as sqlx::Decode<sqlx::Postgres>>::decode(value).map(EventKey)
    }
}

impl sqlx::Type<sqlx::Sqlite> for EventKey {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for EventKey {
    /// A stored id that is not a UUID (the column is plain text) becomes the nil id: it counts as
    /// a row, and no attempt can name it.
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as sqlx::Decode<sqlx::Sqlite>>::decode(value)?;
        Ok(EventKey(Uuid::parse_str(text).unwrap_or_default()))
    }
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

/// A lifecycle event received through the exporter's ingestion endpoints: the row, and the id its
/// source gave it (unique per source, so that a batch sent again inserts nothing twice).
#[derive(Debug, Clone)]
pub struct IngestedLifecycleEvent {
    pub source_event_id: String,
    pub event: NewLifecycleEvent,
}

/// What one ingested batch did to the log store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    pub inserted: u64,
    /// Events whose `(source, source_event_id)` was already stored (or repeated in the batch).
    pub duplicates: u64,
}

#[derive(Debug, Clone)]
pub struct NewQueueItem {
    pub org_id: String,
    pub event_id: Uuid,
    pub enqueued_at: DateTime<Utc>,
}
