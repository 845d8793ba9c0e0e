//! The portal the sync service applies accepted events to, simulated. Whether a call succeeds,
//! how it fails and how long it takes is a function of the seed, the item (event and attempt),
//! the organization, the entity and the time of the call, so that a history and a live run tell
//! the same story and a seed always writes the same history.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use super::incidents::Incidents;
use super::traffic::org_ids;
use crate::domain::sync::SyncErrorClass;

/// The entity the portal refuses, always, for one organization (`Portal::refusing_org`): a
/// mapping the portal lacks, given up at once.
pub const REFUSED_ENTITY: &str = "appointment";
/// How long the sync service waits for the portal before it counts a call as timed out.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// What a throttled org is told to wait (the portal's `Retry-After`).
pub const THROTTLE_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Steady failures, by probability per call: (cumulative probability, class, status).
const STEADY: [(f64, SyncErrorClass, Option<i32>); 3] = [
    (0.006, SyncErrorClass::PortalUnavailable, Some(503)),
    (0.010, SyncErrorClass::Timeout, None),
    (0.012, SyncErrorClass::Conflict, Some(409)),
];

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub class: SyncErrorClass,
    pub status: Option<i32>,
    pub detail: &'static str,
    /// Retrying cannot help: the service gives up at once.
    pub permanent: bool,
    /// The portal said when to come back (throttling); attempts spent waiting for it do not
    /// exhaust the service's patience.
    pub retry_after: Option<Duration>,
}

/// One call's answer and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub result: Result<(), Failure>,
    pub took: Duration,
}

/// One call: which item, for whom, when.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub org_id: &'a str,
    pub entity: Option<&'a str>,
    pub event_id: Uuid,
    pub attempt: i32,
    pub at: DateTime<Utc>,
}

/// The dice of one attempt of one item: the same for every run with the same seed.
pub fn dice(seed: u64, event_id: Uuid, attempt: i32, purpose: u64) -> StdRng {
    let (hi, lo) = event_id.as_u64_pair();
    let key = seed ^ hi.rotate_left(29) ^ lo ^ (attempt as u64).rotate_left(48) ^ purpose.rotate_left(8);
    StdRng::seed_from_u64(key)
}

pub struct Portal {
    seed: u64,
    orgs: HashMap<String, usize>,
    refusing_org: usize,
    incidents: Incidents,
}

impl Portal {
    pub fn new(seed: u64, orgs: usize, incidents: Incidents) -> Portal {
        let ids = org_ids(orgs.max(1));
        let refusing_org = ids.len() - 1;
        Portal {
            seed,
            orgs: ids.into_iter().enumerate().map(|(i, o)| (o, i)).collect(),
            refusing_org,
            incidents,
        }
    }

    /// The organization whose `REFUSED_ENTITY` events the portal refuses: the last one.
    pub fn refusing_org(orgs: usize) -> String {
        org_ids(orgs.max(1)).pop().unwrap_or_default()
    }

    pub fn call(&self, c: &Call<'_>) -> Answer {
        let mut dice = dice(self.seed, c.event_id, c.attempt, 1);
        let (x, speed): (f64, f64) = (dice.gen(), dice.gen());
        let quick = Duration::from_millis(20 + (speed * 60.0) as u64);
        let org = self.orgs.get(c.org_id).copied();
        let fail = |class, status, detail, took| Answer {
            result: Err(Failure { class, status, detail, permanent: false, retry_after: None }),
            took,
        };
        if self.incidents.portal_outage(c.at) {
            return fail(
                SyncErrorClass::PortalUnavailable,
                Some(503),
                "portal answered 503 Service Unavailable",
                quick,
            );
        }
        if org == Some(self.refusing_org) && c.entity == Some(REFUSED_ENTITY) {
            let detail = "portal refused the record: no mapping for entity appointment (422)";
            let failure = Failure {
                class: SyncErrorClass::InvalidData,
                status: Some(422),
                detail,
                permanent: true,
                retry_after: None,
            };
            return Answer { result: Err(failure), took: quick };
        }
        if org.is_some_and(|o| self.incidents.throttled(o, c.at)) {
            let failure = Failure {
                class: SyncErrorClass::PortalRejected,
                status: Some(429),
                detail: "portal throttled the organization (429 Too Many Requests, service protection limit)",
                permanent: false,
                retry_after: Some(THROTTLE_RETRY_AFTER),
            };
            return Answer { result: Err(failure), took: quick };
        }
        // A usual call: 80 ms to about a second, now and then slower.
        let took = Duration::from_millis(80 + (speed * speed * 900.0) as u64);
        match STEADY.iter().find(|(p, _, _)| x < *p) {
            Some((_, SyncErrorClass::Timeout, _)) => {
                fail(SyncErrorClass::Timeout, None, "no answer from the portal within 30s", CALL_TIMEOUT)
            }
            Some((_, SyncErrorClass::Conflict, status)) => fail(
                SyncErrorClass::Conflict,
                *status,
                "the record changed on the portal meanwhile (409 Conflict)",
                took,
            ),
            Some((_, class, status)) => {
                fail(*class, *status, "portal answered 503 Service Unavailable", took)
            }
            None => Answer { result: Ok(()), took },
        }
    }
}
