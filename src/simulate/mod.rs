//! Writes realistic traffic into a log store exactly as the real writers would: the Edge Function
//! (webhook events and their queue items), the portal sync service (claims, attempts and their
//! outcomes against a simulated portal: `sync.rs`, `portal.rs`), and the platform's lifecycle
//! events (boots, crashes, shutdowns), which go through an exporter's ingestion endpoint as a real
//! event worker's would (`lifecycle.rs`; without a target they are not sent).
//!
//! Deterministic for a given seed and end time. History mode spreads `events` over `days` ending
//! at `end`, with the sync service's past (`history.rs`); follow mode then keeps writing in real
//! time, cycling through the incidents, with the sync service working the queue live.

mod error;
mod history;
mod incidents;
mod lifecycle;
pub mod portal;
pub mod sync;
mod traffic;

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;

pub use error::SimError;
pub use incidents::Incidents;
pub use lifecycle::{runtime_event, IngestTarget, LifecycleSender, SendError};
pub use traffic::{org_ids, Traffic};

use crate::store::history::QueuedItem;
use crate::store::{NewOrganization, Store, StoreError};
use history::SyncHistory;
use portal::Portal;
use sync::{LiveSync, SyncPolicy};

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
    /// How the simulated sync service works the queue.
    pub sync: SyncPolicy,
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
            sync: SyncPolicy::default(),
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
    /// Attempts the sync service logged (in follow mode, those it finished).
    pub sync_attempts: u64,
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
    let incidents = Incidents::history(cfg.end);
    let traffic = Traffic::new(cfg.orgs, incidents.clone());
    let past = SyncHistory {
        seed: cfg.seed,
        policy: cfg.sync.clone(),
        portal: Portal::new(cfg.seed, cfg.orgs, incidents),
        end: cfg.end,
    };
    let mut summary = SimSummary::default();
    let mut written = 0u64;
    while written < cfg.events {
        let n = (cfg.events - written).min(cfg.batch as u64);
        let span = (cfg.end - start) / cfg.events.max(1) as i32;
        let from = start + span * written as i32;
        let batch = traffic.generate(&mut rng, from, span, n as usize);
        let items: Vec<QueuedItem> = batch.accepted().map(|e| past.settle(e)).collect();
        summary.add(&batch, &items, sender.is_some());
        batch.write(store, &items, sender).await?;
        written += n;
    }
    if !cfg.follow {
        return Ok(summary);
    }
    tokio::pin!(stop);
    let incidents = Incidents::live(cfg.end);
    let traffic = Traffic::new(cfg.orgs, incidents.clone());
    let mut service = LiveSync::new(cfg.seed, cfg.sync.clone(), Portal::new(cfg.seed, cfg.orgs, incidents));
    let tick = Duration::from_millis(500);
    let mut carry = 0.0;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(tick) => {}
        }
        carry += cfg.rate * tick.as_secs_f64();
        let n = carry.floor() as usize;
        carry -= n as f64;
        let now = Utc::now();
        let span = chrono::Duration::milliseconds(500) / (n.max(1) as i32);
        let batch = traffic.generate(&mut rng, now - chrono::Duration::milliseconds(500), span, n);
        let items: Vec<QueuedItem> =
            batch.accepted().map(|e| QueuedItem::enqueued(&e.org_id, e.event_id, e.received_at)).collect();
        summary.add(&batch, &items, sender.is_some());
        batch.write(store, &items, sender).await?;
        service.step(store, now).await?;
    }
    summary.sync_attempts += service.finished;
    Ok(summary)
}

impl SimSummary {
    fn add(&mut self, batch: &traffic::GeneratedBatch, items: &[QueuedItem], sent: bool) {
        self.events += batch.events.len() as u64;
        if sent {
            self.lifecycle_events += batch.lifecycle.len() as u64;
        } else {
            self.lifecycle_not_sent += batch.lifecycle.len() as u64;
        }
        self.queue_items += items.len() as u64;
        self.sync_attempts += items.iter().map(|i| i.log.len() as u64).sum::<u64>();
    }
}
