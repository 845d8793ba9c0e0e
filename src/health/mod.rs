//! Infrastructure health: what the endpoint probes and the Edge Function's lifecycle events say
//! about each component, and the last moment each was seen healthy.
//!
//! Writers (the probe loops, the collector for the Edge Function) record observations here; the
//! collector's snapshot reads them; [`persist`] keeps the last-healthy times in the log store so
//! that a restart during an outage still reports the true time.

pub mod config;
pub mod edge;
pub mod persist;
mod state;

pub use edge::EDGE_COMPONENT;
pub use state::HealthState;
