//! The components' health, shared by the writers (probe loops, the collector) and the readers
//! (the collector's snapshot, `persist`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::Notify;

use super::edge::{self, EDGE_COMPONENT};
use crate::snapshot::{ComponentHealth, ProbeResult};

#[derive(Debug, Default)]
struct Entry {
    /// None until the first observation.
    up: Option<bool>,
    last_healthy: Option<DateTime<Utc>>,
    /// What the log store is known to hold.
    persisted: Option<DateTime<Utc>>,
    probe: Option<ProbeResult>,
}

/// Health of the configured components, shared by the writers and the collector.
#[derive(Debug)]
pub struct HealthState {
    entries: Mutex<BTreeMap<String, Entry>>,
    edge_recovery_window: chrono::Duration,
    went_down: Notify,
}

impl HealthState {
    /// `components` are the probed endpoints' labels; the Edge Function is always a component.
    pub fn new(
        components: impl IntoIterator<Item = String>,
        edge_recovery_window: std::time::Duration,
    ) -> Arc<Self> {
        let mut entries: BTreeMap<String, Entry> =
            components.into_iter().map(|c| (c, Entry::default())).collect();
        entries.entry(EDGE_COMPONENT.to_string()).or_default();
        Arc::new(HealthState {
            entries: Mutex::new(entries),
            edge_recovery_window: chrono::Duration::from_std(edge_recovery_window)
                .unwrap_or(chrono::Duration::MAX),
            went_down: Notify::new(),
        })
    }

    /// Records whether `component` was healthy at `at`. Unknown components are ignored.
    pub fn observe(&self, component: &str, healthy: bool, at: DateTime<Utc>, probe: Option<ProbeResult>) {
        let mut entries = self.entries.lock().unwrap();
        let Some(e) = entries.get_mut(component) else { return };
        // The store keeps microseconds; so does memory, or a reload would change the value served.
        let at = at.trunc_subsecs(6);
        let went_down = e.up != Some(false) && !healthy;
        e.up = Some(healthy);
        if healthy {
            e.last_healthy = max(e.last_healthy, Some(at));
        }
        if probe.is_some() {
            e.probe = probe;
        }
        drop(entries);
        if went_down {
            // The last healthy moment before an outage is the one value that must survive a restart.
            self.went_down.notify_one();
        }
    }

    /// Applies the Edge Function rule (see [`edge::is_up`]) to what the collector read as of `as_of`.
    pub fn observe_edge(&self, last_error_exit: Option<DateTime<Utc>>, as_of: DateTime<Utc>) {
        let up = edge::is_up(last_error_exit, as_of, self.edge_recovery_window);
        self.observe(EDGE_COMPONENT, up, as_of, None);
        if let (false, Some(exit)) = (up, last_error_exit) {
            // A read can miss a just-committed exit (on PostgreSQL, rows become readable once no
            // older transaction is open) and see the function healthy after it crashed; it was not.
            let exit = exit.trunc_subsecs(6);
            if let Some(e) = self.entries.lock().unwrap().get_mut(EDGE_COMPONENT) {
                if e.last_healthy > Some(exit) {
                    e.last_healthy = Some(exit);
                }
            }
        }
    }

    /// Components observed at least once, sorted by label.
    pub fn components(&self) -> Vec<ComponentHealth> {
        self.entries
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(name, e)| {
                e.up.map(|up| ComponentHealth {
                    component: name.clone(),
                    up,
                    last_healthy: e.last_healthy,
                    probe: e.probe.clone(),
                })
            })
            .collect()
    }

    /// Merges last-healthy times read from the log store; times only ever move forward.
    pub fn merge_persisted(&self, rows: impl IntoIterator<Item = (String, DateTime<Utc>)>) {
        let mut entries = self.entries.lock().unwrap();
        for (component, at) in rows {
            if let Some(e) = entries.get_mut(&component) {
                e.last_healthy = max(e.last_healthy, Some(at));
                e.persisted = max(e.persisted, Some(at));
            }
        }
    }

    /// Last-healthy times newer than what the log store holds.
    pub fn unpersisted(&self) -> Vec<(String, DateTime<Utc>)> {
        self.entries
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(name, e)| match (e.last_healthy, e.persisted) {
                (Some(t), p) if Some(t) > p => Some((name.clone(), t)),
                _ => None,
            })
            .collect()
    }

    pub fn mark_persisted(&self, component: &str, at: DateTime<Utc>) {
        if let Some(e) = self.entries.lock().unwrap().get_mut(component) {
            e.persisted = max(e.persisted, Some(at));
        }
    }

    /// Resolves when a component went from up (or unknown) to down.
    pub async fn went_down(&self) {
        self.went_down.notified().await
    }
}

fn max(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn last_healthy_stays_while_down_and_never_moves_back() {
        let h = HealthState::new(["endpoint:a".to_string()], Duration::from_secs(300));
        assert!(h.components().is_empty(), "nothing observed yet");
        h.observe("endpoint:a", true, t(10), None);
        h.observe("endpoint:a", false, t(20), None);
        let c = &h.components()[0];
        assert_eq!((c.up, c.last_healthy), (false, Some(t(10))));
        h.merge_persisted([("endpoint:a".to_string(), t(5)), ("endpoint:gone".to_string(), t(50))]);
        assert_eq!(h.components()[0].last_healthy, Some(t(10)));
        assert_eq!(h.unpersisted(), [("endpoint:a".to_string(), t(10))]);
        h.mark_persisted("endpoint:a", t(10));
        assert!(h.unpersisted().is_empty());
        h.observe("endpoint:a", true, t(30), None);
        assert_eq!(h.components()[0].last_healthy, Some(t(30)));
    }

    #[test]
    fn the_edge_function_was_not_healthy_after_an_exit_read_late() {
        let h = HealthState::new(Vec::<String>::new(), Duration::from_secs(300));
        h.observe_edge(None, t(10));
        assert_eq!(h.components()[0].last_healthy, Some(t(10)));
        h.observe_edge(Some(t(7)), t(20));
        let c = &h.components()[0];
        assert_eq!((c.up, c.last_healthy), (false, Some(t(7))));
        h.observe_edge(Some(t(7)), t(400));
        assert_eq!(h.components()[0].last_healthy, Some(t(400)));
    }
}
