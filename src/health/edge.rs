//! The Edge Function's health, from its lifecycle events.
//!
//! Which exits are errors is decided by [`crate::domain::classify_exit`]: BootFailure,
//! UncaughtException, and shutdowns for WallClockTime, CPUTime, Memory (or an unknown reason).
//! The component is down from an error exit until the recovery window has passed without
//! another one: the runtime boots a fresh worker for the next request, so there is no "recovered"
//! event to wait for, and a regression that crashes every worker keeps the window open.

use chrono::{DateTime, Duration, Utc};

/// The `component` label of the Edge Function.
pub const EDGE_COMPONENT: &str = "edge_function";

/// Up unless an error exit occurred after `as_of - recovery_window` (exits stamped in the future,
/// from a writer's skewed clock, count as recent).
pub fn is_up(
    last_error_exit: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
    recovery_window: Duration,
) -> bool {
    match last_error_exit {
        None => true,
        Some(exit) => exit <= as_of.checked_sub_signed(recovery_window).unwrap_or(DateTime::<Utc>::MIN_UTC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_for_the_recovery_window_after_an_error_exit() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let w = Duration::minutes(5);
        assert!(is_up(None, now, w));
        assert!(!is_up(Some(now - Duration::minutes(4)), now, w));
        assert!(!is_up(Some(now + Duration::seconds(3)), now, w));
        assert!(is_up(Some(now - Duration::minutes(5)), now, w));
        assert!(is_up(Some(now - Duration::hours(6)), now, w));
    }
}
