//! Unit tests of the collector's in-memory state.

use chrono::Duration;

use super::*;
use crate::store::{LifecycleAggregate, LifecycleRow};

fn row(at: DateTime<Utc>, outcome: &str, reason: Option<&str>) -> EventRow {
    EventRow {
        event_id: crate::store::EventKey(uuid::Uuid::new_v4()),
        org_id: "contoso".into(),
        received_at: at,
        outcome: outcome.into(),
        http_status: if outcome == "rejected" { 401 } else { 200 },
        rejection_reason: reason.map(Into::into),
    }
}

/// Figures kept between scrapes are the same `Arc` exactly while nothing can have moved: a
/// row leaving a window, a new row and a new URL each give new figures.
#[test]
fn figures_are_kept_while_they_hold_and_no_longer() {
    let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let windows = [Window { label: "1h".into(), micros: 3_600_000_000 }];
    let org = |url: &str| OrgRow {
        org_id: "contoso".into(),
        display_name: "Contoso".into(),
        endpoint_url: url.into(),
        endpoint_url_changed_at: t0,
        active: true,
    };
    let mut state = State::default();
    state.set_organizations(vec![org("https://a")]);
    let rows = [
        row(t0 - Duration::minutes(59), "rejected", Some("invalid_auth")),
        row(t0 - Duration::minutes(30), "accepted", None),
    ];
    state.apply_new(&rows, micros(t0) - windows[0].micros, t0);

    let first = state.org_snapshots(t0, &windows).remove(0);
    assert_eq!((first.windows[0].received, first.windows[0].rejected), (2, 1));
    assert_eq!(first.windows[0].rejected_by_reason, [(RejectionReason::InvalidAuth, "401".into(), 1)]);
    let later = state.org_snapshots(t0 + Duration::seconds(59), &windows).remove(0);
    assert!(Arc::ptr_eq(&first, &later), "nothing left the window yet");

    let after_edge = state.org_snapshots(t0 + Duration::seconds(61), &windows).remove(0);
    assert_eq!((after_edge.windows[0].received, after_edge.windows[0].rejected), (1, 0));
    assert!(after_edge.windows[0].rejected_by_reason.is_empty(), "pairs at 0 are not served");
    assert_eq!(state.rejected_totals(), [(RejectionReason::InvalidAuth, "401".into(), 1)], "counters stay");

    let t1 = t0 + Duration::minutes(2);
    state.apply_new(&[row(t1, "failed", None)], micros(t1) - windows[0].micros, t1);
    let with_new_row = state.org_snapshots(t1, &windows).remove(0);
    assert_eq!((with_new_row.windows[0].received, with_new_row.windows[0].failed), (2, 1));

    let same = state.org_snapshots(t1, &windows).remove(0);
    assert!(Arc::ptr_eq(&with_new_row, &same));
    state.set_organizations(vec![org("https://b")]);
    let moved = state.org_snapshots(t1, &windows).remove(0);
    assert_eq!(moved.endpoint.as_ref().unwrap().url, "https://b");
}

/// With functions given, other functions' exits count nowhere: not in the exits, not in the
/// last error exit that takes the Edge Function down.
#[test]
fn other_functions_lifecycle_rows_are_ignored() {
    let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let exit = |function: &str, minutes: i64, event_type: &str, reason: Option<&str>| LifecycleRow {
        occurred_at: t0 + Duration::minutes(minutes),
        function_name: function.into(),
        event_type: event_type.into(),
        shutdown_reason: reason.map(Into::into),
    };
    let rows = [
        exit("other", 0, "BootFailure", None),
        exit("dynamics-webhook", 1, "Shutdown", Some("EarlyDrop")),
        exit("other", 2, "Shutdown", Some("Memory")),
        exit("0b9c-uuid", 3, "Shutdown", Some("EventLoopCompleted")),
    ];
    let watched = ["dynamics-webhook".to_string(), "0b9c-uuid".to_string()];
    let mut state = State::default();
    state.apply_lifecycle(&rows, &watched);
    assert_eq!(state.last_error_exit(), None, "another function's crash does not take it down");
    let mut exits: Vec<_> = state.edge_exits().iter().map(|x| (x.reason, x.error, x.count)).collect();
    exits.sort();
    assert_eq!(exits, [("EarlyDrop", false, 1), ("EventLoopCompleted", false, 1)]);

    state.apply_lifecycle(&[exit("dynamics-webhook", 4, "UncaughtException", None)], &watched);
    assert_eq!(state.last_error_exit(), Some(t0 + Duration::minutes(4)));

    let mut every = State::default();
    every.apply_lifecycle(&rows, &[]);
    assert_eq!(every.last_error_exit(), Some(t0 + Duration::minutes(2)), "no functions given: all count");
    assert_eq!(every.edge_exits().iter().map(|x| x.count).sum::<u64>(), 4);
}

/// At start the exits come from the rollup (of the watched functions), and the lookback's rows
/// only tell the last error exit: they are not counted twice.
#[test]
fn exit_totals_count_and_the_lookback_only_dates() {
    let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let total = |function: &str, event_type: &str, reason: Option<&str>, count| LifecycleAggregate {
        function_name: function.into(),
        event_type: event_type.into(),
        shutdown_reason: reason.map(Into::into),
        count,
    };
    let watched = ["dynamics-webhook".to_string()];
    let mut state = State::default();
    state.apply_lifecycle_totals(
        &[
            total("dynamics-webhook", "BootFailure", None, 3),
            total("dynamics-webhook", "Boot", None, 9),
            total("other", "UncaughtException", None, 5),
        ],
        &watched,
    );
    let recent = LifecycleRow {
        occurred_at: t0,
        function_name: "dynamics-webhook".into(),
        event_type: "BootFailure".into(),
        shutdown_reason: None,
    };
    state.note_error_exits(&[recent], &watched);
    assert_eq!(state.last_error_exit(), Some(t0));
    let exits: Vec<_> = state.edge_exits().iter().map(|x| (x.reason, x.error, x.count)).collect();
    assert_eq!(exits, [("BootFailure", true, 3)]);
}

/// `_unknown` keeps the carries of configured orgs only: an org not configured is `_unknown`'s
/// whole already.
#[test]
fn unknown_keeps_the_carry_of_configured_orgs() {
    let org = |id: &str, active| OrgRow {
        org_id: id.into(),
        display_name: id.into(),
        endpoint_url: format!("https://example.org/{id}"),
        endpoint_url_changed_at: DateTime::from_timestamp(0, 0).unwrap(),
        active,
    };
    let mut state = State::default();
    state.set_organizations(vec![org("contoso", true), org("ghost", false)]);
    state.apply_unknown_carry(&[("contoso".into(), 4), ("ghost".into(), 7), ("gone".into(), 2)]);
    let unknown = state.orgs.get(UNKNOWN_ORG).expect("_unknown holds the carry");
    assert_eq!(unknown.received_total, 4);
}
