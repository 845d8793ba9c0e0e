//! The "Webhook health" dashboard proven through its parts, since no Grafana runs here (see
//! docs/dashboard.md, "Testing the queries"):
//! - every PromQL target, for every organization selection and window, against a real Prometheus
//!   scraping the real exporter (which reads a simulated PostgreSQL log store) and evaluating the
//!   repository's alert rules;
//! - every SQL target (panels and annotations), with Grafana's macros substituted, against that
//!   log store as Grafana's read-only role (deploy/postgres/init/grafana_reader.psql);
//! - the error-event table's data link to the exporter's admin page.
//!
//! A missing `prometheus` or `psql` FAILS the test: run scripts/install-test-deps.sh.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::{Column, Connection, PgConnection, Row, TypeInfo};
use webhook_health_exporter::simulate::{self, SimConfig};
use webhook_health_exporter::store::{NewOrganization, Store};

use crate::support::dashboard::{self as dash, PromTarget};
use crate::support::prometheus::{Labels, Prometheus, PrometheusConfig, EXPORTER_JOB};

// ------------------------------------------------------------------------- variable values

/// A choice in the dashboard's multi-value `org` variable.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Selection {
    One(&'static str),
    Several(&'static [&'static str]),
    All,
}

/// The selections every query runs with. fabrikam is in an ongoing secret-rotation incident in
/// the simulator's history (most of its last hour rejected); contoso's endpoint URL is moved ten
/// minutes before the test (see `move_contoso_endpoint`).
const SELECTIONS: [Selection; 3] =
    [Selection::One("fabrikam"), Selection::Several(&["contoso", "fabrikam"]), Selection::All];

impl Selection {
    /// What Grafana substitutes for `$org` (Prometheus) and `${org:regex}` (SQL): the value, a
    /// regex alternation of the values, or the variable's custom all-value.
    fn value(self, d: &Value) -> String {
        match self {
            Selection::One(org) => org.to_string(),
            Selection::Several(orgs) => format!("({})", orgs.join("|")),
            Selection::All => dash::str_of(dash::variable(d, "org"), "allValue").to_string(),
        }
    }

    fn contains(self, org: &str) -> bool {
        match self {
            Selection::One(o) => o == org,
            Selection::Several(orgs) => orgs.contains(&org),
            Selection::All => true,
        }
    }
}

/// `$__rate_interval` and `$__interval` for a 1 s scrape interval: a rate needs two samples in
/// its range, and Grafana's rate interval is at least four scrape intervals.
const RATE_INTERVAL: &str = "10s";
const INTERVAL: &str = "1s";
/// Seconds of data a range query covers (Grafana's time range, shrunk to what the test scrapes).
const RANGE_SECONDS: f64 = 10.0;

/// A PromQL target with its template variables substituted as Grafana would: `$job` and
/// `$instance` with their default, All (the variable's all value).
fn promql(expr: &str, org: &str, window: &str) -> String {
    let d = dash::dashboard();
    let all = |name: &str| dash::str_of(dash::variable(&d, name), "allValue").to_string();
    promql_for(expr, &all("job"), &all("instance"), org, window)
}

fn promql_for(expr: &str, job: &str, instance: &str, org: &str, window: &str) -> String {
    let out = expr
        .replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__interval", INTERVAL)
        .replace("$job", job)
        .replace("$instance", instance)
        .replace("$org", org)
        .replace("$window", window);
    let left = dash::variables_in(&out);
    assert!(left.is_empty(), "`{out}` still has variables {left:?}");
    out
}

/// A SQL target with Grafana's PostgreSQL macros and variables substituted.
fn sql(raw: &str, org: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let ts = |t: DateTime<Utc>| format!("'{}'", t.to_rfc3339_opts(SecondsFormat::Millis, true));
    let mut out = raw.replace("${org:regex}", org);
    while let Some(start) = out.find("$__timeFilter(") {
        let open = start + "$__timeFilter(".len();
        let close = open + out[open..].find(')').expect("unclosed $__timeFilter(");
        let column = out[open..close].trim().to_string();
        out.replace_range(start..=close, &format!("{column} BETWEEN {} AND {}", ts(from), ts(to)));
    }
    out = out.replace("$__timeFrom()", &ts(from)).replace("$__timeTo()", &ts(to));
    let left = dash::variables_in(&out);
    assert!(left.is_empty(), "`{out}` still has variables {left:?}");
    out
}

// ------------------------------------------------------------------------------- the data

const ORGS: usize = 8;
const HISTORY_EVENTS: u64 = 20_000;
const NEW_CONTOSO_URL: &str = "https://portal-sync-v2.supabase.co/functions/v1/dynamics-webhook?org=contoso";

