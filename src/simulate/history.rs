//! The sync service's past, for history mode: each accepted event's queue item taken through the
//! claims and finishes the live service (`sync.rs`) would have made as the events came in, with
//! the same portal and policy, up to the end of the history. The items and their attempts are
//! written in bulk with the events (`Store::insert_traffic`); an item whose next step falls after
//! the end is left as the store would hold it then: waiting, or in flight.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::Rng;

use super::portal::{dice, Call, Portal};
use super::sync::SyncPolicy;
use crate::domain::sync::SyncOutcome;
use crate::store::history::QueuedItem;
use crate::store::NewEvent;

const PICKUP_DICE: u64 = 3;

pub struct SyncHistory {
    pub seed: u64,
    pub policy: SyncPolicy,
    pub portal: Portal,
    pub end: DateTime<Utc>,
}

fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// From enqueueing to the first claim: a few seconds, now and then minutes (a busy spell).
fn first_pickup(dice: &mut StdRng) -> Duration {
    let mut seconds = 0.3 - 3.0 * (1.0 - dice.gen::<f64>()).ln();
    if dice.gen_bool(0.02) {
        seconds += dice.gen_range(30.0..240.0);
    }
    Duration::from_secs_f64(seconds)
}

/// From an item becoming claimable again to the next claim that takes it.
fn poll(dice: &mut StdRng) -> Duration {
    Duration::from_millis(dice.gen_range(100..1000))
}

impl SyncHistory {
    /// The queue item of an accepted event as the service left it at the end of the history.
    pub fn settle(&self, e: &NewEvent) -> QueuedItem {
        let mut item = QueuedItem::enqueued(&e.org_id, e.event_id, e.received_at);
        let mut pickup = dice(self.seed, e.event_id, 0, PICKUP_DICE);
        let lease = chrono::Duration::from_std(self.policy.lease).unwrap_or(chrono::Duration::MAX);
        let mut at = after(e.received_at, first_pickup(&mut pickup));
        while at <= self.end {
            let attempt = item.attempts + 1;
            let (worker, vanishes) = self.policy.worker(self.seed, e.event_id, attempt);
            item.claim(&SyncPolicy::worker_name(worker), at, lease);
            if vanishes {
                // The first claim after the lease ran out notices, and hands the item out again.
                let noticed = after(at + lease, poll(&mut pickup));
                if noticed > self.end || item.lose(noticed, self.policy.max_attempts) == SyncOutcome::GaveUp {
                    break;
                }
                at = noticed;
                continue;
            }
            let answer = self.portal.call(&Call {
                org_id: &e.org_id,
                entity: e.entity_name.as_deref(),
                event_id: e.event_id,
                attempt,
                at,
            });
            let finished = after(at, answer.took);
            if finished > self.end {
                break;
            }
            let finish = self.policy.finish(attempt, &answer);
            item.finish(&finish, finished);
            if finish.outcome != SyncOutcome::Retrying {
                break;
            }
            at = after(item.visible_at.unwrap_or(finished), poll(&mut pickup));
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{Incidents, SimConfig, Traffic};
    use crate::store::history::ItemState;
    use rand::SeedableRng;

    /// A seed writes the same past every time, and every item's row agrees with its log, as the
    /// functions leave them: done after a success, failed after a give-up, otherwise open.
    #[test]
    fn the_past_is_deterministic_and_consistent() {
        let cfg = SimConfig::default();
        let end = cfg.end;
        let past = || SyncHistory {
            seed: cfg.seed,
            policy: cfg.sync.clone(),
            portal: Portal::new(cfg.seed, cfg.orgs, Incidents::history(end)),
            end,
        };
        let traffic = Traffic::new(cfg.orgs, Incidents::history(end));
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let from = end - chrono::Duration::hours(6);
        let batch = traffic.generate(&mut rng, from, chrono::Duration::milliseconds(1_000), 20_000);
        let (a, b) = (past(), past());
        let mut states = std::collections::BTreeMap::new();
        for e in batch.accepted() {
            let item = a.settle(e);
            assert_eq!(item, b.settle(e));
            let last = item.log.last().map(|l| l.outcome);
            let expected = match last {
                Some(SyncOutcome::Succeeded) => ItemState::Done,
                Some(SyncOutcome::GaveUp) => ItemState::Failed,
                _ => item.state,
            };
            assert_eq!(item.state, expected, "{item:?}");
            // One row per ended attempt; an attempt in flight has none yet.
            let open = usize::from(item.state == ItemState::Processing);
            assert_eq!(item.attempts as usize, item.log.len() + open, "{item:?}");
            assert!(item.log.iter().all(|l| l.finished_at <= end && l.started_at <= l.finished_at));
            *states.entry(item.state.as_str()).or_insert(0) += 1;
        }
        assert!(states.len() >= 3, "{states:?}");
    }
}
