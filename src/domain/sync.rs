//! The sync service's vocabularies (migration 0007): what became of an attempt, and why it failed.

use std::fmt;

/// What became of a queue item after one processing attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncOutcome {
    /// Applied to the portal: the item is done.
    Succeeded,
    /// Failed; the item waits for another attempt.
    Retrying,
    /// Failed for good: the item is `failed` and can be reprocessed.
    GaveUp,
    /// The worker vanished (its lease ran out); the item waits for another attempt.
    Abandoned,
}

impl SyncOutcome {
    pub const ALL: [SyncOutcome; 4] =
        [SyncOutcome::Succeeded, SyncOutcome::Retrying, SyncOutcome::GaveUp, SyncOutcome::Abandoned];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncOutcome::Succeeded => "succeeded",
            SyncOutcome::Retrying => "retrying",
            SyncOutcome::GaveUp => "gave_up",
            SyncOutcome::Abandoned => "abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<SyncOutcome> {
        SyncOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for SyncOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt failed. `Other` absorbs every value outside the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncErrorClass {
    /// The portal API could not be reached or answered 5xx.
    PortalUnavailable,
    /// The portal refused the sync service's credentials (401/403).
    PortalAuth,
    /// The portal refused the change itself (another 4xx).
    PortalRejected,
    /// The record changed on the portal's side meanwhile (409/412).
    Conflict,
    /// The event cannot be mapped to a portal change.
    InvalidData,
    /// The portal did not answer in time.
    Timeout,
    /// The worker vanished mid-attempt (its lease ran out).
    WorkerLost,
    /// A fault of the sync service itself.
    Internal,
    Other,
}

impl SyncErrorClass {
    pub const ALL: [SyncErrorClass; 9] = [
        SyncErrorClass::PortalUnavailable,
        SyncErrorClass::PortalAuth,
        SyncErrorClass::PortalRejected,
        SyncErrorClass::Conflict,
        SyncErrorClass::InvalidData,
        SyncErrorClass::Timeout,
        SyncErrorClass::WorkerLost,
        SyncErrorClass::Internal,
        SyncErrorClass::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncErrorClass::PortalUnavailable => "portal_unavailable",
            SyncErrorClass::PortalAuth => "portal_auth",
            SyncErrorClass::PortalRejected => "portal_rejected",
            SyncErrorClass::Conflict => "conflict",
            SyncErrorClass::InvalidData => "invalid_data",
            SyncErrorClass::Timeout => "timeout",
            SyncErrorClass::WorkerLost => "worker_lost",
            SyncErrorClass::Internal => "internal",
            SyncErrorClass::Other => "other",
        }
    }

    /// Maps a stored value onto the vocabulary; unknown values become `Other`.
    pub fn from_stored(s: &str) -> SyncErrorClass {
        SyncErrorClass::ALL.into_iter().find(|c| c.as_str() == s).unwrap_or(SyncErrorClass::Other)
    }
}

impl fmt::Display for SyncErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Upper bounds (seconds) of the end-to-end lag histogram's buckets, +Inf aside: the store's
/// totals are kept per bucket (`sync_lag_bucket()` in migration 0007), so these must equal its list.
pub const LAG_BUCKETS: [f64; 13] =
    [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 10800.0, 21600.0, 86400.0];

#[cfg(test)]
mod tests {
    use super::*;

    /// The vocabularies are written once here; the migrations' CHECK constraints must match.
    #[test]
    fn the_migrations_use_the_same_vocabularies() {
        for migration in [
            include_str!("../../migrations/postgres/0007_sync_log.sql"),
            include_str!("../../migrations/sqlite/0007_sync_log.sql"),
        ] {
            for c in SyncErrorClass::ALL {
                assert!(migration.contains(&format!("'{c}'")), "{c} missing from a migration");
            }
            for o in SyncOutcome::ALL {
                assert!(migration.contains(&format!("'{o}'")), "{o} missing from a migration");
            }
        }
        let pg = include_str!("../../migrations/postgres/0007_sync_log.sql");
        let bounds: Vec<String> = LAG_BUCKETS.iter().map(|b| format!("{b}")).collect();
        assert!(pg.contains(&format!("ARRAY[{}]", bounds.join(", "))), "sync_lag_bucket's list");
        assert_eq!(SyncErrorClass::from_stored("bogus"), SyncErrorClass::Other);
    }
}
