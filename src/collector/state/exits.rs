//! The Edge Function's exits: counters from the lifecycle totals rollup at start, then from rows
//! as they are read; the last error exit (the health rule's input) from rows only.

use chrono::{DateTime, Utc};

use super::State;
use crate::domain::classify_exit;
use crate::snapshot::EdgeExitCount;
use crate::store::{LifecycleAggregate, LifecycleRow};

fn watched(functions: &[String], name: &str) -> bool {
    functions.is_empty() || functions.iter().any(|f| f == name)
}

impl State {
    /// Adds the exits of every lifecycle event committed before the read began (the rollup, so
    /// neither a restart nor retention lowers them), of `functions` (every function when empty).
    pub fn apply_lifecycle_totals(&mut self, totals: &[LifecycleAggregate], functions: &[String]) {
        for t in totals.iter().filter(|t| watched(functions, &t.function_name)) {
            if let Some(exit) = classify_exit(&t.event_type, t.shutdown_reason.as_deref()) {
                *self.exits.entry(exit).or_default() += t.count.max(0) as u64;
            }
        }
    }

    /// Takes the last error exit from rows whose exits the totals already counted (the lookback
    /// read at start).
    pub fn note_error_exits(&mut self, rows: &[LifecycleRow], functions: &[String]) {
        for row in rows.iter().filter(|r| watched(functions, &r.function_name)) {
            if let Some((_, true)) = classify_exit(&row.event_type, row.shutdown_reason.as_deref()) {
                self.last_error_exit =
                    Some(self.last_error_exit.map_or(row.occurred_at, |t| t.max(row.occurred_at)));
            }
        }
    }

    /// Counts the exits of newly committed rows of `functions` (every function when empty); other
    /// functions' rows are read but ignored.
    pub fn apply_lifecycle(&mut self, rows: &[LifecycleRow], functions: &[String]) {
        for row in rows.iter().filter(|r| watched(functions, &r.function_name)) {
            if let Some(exit) = classify_exit(&row.event_type, row.shutdown_reason.as_deref()) {
                *self.exits.entry(exit).or_default() += 1;
            }
        }
        self.note_error_exits(rows, functions);
    }

    pub fn last_error_exit(&self) -> Option<DateTime<Utc>> {
        self.last_error_exit
    }

    pub fn edge_exits(&self) -> Vec<EdgeExitCount> {
        self.exits.iter().map(|(&(reason, error), &count)| EdgeExitCount { reason, error, count }).collect()
    }
}
