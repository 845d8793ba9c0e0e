//! The steady-state refresh in one statement: the opening statement also reads the rows of the
//! three logs that became visible since the positions the last refresh reached, as column arrays.
//!
//! The transaction's snapshot is the statement's own (`pg_current_snapshot()`), so the
//! transactions that ended since the previous snapshot are found in SQL: those of its `xip` now
//! visible, and those at or above its `xmax` below the current one and not in progress. Rows of a
//! transaction still open are invisible anyway; leaving its id out keeps a long open writer from
//! costing a scan of its rows at every refresh. A read cut short by the limit (a catch-up)
//! continues with the per-table statements of `read.rs`, which follow the same order.

use sqlx::postgres::PgRow;
use sqlx::Row;

use super::snapshot::PgSnapshot;
use crate::store::types::{AttemptRow, Batch, Cursor, EventKey, EventRow, LifecycleRow, Position, ReadFrom};

/// Where each log's incremental read continues, for a refresh that reads the new rows with its
/// opening statement. Only complete positions qualify (no read cut short).
#[derive(Debug, Clone)]
pub struct Follow {
    pub events: PgSnapshot,
    pub attempts: PgSnapshot,
    pub lifecycle: PgSnapshot,
    pub limit: i64,
}

impl Follow {
    /// The opening statement may read the new rows when every log was read completely up to a
    /// PostgreSQL snapshot.
    pub fn from_positions(from: &ReadFrom<'_>) -> Option<Follow> {
        let complete = |p: Option<&Position>| match p {
            Some(Position::Postgres { read, pending: None }) => Some(read.clone()),
            _ => None,
        };
        Some(Follow {
            events: complete(from.events)?,
            attempts: complete(from.attempts)?,
            lifecycle: complete(from.lifecycle)?,
            limit: from.limit,
        })
    }

    /// Binds the statement's parameters after the first `offset` ones: per log, the previous
    /// snapshot's `xmax` and `xip`, then the limit.
    pub fn bind<'q>(
        &self,
        mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        for s in [&self.events, &self.attempts, &self.lifecycle] {
            q = q.bind(s.xmax.to_string()).bind(s.xip.iter().map(i64::to_string).collect::<Vec<_>>());
        }
        q.bind(self.limit)
    }
}

/// The parameter of the limit, after each log's two (see [`Follow::bind`]).
const LIMIT: u8 = 7;

/// One log's part: a CTE named `name` with its new rows, at most the limit, in `(tx_id, id)` order.
/// `$x` / `$xip` are the previous snapshot's parameters, `$limit` the limit. Not materialized: its
/// second reference (the last row, see [`columns`]) runs only for a read the limit cut short.
fn new_rows_cte(name: &str, table: &str, columns: &str, x: u8, xip: u8, limit: u8) -> String {
    let branch = |cond: &str| {
        format!("(SELECT {columns}, tx_id, id FROM {table} WHERE {cond} ORDER BY tx_id, id LIMIT ${limit})")
    };
    let ended = branch(&format!(
        "tx_id = ANY(ARRAY(SELECT x FROM unnest(${xip}::text[]::xid8[]) AS x
                           WHERE pg_visible_in_snapshot(x, (SELECT s FROM cur))))"
    ));
    let begun = branch(&format!(
        "(tx_id, id) > (${x}::text::xid8, 0) AND tx_id < (SELECT pg_snapshot_xmax(s) FROM cur)
         AND tx_id <> ALL(ARRAY(SELECT pg_snapshot_xip(s) FROM cur))"
    ));
    format!(
        "{name} AS NOT MATERIALIZED (SELECT * FROM ({ended} UNION ALL {begun}) AS u ORDER BY tx_id, id LIMIT ${limit})"
    )
}

/// The CTEs the opening statement starts with, parameters from `$1` (see [`Follow::bind`]).
pub fn ctes() -> String {
    use crate::store::sql::{ATTEMPT_COLUMNS, EVENT_COLUMNS, LIFECYCLE_COLUMNS};
    format!(
        "WITH cur AS MATERIALIZED (SELECT pg_current_snapshot() AS s), {}, {}, {}",
        new_rows_cte("ev", "webhook_events", EVENT_COLUMNS, 1, 2, LIMIT),
        new_rows_cte("at", "sync_attempts", ATTEMPT_COLUMNS, 3, 4, LIMIT),
        new_rows_cte("lc", "edge_function_events", LIFECYCLE_COLUMNS, 5, 6, LIMIT),
    )
}

/// The select-list items that return the new rows, per log: its columns as arrays, from one pass
/// over its rows so that they are aligned, one element per row (NULL when there is none), and
/// the last row's `(tx_id, id)` when the limit cut the read short (the only read whose position
/// it makes; NULL otherwise: taking it from every row cost as much as all the arrays, run 9's
/// profile); and the FROM items they come from.
pub fn columns() -> (String, String) {
    use crate::store::sql::{ATTEMPT_COLUMNS, EVENT_COLUMNS, LIFECYCLE_COLUMNS};
    let mut items = vec![];
    let mut from = vec![];
    for (cte, columns) in [("ev", EVENT_COLUMNS), ("at", ATTEMPT_COLUMNS), ("lc", LIFECYCLE_COLUMNS)] {
        let arrays: Vec<String> = columns.split(", ").map(|c| format!("array_agg({c}) AS {c}")).collect();
        from.push(format!("(SELECT {}, count(*) AS n FROM {cte}) AS {cte}_arrays", arrays.join(", ")));
        items.extend(columns.split(", ").map(|c| format!("{cte}_arrays.{c}")));
        items.push(format!(
            "CASE WHEN {cte}_arrays.n >= ${LIMIT} THEN
                 (SELECT ARRAY[tx_id::text::bigint, id] FROM {cte} ORDER BY tx_id DESC, id DESC LIMIT 1) END"
        ));
    }
    (items.join(", "), from.join(", "))
}

