//! What the landing page, telemetry and readiness handlers are given.

use std::sync::Arc;

use crate::collector::LogCollector;
use crate::metrics;

#[derive(Clone)]
pub struct AppState {
    pub collector: Arc<LogCollector>,
    pub encoder: Arc<metrics::Encoder>,
    pub telemetry_path: String,
}
