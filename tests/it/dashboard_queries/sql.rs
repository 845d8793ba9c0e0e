//! The SQL targets, run as the read-only role, and the event table's data link.

use super::*;

// ------------------------------------------------------------------------------------- SQL

const READER_PASSWORD: &str = "test-only-reader";
const READER_SCRIPT: &str = "deploy/postgres/init/grafana_reader.psql";
const ERROR_EVENTS: &str = "panel 'Recent error events'";
const URL_CHANGES: &str = "annotation 'Endpoint URL changes'";
const SYNC_GIVE_UPS: &str = "panel 'Recent sync give-ups'";

/// Runs deploy/postgres/init/grafana_reader.psql with `psql` as the compose stack's init hook
/// does, with GRAFANA_LOGSTORE_PASSWORD set to `password` or absent; `extra` goes before `-f`.
fn run_reader_script(db_url: &str, password: Option<&str>, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("psql");
    cmd.arg(db_url).args(["-X", "-q"]).args(extra).arg("-f").arg(dash::repo().join(READER_SCRIPT));
    cmd.env_remove("GRAFANA_LOGSTORE_PASSWORD");
    if let Some(p) = password {
        cmd.env("GRAFANA_LOGSTORE_PASSWORD", p);
    }
    cmd.output().unwrap_or_else(|e| match e.kind() {
        ErrorKind::NotFound => panic!("`psql` is needed for this test: run scripts/install-test-deps.sh"),
        _ => panic!("cannot run psql: {e}"),
    })
}

