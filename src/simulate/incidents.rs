//! When the incidents happen. Org roles: 1 has a secret rotation, 2 is throttled by the portal
//! (its queue backs up), 3 goes silent, the last one sends an entity the portal always refuses
//! (`portal.rs`); the portal outage and the Edge Function crash hit every org.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone)]
pub struct Incidents {
    pub(super) live: bool,
    anchor: DateTime<Utc>,
}

impl Incidents {
    /// History ending at `end`: the secret rotation is ongoing (last 40 minutes), the crash was
    /// six hours ago, the portal was down for half an hour from 4h30 ago, the throttling builds a
    /// backlog over the last two hours, the silent org stopped three hours ago.
    pub fn history(end: DateTime<Utc>) -> Incidents {
        Incidents { live: false, anchor: end }
    }

    /// Live traffic: a 15-minute cycle with a 5-minute secret rotation, 8 minutes of throttling,
    /// a 1-minute crash and a 3-minute portal outage.
    pub fn live(start: DateTime<Utc>) -> Incidents {
        Incidents { live: true, anchor: start }
    }

    fn cycle_minute(&self, t: DateTime<Utc>) -> i64 {
        (t - self.anchor).num_minutes().rem_euclid(15)
    }

    /// Within the history's span from `from` to `to` before its end.
    fn ago(&self, t: DateTime<Utc>, from: Duration, to: Duration) -> bool {
        t > self.anchor - from && t <= self.anchor - to
    }

    pub fn rotation(&self, org: usize, t: DateTime<Utc>) -> bool {
        org == 1 && if self.live { self.cycle_minute(t) < 5 } else { t > self.anchor - Duration::minutes(40) }
    }

    pub fn crash(&self, t: DateTime<Utc>) -> bool {
        if self.live {
            self.cycle_minute(t) == 8
        } else {
            self.ago(t, Duration::hours(6), Duration::minutes(340))
        }
    }

    /// The portal throttles the org (service protection limits): its items wait in the queue.
    pub fn throttled(&self, org: usize, t: DateTime<Utc>) -> bool {
        org == 2 && if self.live { self.cycle_minute(t) < 8 } else { t > self.anchor - Duration::hours(2) }
    }

    pub fn silent(&self, org: usize, t: DateTime<Utc>) -> bool {
        org == 3 && (self.live || t > self.anchor - Duration::hours(3))
    }

    /// The portal answers 503 to every call, for every org.
    pub fn portal_outage(&self, t: DateTime<Utc>) -> bool {
        if self.live {
            (10..13).contains(&self.cycle_minute(t))
        } else {
            self.ago(t, Duration::minutes(270), Duration::minutes(240))
        }
    }
}
