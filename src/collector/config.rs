//! How the collector reads: its windows, batch size, deadline and the Edge Functions it watches.

use std::time::Duration;

use super::state::Window;

/// How the collector reads.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub windows: Vec<Window>,
    /// Rows per incremental read; a backlog is read in several.
    pub batch_size: i64,
    /// A refresh stops reading further batches after this long, to answer the scrape.
    pub deadline: Duration,
    /// How far back Edge Function lifecycle events are read at start, for the last error exit
    /// (the exits counters come from the totals rollup).
    pub lifecycle_lookback: chrono::Duration,
    /// The Edge Functions whose lifecycle rows count (exits and health), by their stored
    /// `function_name`; empty: every function.
    pub edge_functions: Vec<String>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            windows: vec![
                Window { label: "1h".into(), micros: 3_600_000_000 },
                Window { label: "24h".into(), micros: 86_400_000_000 },
            ],
            batch_size: 50_000,
            deadline: Duration::from_secs(5),
            lifecycle_lookback: chrono::Duration::hours(24),
            edge_functions: Vec::new(),
        }
    }
}

impl CollectorConfig {
    /// The longest window: how far back accepted events are tracked until they are synced.
    pub fn unaccounted_horizon(&self) -> Duration {
        let micros = self.windows.iter().map(|w| w.micros).max().unwrap_or(0);
        Duration::from_micros(micros.max(0) as u64)
    }
}