/// The three logs' new rows, read by the opening statement, each handed out once.
#[derive(Debug, Default)]
pub struct Followed {
    /// Each with the position it was read from and the limit it was read with.
    pub events: Option<(Position, i64, Batch<EventRow>)>,
    pub attempts: Option<(Position, i64, Batch<AttemptRow>)>,
    pub lifecycle: Option<(Position, i64, Batch<LifecycleRow>)>,
}

/// Where a read from `from` stands after `rows` rows ending at `last`, in the transaction whose
/// snapshot is `target`: the one rule for the opening statement's rows and `read.rs`'s reads.
pub fn batch<T>(
    from: &PgSnapshot,
    target: &PgSnapshot,
    rows: Vec<T>,
    last: Option<Cursor>,
    limit: i64,
) -> Batch<T> {
    let complete = (rows.len() as i64) < limit;
    let next = match last {
        Some(last) if !complete => {
            Position::Postgres { read: from.clone(), pending: Some((target.clone(), last)) }
        }
        _ => Position::Postgres { read: target.clone(), pending: None },
    };
    Batch { rows, next, complete }
}

fn cursor(row: &PgRow, at: usize) -> sqlx::Result<Option<Cursor>> {
    let last: Option<Vec<i64>> = row.try_get(at)?;
    Ok(last.and_then(|l| Some(Cursor { tx: *l.first()?, id: *l.get(1)? })))
}

/// A column of arrays; NULL when the log has no new row.
fn array<'r, T>(row: &'r PgRow, at: usize) -> sqlx::Result<Vec<T>>
where
    Vec<T>: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    Ok(row.try_get::<Option<Vec<T>>, _>(at)?.unwrap_or_default())
}

fn same_length(op: &str, lengths: &[usize]) -> sqlx::Result<()> {
    if lengths.iter().any(|l| *l != lengths[0]) {
        return Err(sqlx::Error::Decode(format!("{op}: column arrays of lengths {lengths:?}").into()));
    }
    Ok(())
}

/// One log's rows from its column arrays, the opening statement's columns from `$at` on, the
/// fields in `sql`'s column order; evaluates to the rows and the column after them.
macro_rules! rows_from_arrays {
    ($row:expr, $at:expr, $op:literal, $ty:ident { $($field:ident: $t:ty),+ $(,)? }) => {{
        let mut at = $at;
        $(
            let $field: Vec<$t> = array($row, at)?;
            at += 1;
        )+
        let lengths = [$($field.len()),+];
        same_length($op, &lengths)?;
        $( let mut $field = $field.into_iter(); )+
        let rows: Vec<$ty> =
            (0..lengths[0]).map(|_| $ty { $($field: $field.next().expect("lengths checked")),+ }).collect();
        (rows, at)
    }};
}

/// Decodes the new rows from the opening statement's row, its columns from `at` on.
pub fn decode(row: &PgRow, at: usize, follow: &Follow, target: &PgSnapshot) -> sqlx::Result<Followed> {
    use chrono::{DateTime, Utc};
    let pos = |s: &PgSnapshot| Position::Postgres { read: s.clone(), pending: None };
    let limit = follow.limit;

    let (events, at) = rows_from_arrays!(row, at, "new webhook_events", EventRow {
        event_id: EventKey,
        org_id: String,
        received_at: DateTime<Utc>,
        outcome: String,
        http_status: i32,
        rejection_reason: Option<String>,
    });
    let events = batch(&follow.events, target, events, cursor(row, at)?, limit);

    let (attempts, at) = rows_from_arrays!(row, at + 1, "new sync_attempts", AttemptRow {
        event_id: EventKey,
        org_id: String,
        finished_at: DateTime<Utc>,
        outcome: String,
        error_class: Option<String>,
        http_status: Option<i32>,
        received_at: Option<DateTime<Utc>>,
    });
    let attempts = batch(&follow.attempts, target, attempts, cursor(row, at)?, limit);

    let (lifecycle, at) = rows_from_arrays!(row, at + 1, "new edge_function_events", LifecycleRow {
        occurred_at: DateTime<Utc>,
        function_name: String,
        event_type: String,
        shutdown_reason: Option<String>,
    });
    let lifecycle = batch(&follow.lifecycle, target, lifecycle, cursor(row, at)?, limit);

    Ok(Followed {
        events: Some((pos(&follow.events), limit, events)),
        attempts: Some((pos(&follow.attempts), limit, attempts)),
        lifecycle: Some((pos(&follow.lifecycle), limit, lifecycle)),
    })
}
