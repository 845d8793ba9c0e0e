//! Writes realistic traffic into a log store exactly as the real writers would: the Edge Function
//! (webhook events), the portal sync service (queue items), and the platform's lifecycle events
//! (boots, crashes, shutdowns), which go through an exporter's ingestion endpoint as a real
//! event worker's would (`lifecycle.rs`; without a target they are not sent).
//!
//! Deterministic for a given seed and end time. History mode spreads `events` over `days` ending
//! at `end`; follow mode then keeps writing in real time, cycling through the incidents.

mod lifecycle;
mod traffic;

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;

pub use lifecycle::{runtime_event, IngestTarget, LifecycleSender, SendError};
pub use traffic::{org_ids, Incidents, Traffic};

use crate::store::{NewOrganization, Store, StoreError};

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub orgs: usize,
    /// Events written as history.
    pub events: u64,
    /// How far back history reaches.
    pub days: f64,
    pub end: DateTime<Utc>,
    /// Keep writing in real time after the history.
    pub follow: bool,
    /// Events per second in follow mode.
    pub rate: f64,
    /// Rows per write transaction.
    pub batch: usize,
    /// Where lifecycle events are posted; None: they are counted but not sent.
    pub ingest: Option<IngestTarget>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            orgs: 8,
            events: 20_000,
            days: 1.0,
            end: Utc::now(),
            follow: false,
            rate: 20.0,
            batch: 2_000,
            ingest: None,
        }
    }
}

/// What a run wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimSummary {
    pub events: u64,
    /// Lifecycle events posted to the ingestion endpoint.
    pub lifecycle_events: u64,
    /// Lifecycle events generated without an ingestion target to post them to.
    pub lifecycle_not_sent: u64,
    pub queue_items: u64,
}

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] SendError),
}

/// Creates the organizations with their endpoint URLs.
pub async fn seed_organizations(store: &Store, cfg: &SimConfig) -> Result<(), StoreError> {
    let created = cfg.end
        - chrono::Duration::milliseconds((cfg.days * 86_400_000.0) as i64)
        - chrono::Duration::days(1);
    for org in org_ids(cfg.orgs) {
        store
            .upsert_organization(&NewOrganization {
                display_name: traffic::display_name(&org),
                endpoint_url: traffic::endpoint_url(&org),
                org_id: org,
                changed_at: created,
            })
            .await?;
    }
    Ok(())
}

/// Writes the history, then (with `follow`) live traffic until `stop` resolves.
pub async fn run(
    store: &Store,
    cfg: &SimConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<SimSummary, SimError> {
    seed_organizations(store, cfg).await?;
    let sender = cfg.ingest.as_ref().map(LifecycleSender::new);
    let sender = sender.as_ref();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let start = cfg.end - chrono::Duration::milliseconds((cfg.days * 86_400_000.0) as i64);
    let traffic = Traffic::new(cfg.orgs, Incidents::history(cfg.end));
    let mut summary = SimSummary::default();
    let mut written = 0u64;
    while written < cfg.events {
        let n = (cfg.events - written).min(cfg.batch as u64);
        let span = (cfg.end - start) / cfg.events.max(1) as i32;
        let from = start + span * written as i32;
        let batch = traffic.generate(&mut rng, from, span, n as usize);
        summary.add(&batch, sender.is_some());
        batch.write(store, sender).await?;
        written += n;
    }
    if !cfg.follow {
        return Ok(summary);
    }
    tokio::pin!(stop);
    let traffic = Traffic::new(cfg.orgs, Incidents::live(cfg.end));
    let tick = Duration::from_millis(500);
    let mut carry = 0.0;
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(summary),
            _ = tokio::time::sleep(tick) => {}
        }
        carry += cfg.rate * tick.as_secs_f64();
        let n = carry.floor() as usize;
        carry -= n as f64;
        let now = Utc::now();
        let span = chrono::Duration::milliseconds(500) / (n.max(1) as i32);
        let batch = traffic.generate(&mut rng, now - chrono::Duration::milliseconds(500), span, n);
        summary.add(&batch, sender.is_some());
        batch.write(store, sender).await?;
        traffic.work_off_queue(store, now).await?;
    }
}

impl SimSummary {
    fn add(&mut self, batch: &traffic::GeneratedBatch, sent: bool) {
        self.events += batch.events.len() as u64;
        if sent {
            self.lifecycle_events += batch.lifecycle.len() as u64;
        } else {
            self.lifecycle_not_sent += batch.lifecycle.len() as u64;
        }
        self.queue_items += batch.queue.len() as u64;
    }
}