/// Applies the reader script to the database and returns a URL that logs in as that role.
fn grafana_reader(db_url: &str) -> String {
    // The role is cluster-wide: another test creating or altering it at the same moment makes
    // one of the two fail; the script is idempotent, so try again.
    for attempt in 1..=3 {
        let out = run_reader_script(db_url, Some(READER_PASSWORD), &["-v", "ON_ERROR_STOP=1"]);
        if out.status.success() {
            break;
        }
        assert!(attempt < 3, "{READER_SCRIPT} failed: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut url = url::Url::parse(db_url).unwrap();
    url.set_username("grafana_reader").unwrap();
    url.set_password(Some(READER_PASSWORD)).unwrap();
    url.to_string()
}

/// Without its password (absent or empty) the script fails with psql's error status, with or
/// without the caller's ON_ERROR_STOP, before it touches the role: the init hook and a compose
/// stack see the failure instead of a reader role that cannot log in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_script_fails_without_its_password() {
    let (url, _store) = support::fresh_postgres().await;
    for (password, extra) in [(None, &[][..]), (None, &["-v", "ON_ERROR_STOP=1"][..]), (Some(""), &[][..])] {
        let out = run_reader_script(&url, password, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "password {password:?}, {extra:?}: {stderr}");
        assert!(stderr.contains("GRAFANA_LOGSTORE_PASSWORD is not set"), "{stderr}");
        assert_eq!(stderr.matches("ERROR").count(), 1, "it stops at the first error: {stderr}");
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
    Time(DateTime<Utc>),
    Text(String),
    Int(i64),
    Null,
}

impl Cell {
    pub(super) fn text(&self) -> &str {
        match self {
            Cell::Text(s) => s,
            other => panic!("{other:?} is not text"),
        }
    }
}

pub(super) type Rows = Vec<BTreeMap<String, Cell>>;

/// Runs a dashboard query as Grafana does, inside a READ ONLY transaction.
async fn run_read_only(conn: &mut PgConnection, at: &str, query: &str) -> Rows {
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await.unwrap();
    let rows = sqlx::query(query)
        .fetch_all(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{at} failed as grafana_reader: {e}\n{query}"));
    tx.rollback().await.unwrap();
    rows.iter()
        .map(|row| {
            row.columns()
                .iter()
                .map(|c| {
                    let i = c.ordinal();
                    let cell = match c.type_info().name() {
                        "TIMESTAMPTZ" => row.get::<Option<DateTime<Utc>>, _>(i).map(Cell::Time),
                        "TEXT" | "VARCHAR" => row.get::<Option<String>, _>(i).map(Cell::Text),
                        "INT2" => row.get::<Option<i16>, _>(i).map(|v| Cell::Int(v.into())),
                        "INT4" => row.get::<Option<i32>, _>(i).map(|v| Cell::Int(v.into())),
                        "INT8" => row.get::<Option<i64>, _>(i).map(Cell::Int),
                        other => panic!("{at}: column {} has type {other}, unexpected here", c.name()),
                    };
                    (c.name().to_string(), cell.unwrap_or(Cell::Null))
                })
                .collect()
        })
        .collect()
}

/// A log store with history, Grafana's read-only role and an admin connection for the truth.
struct LogStore {
    admin: PgConnection,
    reader: PgConnection,
}

impl LogStore {
    async fn prepare() -> LogStore {
        let now = Utc::now();
        let (url, store) = simulated_log_store(now).await;
        move_contoso_endpoint(&store, now).await;
        let reader_url = grafana_reader(&url);
        let mut reader = PgConnection::connect(&reader_url).await.expect("logging in as grafana_reader");
        let read_only: String =
            sqlx::query_scalar("SHOW default_transaction_read_only").fetch_one(&mut reader).await.unwrap();
        assert_eq!(read_only, "on", "grafana_reader must default to read-only transactions");
        let write = sqlx::query("DELETE FROM webhook_events WHERE false").execute(&mut reader).await;
        assert!(write.is_err(), "grafana_reader can write to the log store");
        let admin = PgConnection::connect(&url).await.unwrap();
        LogStore { admin, reader }
    }
}

/// The dashboard's time ranges the SQL targets run over (the window choices, ending now).
fn ranges(d: &Value) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
    let to = Utc::now();
    dash::window_choices(d)
        .into_iter()
        .map(|w| {
            let span = humantime::parse_duration(&w).unwrap();
            (w, to - chrono::Duration::from_std(span).unwrap(), to)
        })
        .collect()
}

fn limit_of(query: &str) -> usize {
    let words: Vec<&str> = query.split_whitespace().collect();
    let i = words.iter().position(|w| w.eq_ignore_ascii_case("LIMIT")).expect("a LIMIT");
    words[i + 1].parse().expect("a numeric LIMIT")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sql_target_returns_the_expected_rows_as_the_read_only_role() {
    let d = dash::dashboard();
    let targets = dash::sql_targets(&d);
    let names: BTreeSet<&str> = targets.iter().map(|(at, _)| at.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from([ERROR_EVENTS, SYNC_GIVE_UPS, URL_CHANGES]),
        "a SQL target was added or renamed: give it expectations here"
    );
    let mut store = LogStore::prepare().await;

    let mut runs = 0;
    let range_count = ranges(&d).len();
    for (name, raw) in &targets {
        for (window, from, to) in ranges(&d) {
            for selection in SELECTIONS {
                let at = format!("{name} ({selection:?}, last {window})");
                let query = sql(raw, &selection.value(&d), from, to);
                let rows = run_read_only(&mut store.reader, &at, &query).await;
                runs += 1;
                for row in &rows {
                    match row.get("time") {
                        Some(Cell::Time(t)) => assert!(from <= *t && *t <= to, "{at}: {t} out of range"),
                        other => panic!("{at}: Grafana needs a timestamptz `time` column, got {other:?}"),
                    }
                }
                if *name == ERROR_EVENTS {
                    check_error_events(&mut store.admin, &at, selection, (from, to), limit_of(raw), &rows)
                        .await;
                } else if *name == SYNC_GIVE_UPS {
                    let limit = limit_of(raw);
                    sync::check_sync_give_ups(&mut store.admin, &at, selection, (from, to), limit, &rows)
                        .await;
                } else {
                    check_url_changes(&mut store.admin, &at, selection, (from, to), &rows).await;
                }
            }
        }
    }
    eprintln!(
        "{} SQL targets x {} selections x {range_count} ranges: {runs} queries",
        targets.len(),
        SELECTIONS.len()
    );
}

/// The rows of an event table are the newest of what `truth` (a query of (time, org, event id)
/// between $1 and $2) selects for the selected organizations, newest first, at most `limit`;
/// over All and a day or more the LIMIT cuts them.
pub(super) async fn assert_newest_rows(
    admin: &mut PgConnection,
    at: &str,
    selection: Selection,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    (limit, rows): (usize, &Rows),
    truth: &str,
) {
    let mut truth: Vec<(DateTime<Utc>, String, String)> =
        sqlx::query_as(truth).bind(from).bind(to).fetch_all(admin).await.unwrap();
    truth.retain(|(_, org, _)| selection.contains(org));
    truth.sort_by_key(|e| std::cmp::Reverse(e.0));

    assert!(!truth.is_empty(), "{at}: the log store has nothing to show");
    assert_eq!(rows.len(), truth.len().min(limit), "{at}: wrong number of rows");
    if selection == Selection::All && from < to - chrono::Duration::hours(2) {
        assert_eq!(rows.len(), limit, "{at}: the LIMIT should cut this result");
    }
    let known: BTreeSet<&str> = truth.iter().map(|(_, _, id)| id.as_str()).collect();
    let mut previous: Option<DateTime<Utc>> = None;
    for (row, expected) in rows.iter().zip(&truth) {
        let Cell::Time(t) = row["time"] else { unreachable!() };
        assert_eq!(t, expected.0, "{at}: not the newest rows, newest first");
        assert!(previous.map_or(true, |p| p >= t), "{at}: not ordered newest first");
        previous = Some(t);
        let org = row["org"].text();
        assert!(selection.contains(org), "{at}: row of org {org} outside the selection");
        assert!(known.contains(row["event_id"].text()), "{at}: {:?} is not in the truth", row["event_id"]);
    }
}

/// The newest non-accepted events of the selected organizations in the range, at most LIMIT.
async fn check_error_events(
    admin: &mut PgConnection,
    at: &str,
    selection: Selection,
    range: (DateTime<Utc>, DateTime<Utc>),
    limit: usize,
    rows: &Rows,
) {
    let truth = "SELECT received_at, org_id, event_id::text FROM webhook_events
                 WHERE outcome <> 'accepted' AND received_at BETWEEN $1 AND $2";
    assert_newest_rows(admin, at, selection, range, (limit, rows), truth).await;
    for row in rows {
        let outcome = row["outcome"].text();
        assert!(["rejected", "failed"].contains(&outcome), "{at}: outcome {outcome}");
        assert!(matches!(row["http_status"], Cell::Int(400..=599)), "{at}: {:?}", row["http_status"]);
        for column in ["reason", "detail"] {
            assert!(matches!(row[column], Cell::Text(_)), "{at}: {column} is {:?}", row[column]);
        }
    }
}

/// One annotation per selected organization whose endpoint URL changed within the range.
async fn check_url_changes(
    admin: &mut PgConnection,
    at: &str,
    selection: Selection,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    rows: &Rows,
) {
    let truth: Vec<(String, String)> = sqlx::query_as(
        "SELECT org_id, endpoint_url FROM organizations WHERE endpoint_url_changed_at BETWEEN $1 AND $2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(admin)
    .await
    .unwrap();
    let expected: BTreeMap<&str, &str> = truth
        .iter()
        .filter(|(org, _)| selection.contains(org))
        .map(|(org, url)| (org.as_str(), url.as_str()))
        .collect();
    let got: BTreeMap<&str, &str> = rows.iter().map(|r| (r["tags"].text(), r["text"].text())).collect();
    assert_eq!(got.len(), rows.len(), "{at}: one annotation per organization");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{at}: annotations for the wrong organizations"
    );
    for (org, text) in got {
        assert!(text.contains(expected[org]), "{at}: `{text}` does not name the new URL");
    }
    if selection.contains("contoso") {
        assert!(expected.contains_key("contoso"), "{at}: contoso's URL change is not in range");
    }
}

// ------------------------------------------------------------------------------- data link

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_tables_link_to_the_exporter_admin_page() {
    let d = dash::dashboard();
    let exporter_url = dash::str_of(dash::variable(&d, "exporter_url"), "query");
    let mut store = LogStore::prepare().await;
    for table in [ERROR_EVENTS, SYNC_GIVE_UPS] {
        let panel = dash::panels(&d)
            .into_iter()
            .find(|p| format!("panel '{}'", dash::str_of(p, "title")) == table)
            .unwrap_or_else(|| panic!("no {table}"));
        let link = panel["fieldConfig"]["defaults"]["links"][0]["url"].as_str().expect("a data link");
        let raw = &dash::sql_targets(&d).into_iter().find(|(at, _)| at == table).unwrap().1;
        let to = Utc::now();
        let query = sql(raw, &Selection::All.value(&d), to - chrono::Duration::hours(24), to);
        let rows = run_read_only(&mut store.reader, table, &query).await;
        assert!(!rows.is_empty(), "{table}: no rows");
        for row in &rows {
            // Grafana's ${__data.fields.NAME} is the row's value of column NAME.
            let mut url = link.replace("${exporter_url}", exporter_url);
            for (name, cell) in row {
                if let Cell::Text(v) = cell {
                    url = url.replace(&format!("${{__data.fields.{name}}}"), v);
                }
            }
            assert!(!url.contains('$'), "{table}: `{link}` left `{url}`: a field it names is not a column");
            let parsed = url::Url::parse(&url).unwrap_or_else(|e| panic!("`{url}` is no URL: {e}"));
            assert_eq!(parsed.origin(), url::Url::parse(exporter_url).unwrap().origin(), "{url}");
            assert_eq!(parsed.path(), "/admin", "{url}");
            let params: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
            let (org, event) = (row["org"].text(), row["event_id"].text());
            assert_eq!(params, [("org".into(), org.into()), ("event".into(), event.into())], "{url}");
            uuid::Uuid::parse_str(event).unwrap_or_else(|e| panic!("{url}: event is no UUID: {e}"));
            let stored: Option<String> =
                sqlx::query_scalar("SELECT org_id FROM webhook_events WHERE event_id = $1::uuid")
                    .bind(event)
                    .fetch_optional(&mut store.admin)
                    .await
                    .unwrap();
            assert_eq!(stored.as_deref(), Some(org), "{table}: {url} names no stored event of {org}");
        }
    }
}