fn history(now: DateTime<Utc>) -> SimConfig {
    SimConfig { seed: 7, orgs: ORGS, events: HISTORY_EVENTS, days: 2.0, end: now, ..SimConfig::default() }
}

/// A fresh PostgreSQL log store with two days of simulated history ending now, and the portal
/// sync service's log of it.
async fn simulated_log_store(now: DateTime<Utc>) -> (String, Store) {
    let (url, store) = support::fresh_postgres().await;
    simulate::run(&store, &history(now), std::future::pending()).await.expect("simulating history");
    sync::sync_history(&url).await;
    (url, store)
}

/// contoso's portal was pointed at a new URL ten minutes ago, so the URL-change annotation and
/// the WebhookEndpointUrlChanged alert have something to show.
async fn move_contoso_endpoint(store: &Store, now: DateTime<Utc>) {
    store
        .upsert_organization(&NewOrganization {
            org_id: "contoso".into(),
            display_name: "Contoso".into(),
            endpoint_url: NEW_CONTOSO_URL.into(),
            changed_at: now - chrono::Duration::minutes(10),
        })
        .await
        .expect("moving contoso's endpoint");
}

// ---------------------------------------------------------------------------------- PromQL

/// A query result: series labels -> values (one for an instant query, the points of a range).
type Outcome = BTreeMap<Labels, Vec<f64>>;

/// Targets that may return nothing here, and why. Each may be empty only while its `unless`
/// query (variables substituted) returns nothing too; everything else must return data.
struct MayBeEmpty {
    panel: &'static str,
    ref_id: &'static str,
    unless: Option<&'static str>,
    reason: &'static str,
}

const MAY_BE_EMPTY: &[MayBeEmpty] = &[
    MayBeEmpty {
        panel: "High rejection rate",
        ref_id: "A",
        unless: Some(r#"ALERTS{alertname="WebhookHighRejectionRate", alertstate="firing", org=~"$org"}"#),
        reason: "lists organizations whose WebhookHighRejectionRate alert is firing; its `for: 5m` \
                 outlasts this test, so `alert_banners_follow_the_alerts` runs it against the \
                 pending alert instead",
    },
    MayBeEmpty {
        panel: "Infrastructure outage",
        ref_id: "A",
        unless: Some(r#"ALERTS{alertname="WebhookInfrastructureOutage", alertstate="firing"}"#),
        reason: "lists components whose WebhookInfrastructureOutage alert is firing",
    },
    MayBeEmpty {
        panel: "Infrastructure outage",
        ref_id: "B",
        unless: Some(r#"ALERTS{alertname="WebhookInfrastructureOutage", alertstate="firing"}"#),
        reason: "lists components whose WebhookInfrastructureOutage alert is firing",
    },
    MayBeEmpty {
        panel: "Infrastructure outage",
        ref_id: "C",
        unless: Some("webhook_infrastructure_up"),
        reason: "counts webhook_infrastructure_up, which the exporter serves only for monitored \
                 components (issue 3); without it the banner says No data, never a false OK",
    },
    MayBeEmpty {
        panel: "Other webhook alerts firing",
        ref_id: "A",
        unless: None,
        reason: "lists only alerts firing for the selected organizations (none for fabrikam \
                 alone); `alert_banners_follow_the_alerts` checks what it lists",
    },
];

fn may_be_empty(t: &PromTarget) -> Option<&'static MayBeEmpty> {
    MAY_BE_EMPTY.iter().find(|m| m.panel == t.panel && m.ref_id == t.ref_id)
}

/// The running stack: simulated log store, exporter, Prometheus.
struct Stack {
    prometheus: Prometheus,
    /// The one time every query is evaluated at, so results of different queries compare.
    at: f64,
    exporter: support::Exporter,
}

impl Stack {
    async fn start() -> Stack {
        let now = Utc::now();
        let (url, store) = simulated_log_store(now).await;

        // No live traffic: the exporter reads new rows only below the cluster-wide snapshot xmin
        // (docs/log-store.md), so any write transaction left open on a shared PostgreSQL would
        // freeze the counters mid-test. The rates of still counters are zero, which is data.
        move_contoso_endpoint(&store, now).await;

        let exporter =
            support::Exporter::start(&url, &["--window", "1h", "--window", "24h", "--window", "7d"]);
        let prometheus = Prometheus::start(&PrometheusConfig::new(exporter.addr)).await;
        let timeout = Duration::from_secs(20);
        let non_empty = |r: &[(Labels, f64)]| !r.is_empty();
        // The whole history has been on /metrics for a rate interval, with a sample a second: rate()
        // has data for every series. (The exporter reads rows once no older transaction is open
        // anywhere on the cluster, docs/log-store.md: another client's long write delays them.)
        let ready = format!(
            r#"min_over_time((sum(webhook_payloads_received_total) >= bool {HISTORY_EVENTS})[{RATE_INTERVAL}:1s]) == 1
               and on () count_over_time(up{{job="{EXPORTER_JOB}"}}[{RATE_INTERVAL}]) >= 5"#
        );
        prometheus.wait_for(&ready, non_empty, Duration::from_secs(40)).await;
        for alert in [
            r#"ALERTS{alertname="WebhookHighRejectionRate", alertstate="pending", org="fabrikam"}"#,
            r#"ALERTS{alertname="WebhookOrgSilent", alertstate="firing", org="adventure-works"}"#,
            r#"ALERTS{alertname="WebhookEndpointUrlChanged", alertstate="firing", org="contoso"}"#,
        ] {
            prometheus.wait_for(alert, non_empty, timeout).await;
        }
        // Now, when the alerts above are known to be there; then wait out a scrape and a rule
        // evaluation so that everything up to this moment is stored.
        let at = Utc::now().timestamp_millis() as f64 / 1000.0;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Stack { prometheus, at, exporter }
    }

    /// Runs a substituted target as Grafana would: instant or over a range ending at `at`.
    async fn run(&self, expr: &str, instant: bool) -> Outcome {
        if instant {
            self.prometheus.query_at(expr, self.at).await.into_iter().map(|(l, v)| (l, vec![v])).collect()
        } else {
            let start = self.at - RANGE_SECONDS;
            let series = self.prometheus.query_range(expr, start, self.at, Duration::from_secs(1)).await;
            series.into_iter().map(|(l, points)| (l, points.into_iter().map(|(_, v)| v).collect())).collect()
        }
    }
}

fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9 * x.abs().max(1.0))
}

