//! The log store's bounded vocabularies, and how free-form values map onto metric labels.
//!
//! Writers may put anything in the text columns; everything that becomes a label goes through
//! here so that label cardinality stays bounded whatever is written.

pub mod sync;

use std::fmt;

/// What happened to a payload at the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Accepted,
    Rejected,
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Accepted, Outcome::Rejected, Outcome::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Why the endpoint rejected a payload. `Other` absorbs every value outside the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectionReason {
    MissingAuth,
    InvalidAuth,
    InvalidPayload,
    PayloadTooLarge,
    UnknownOrganization,
    UnsupportedEvent,
    Duplicate,
    RateLimited,
    InternalError,
    Other,
}

impl RejectionReason {
    pub const ALL: [RejectionReason; 10] = [
        RejectionReason::MissingAuth,
        RejectionReason::InvalidAuth,
        RejectionReason::InvalidPayload,
        RejectionReason::PayloadTooLarge,
        RejectionReason::UnknownOrganization,
        RejectionReason::UnsupportedEvent,
        RejectionReason::Duplicate,
        RejectionReason::RateLimited,
        RejectionReason::InternalError,
        RejectionReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectionReason::MissingAuth => "missing_auth",
            RejectionReason::InvalidAuth => "invalid_auth",
            RejectionReason::InvalidPayload => "invalid_payload",
            RejectionReason::PayloadTooLarge => "payload_too_large",
            RejectionReason::UnknownOrganization => "unknown_organization",
            RejectionReason::UnsupportedEvent => "unsupported_event",
            RejectionReason::Duplicate => "duplicate",
            RejectionReason::RateLimited => "rate_limited",
            RejectionReason::InternalError => "internal_error",
            RejectionReason::Other => "other",
        }
    }

    /// Maps a stored value onto the vocabulary; unknown or missing values become `Other`.
    pub fn from_stored(s: Option<&str>) -> RejectionReason {
        s.and_then(|s| RejectionReason::ALL.into_iter().find(|r| r.as_str() == s))
            .unwrap_or(RejectionReason::Other)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shutdown reasons reported by the edge runtime.
pub const SHUTDOWN_REASONS: [&str; 6] =
    ["EventLoopCompleted", "WallClockTime", "CPUTime", "Memory", "EarlyDrop", "TerminationRequested"];

/// The runtime's name for a shutdown reason as a sender may spell it: the runtime's own
/// (`CPUTime`), in any case, or the `beforeunload` event's (`cpu`, `memory`, `wall_clock`,
/// `early_drop`, `termination`). None for anything else.
pub fn shutdown_reason(text: &str) -> Option<&'static str> {
    let key: String = text.trim().chars().filter(|c| *c != '_' && *c != '-' && *c != ' ').collect();
    let key = key.to_ascii_lowercase();
    let alias = match key.as_str() {
        "cpu" => Some("CPUTime"),
        "wallclock" => Some("WallClockTime"),
        "termination" => Some("TerminationRequested"),
        _ => None,
    };
    alias.or_else(|| SHUTDOWN_REASONS.into_iter().find(|r| r.to_ascii_lowercase() == key))
}

/// How an Edge Function lifecycle event counts for health.
///
/// Returns the exit reason label and whether it is an error exit, or `None` for events that are
/// not exits (Boot, Log). EarlyDrop is *not* an error: the runtime drops an idle worker early to
/// reclaim resources after its response was sent, which is routine under light traffic.
pub fn classify_exit(event_type: &str, shutdown_reason: Option<&str>) -> Option<(&'static str, bool)> {
    match event_type {
        "BootFailure" => Some(("BootFailure", true)),
        "UncaughtException" => Some(("UncaughtException", true)),
        "Shutdown" => {
            let reason = shutdown_reason.unwrap_or("");
            let known = SHUTDOWN_REASONS.into_iter().find(|r| *r == reason).unwrap_or("other");
            let error = matches!(known, "WallClockTime" | "CPUTime" | "Memory" | "other");
            Some((known, error))
        }
        _ => None,
    }
}

/// HTTP status codes outside 100..=599 cannot be stored (a CHECK constraint) but a label must
/// still be bounded if a store lacks the constraint.
pub fn status_label(code: i32) -> String {
    if (100..=599).contains(&code) {
        code.to_string()
    } else {
        "other".to_string()
    }
}

/// The `org` label for events whose org_id is not a configured organization.
pub const UNKNOWN_ORG: &str = "_unknown";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_outside_the_vocabulary_are_other() {
        assert_eq!(RejectionReason::from_stored(Some("invalid_auth")), RejectionReason::InvalidAuth);
        assert_eq!(RejectionReason::from_stored(Some("Invalid_Auth")), RejectionReason::Other);
        assert_eq!(RejectionReason::from_stored(None), RejectionReason::Other);
        for (i, r) in RejectionReason::ALL.into_iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    /// The vocabulary is written once, here; every other place that lists it is checked against it.
    #[test]
    fn every_list_of_reasons_is_the_vocabulary() {
        let stored: Vec<&str> = RejectionReason::ALL
            .iter()
            .filter(|r| **r != RejectionReason::Other)
            .map(|r| r.as_str())
            .collect();
        assert_eq!(crate::admin::select_options("f-reason"), stored, "the admin page's reason filter");

        let log_store = include_str!("../docs/log-store.md");
        let table = &log_store[log_store.find("### Rejection reasons").unwrap()..];
        let documented: Vec<&str> = table
            .lines()
            .skip_while(|l| !l.starts_with("|---"))
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.trim_start_matches("| `").split('`').next().unwrap())
            .collect();
        assert_eq!(documented, stored, "docs/log-store.md's table of rejection reasons");

        let metrics = include_str!("../docs/metrics.md");
        let line = metrics.lines().find(|l| l.starts_with("| `reason` |")).unwrap();
        let labels: Vec<&str> = line.split('`').skip(3).step_by(2).collect();
        let all: Vec<&str> = RejectionReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels, all, "docs/metrics.md's reason label values");
    }

    #[test]
    fn shutdown_reasons_are_read_in_any_spelling() {
        assert_eq!(shutdown_reason("CPUTime"), Some("CPUTime"));
        assert_eq!(shutdown_reason("cputime"), Some("CPUTime"));
        assert_eq!(shutdown_reason("cpu"), Some("CPUTime"));
        assert_eq!(shutdown_reason("wall_clock"), Some("WallClockTime"));
        assert_eq!(shutdown_reason("early_drop"), Some("EarlyDrop"));
        assert_eq!(shutdown_reason("memory"), Some("Memory"));
        assert_eq!(shutdown_reason("termination"), Some("TerminationRequested"));
        assert_eq!(shutdown_reason("EventLoopCompleted"), Some("EventLoopCompleted"));
        assert_eq!(shutdown_reason("Error"), None);
        assert_eq!(shutdown_reason(""), None);
    }

    #[test]
    fn exits_are_classified() {
        assert_eq!(classify_exit("Boot", None), None);
        assert_eq!(classify_exit("BootFailure", None), Some(("BootFailure", true)));
        assert_eq!(classify_exit("Shutdown", Some("Memory")), Some(("Memory", true)));
        assert_eq!(classify_exit("Shutdown", Some("EarlyDrop")), Some(("EarlyDrop", false)));
        assert_eq!(
            classify_exit("Shutdown", Some("EventLoopCompleted")),
            Some(("EventLoopCompleted", false))
        );
        assert_eq!(classify_exit("Shutdown", Some("bogus")), Some(("other", true)));
    }
}
