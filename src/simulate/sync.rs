//! The portal sync service, simulated: workers claim queue items with `Store::sync_claim` (a
//! lease), call the portal (`portal.rs`) and end each attempt with `Store::sync_finish`, exactly
//! as a sync service in any language works the queue through the store's functions. Now and then
//! a worker vanishes holding an item: its lease runs out and the next claim logs it abandoned.
//! History mode replays the same policy in memory instead (`history.rs`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use uuid::Uuid;

use super::portal::{dice, Answer, Call, Portal};
use crate::domain::sync::SyncOutcome;
use crate::store::sync::{Claim, ClaimedItem, Finish};
use crate::store::{Store, StoreError};

/// What the dice of an attempt decide, so that each decision draws from its own stream.
pub(super) const SERVICE_DICE: u64 = 2;

/// How the simulated sync service works.
#[derive(Debug, Clone)]
pub struct SyncPolicy {
    pub workers: usize,
    /// Items one worker calls the portal for at once.
    pub concurrency: usize,
    pub lease: Duration,
    /// Attempts after which a failing item is given up.
    pub max_attempts: i32,
    /// The first retry's delay, doubled at each attempt (unless the portal says when to return).
    pub retry_base: Duration,
    /// The chance that the worker holding an attempt vanishes before finishing it.
    pub vanish_rate: f64,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            workers: 4,
            concurrency: 50,
            lease: Duration::from_secs(120),
            max_attempts: 5,
            retry_base: Duration::from_secs(10),
            vanish_rate: 0.002,
        }
    }
}

impl SyncPolicy {
    pub fn worker_name(i: usize) -> String {
        format!("sync-worker-{}", i + 1)
    }

    /// Which worker takes attempt `attempt` of an item, and whether it vanishes holding it.
    pub fn worker(&self, seed: u64, event_id: Uuid, attempt: i32) -> (usize, bool) {
        let mut dice = dice(seed, event_id, attempt, SERVICE_DICE);
        (dice.gen_range(0..self.workers.max(1)), dice.gen_bool(self.vanish_rate.clamp(0.0, 1.0)))
    }

    /// How attempt `attempt` ends after the portal's answer. Throttled calls are retried when the
    /// portal says, however many attempts the item has had; other failures until `max_attempts`,
    /// counting every attempt (throttled ones too), and refused data not at all.
    pub fn finish(&self, attempt: i32, answer: &Answer) -> Finish {
        let Err(failure) = &answer.result else { return Finish::succeeded() };
        let give_up = failure.permanent || (failure.retry_after.is_none() && attempt >= self.max_attempts);
        let outcome = if give_up { SyncOutcome::GaveUp } else { SyncOutcome::Retrying };
        let mut finish = Finish::failed(outcome, failure.class, failure.status, failure.detail);
        if !give_up {
            let backoff = self.retry_base * 2u32.pow(attempt.clamp(1, 10) as u32 - 1);
            finish.retry_in = failure.retry_after.unwrap_or(backoff);
        }
        finish
    }
}

/// A call under way: the worker, the item, when the portal's answer arrives, the answer.
struct InFlight {
    worker: usize,
    item: ClaimedItem,
    due: DateTime<Utc>,
    answer: Answer,
}

/// The live service, stepped by the simulator's clock.
pub struct LiveSync {
    seed: u64,
    policy: SyncPolicy,
    portal: Portal,
    calls: Vec<InFlight>,
    /// Attempts finished (the claims' abandoned ones aside: a claim does not report them).
    pub finished: u64,
}

impl LiveSync {
    pub fn new(seed: u64, policy: SyncPolicy, portal: Portal) -> LiveSync {
        LiveSync { seed, policy, portal, calls: Vec::new(), finished: 0 }
    }

    /// Finishes the calls answered by `now`, then lets every worker claim as many items as it
    /// has room for.
    pub async fn step(&mut self, store: &Store, now: DateTime<Utc>) -> Result<(), StoreError> {
        let (due, waiting) = std::mem::take(&mut self.calls).into_iter().partition(|c| c.due <= now);
        self.calls = waiting;
        for call in due {
            let finish = self.policy.finish(call.item.attempt, &call.answer);
            // False: the lease ran out meanwhile, and the claim that noticed logged it.
            if store.sync_finish(call.item.item_id, call.item.attempt, &finish).await? {
                self.finished += 1;
            }
        }
        for worker in 0..self.policy.workers {
            let busy = self.calls.iter().filter(|c| c.worker == worker).count();
            let room = self.policy.concurrency.saturating_sub(busy);
            if room == 0 {
                continue;
            }
            let name = SyncPolicy::worker_name(worker);
            let claim = Claim {
                worker: &name,
                limit: room as i64,
                lease: self.policy.lease,
                max_attempts: self.policy.max_attempts,
            };
            for item in store.sync_claim(&claim).await? {
                if self.policy.worker(self.seed, item.event_id, item.attempt).1 {
                    // The worker dies holding the item: nobody finishes it.
                    continue;
                }
                let answer = self.portal.call(&Call {
                    org_id: &item.org_id,
                    entity: item.entity_name.as_deref(),
                    event_id: item.event_id,
                    attempt: item.attempt,
                    at: now,
                });
                let due = now + chrono::Duration::from_std(answer.took).unwrap_or_default();
                self.calls.push(InFlight { worker, item, due, answer });
            }
        }
        Ok(())
    }
}