fn same_outcome(a: &Outcome, b: &Outcome) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((la, va), (lb, vb))| la == lb && same_values(va, vb))
}

fn all_zero(o: &Outcome) -> bool {
    o.values().flatten().all(|v| *v == 0.0)
}

fn orgs_of(o: &Outcome) -> BTreeSet<&str> {
    o.keys().filter_map(|l| l.get("org")).map(String::as_str).collect()
}

/// The org filter narrows and does not alter: with a selection, a per-org target returns exactly
/// the selected organizations' series of the All result, unchanged; series without an org
/// (global alerts) stay; an aggregate over the organizations differs from the All aggregate.
fn assert_narrows(at: &str, selection: Selection, narrowed: &Outcome, all: &Outcome) {
    let all_orgs = orgs_of(all);
    if all_orgs.is_empty() {
        if !all.is_empty() && !all_zero(all) {
            assert!(
                !same_outcome(narrowed, all),
                "{at}: the {selection:?} aggregate equals the All aggregate: the org filter does nothing"
            );
        }
        return;
    }
    let expected: Outcome = all
        .iter()
        .filter(|(l, _)| l.get("org").map_or(true, |o| selection.contains(o)))
        .map(|(l, v)| (l.clone(), v.clone()))
        .collect();
    assert!(
        same_outcome(narrowed, &expected),
        "{at}: with {selection:?} the result should be the selected organizations' part of the \
         All result.\n  got:      {narrowed:?}\n  expected: {expected:?}"
    );
    assert!(
        orgs_of(narrowed).len() < all_orgs.len(),
        "{at}: {selection:?} returns as many organizations as All"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_promql_target_returns_data_for_every_selection_and_window() {
    let d = dash::dashboard();
    let targets = dash::prom_targets(&d);
    let windows = dash::window_choices(&d);
    for m in MAY_BE_EMPTY {
        assert!(
            targets.iter().any(|t| t.panel == m.panel && t.ref_id == m.ref_id),
            "MAY_BE_EMPTY names panel '{}' target {}, which the dashboard no longer has",
            m.panel,
            m.ref_id
        );
    }
    let stack = Stack::start().await;
    variables::offer_the_exporter_and_the_organizations(&stack, &d).await;
    variables::job_and_instance_filter_every_target(&stack, &targets).await;

    let mut queries = 0;
    for t in &targets {
        let mut by_window: Vec<Outcome> = Vec::new();
        for window in &windows {
            let mut by_selection: Vec<(Selection, Outcome)> = Vec::new();
            for selection in SELECTIONS {
                let org = selection.value(&d);
                let expr = promql(&t.expr, &org, window);
                let at = format!("panel '{}' target {} ({selection:?}, window {window})", t.panel, t.ref_id);
                let outcome = stack.run(&expr, t.instant).await;
                queries += 1;

                if outcome.is_empty() || outcome.values().all(Vec::is_empty) {
                    let allowed =
                        may_be_empty(t).unwrap_or_else(|| panic!("{at} returned no data: `{expr}`"));
                    if let Some(unless) = allowed.unless {
                        let condition = stack.run(&promql(unless, &org, window), true).await;
                        assert!(
                            condition.is_empty(),
                            "{at} returned no data although `{unless}` does ({}): `{expr}`",
                            allowed.reason
                        );
                    }
                }
                for labels in outcome.keys() {
                    if let Some(o) = labels.get("org") {
                        assert!(selection.contains(o), "{at} returned org {o} outside the selection");
                    }
                }
                by_selection.push((selection, outcome));
            }

            let all = by_selection.iter().find(|(s, _)| *s == Selection::All).unwrap().1.clone();
            for (selection, outcome) in &by_selection {
                let at = format!("panel '{}' target {} (window {window})", t.panel, t.ref_id);
                if !t.expr.contains("$org") {
                    assert!(same_outcome(outcome, &all), "{at}: no org filter, yet {selection:?} differs");
                } else if *selection != Selection::All {
                    assert_narrows(&at, *selection, outcome, &all);
                }
            }
            by_window.push(all);
        }
        // A panel titled "... ($window)" must follow the window in every target.
        if t.expr.contains("$window") || t.panel.contains("$window") {
            let (first, last) = (&by_window[0], by_window.last().unwrap());
            assert!(
                all_zero(first) && all_zero(last) || !same_outcome(first, last),
                "panel '{}' target {}: windows {} and {} give the same result: `{}`",
                t.panel,
                t.ref_id,
                windows[0],
                windows.last().unwrap(),
                t.expr
            );
        }
    }
    assert!(targets.len() >= 30, "the dashboard lost PromQL targets");
    eprintln!(
        "{} PromQL targets x {} selections x {} windows: {queries} queries",
        targets.len(),
        SELECTIONS.len(),
        windows.len()
    );

    alert_banners_follow_the_alerts(&stack, &d).await;
}

fn target<'a>(targets: &'a [PromTarget], panel: &str, ref_id: &str) -> &'a PromTarget {
    targets
        .iter()
        .find(|t| t.panel == panel && t.ref_id == ref_id)
        .unwrap_or_else(|| panic!("the dashboard has no panel '{panel}' target {ref_id}"))
}

/// The banners read the ALERTS series. WebhookHighRejectionRate is pending for fabrikam (its
/// `for: 5m` outlasts the test), so its banner is run against the pending state: the very same
/// expression must then list fabrikam, and only when fabrikam is selected.
async fn alert_banners_follow_the_alerts(stack: &Stack, d: &Value) {
    let targets = dash::prom_targets(d);
    let pending = |expr: &str| {
        assert!(expr.contains(r#"alertstate="firing""#), "the banner is not driven by firing alerts");
        expr.replace(r#"alertstate="firing""#, r#"alertstate="pending""#)
    };
    let banner = pending(&target(&targets, "High rejection rate", "A").expr);
    let all_clear = pending(&target(&targets, "High rejection rate", "B").expr);
    for selection in SELECTIONS.into_iter().chain([Selection::One("contoso")]) {
        let org = selection.value(d);
        let listed = stack.run(&promql(&banner, &org, "24h"), true).await;
        let ok = stack.run(&promql(&all_clear, &org, "24h"), true).await;
        if selection.contains("fabrikam") {
            assert_eq!(orgs_of(&listed), BTreeSet::from(["fabrikam"]), "{selection:?}: {listed:?}");
            let ratio = listed.values().next().unwrap()[0];
            assert!(ratio > 0.10, "fabrikam's banner shows {ratio}, not its >10% rejection rate");
            assert!(ok.is_empty(), "{selection:?}: 'OK' shown while fabrikam alerts: {ok:?}");
        } else {
            assert!(listed.is_empty(), "{selection:?}: lists {listed:?}");
            assert_eq!(ok.values().collect::<Vec<_>>(), [&vec![0.0]], "{selection:?}: no 'OK'");
        }
    }

    let others = &target(&targets, "Other webhook alerts firing", "A").expr;
    let silent = ("WebhookOrgSilent", "adventure-works");
    let url_changed = ("WebhookEndpointUrlChanged", "contoso");
    for selection in SELECTIONS {
        let listed = stack.run(&promql(others, &selection.value(d), "24h"), true).await;
        let alerts: BTreeSet<(&str, &str)> = listed
            .keys()
            .map(|l| (l["alertname"].as_str(), l.get("org").map_or("", String::as_str)))
            .collect();
        for expected in [silent, url_changed] {
            assert_eq!(
                alerts.contains(&expected),
                selection.contains(expected.1),
                "'Other webhook alerts firing' with {selection:?} lists {alerts:?}"
            );
        }
    }
}

mod sql;
mod sync;
mod variables;
