//! The exporter's least-privilege PostgreSQL role (deploy/postgres/exporter_role.psql), applied to
//! a fresh migrated log store: everything the exporter does works as that role, and writes it has
//! no business doing are refused by PostgreSQL with a permission error.

use std::io::ErrorKind;
use std::process::Command;
use std::time::Instant;

use sqlx::{Connection, PgConnection};
use uuid::Uuid;
use webhook_health_exporter::collector::{CollectorConfig, LogCollector};
use webhook_health_exporter::store::reprocess::{
    EventFilter, ReprocessCommand, ReprocessOutcome, Selection, StoredResponse,
};
use webhook_health_exporter::store::{ConnectOptions, IngestedLifecycleEvent, NewLifecycleEvent, Store};

use crate::api_support::seed;

const ROLE_SCRIPT: &str = "deploy/postgres/exporter_role.psql";
pub(crate) const PASSWORD: &str = "test-only-exporter";

/// Runs the roles script as the database owner (the test's admin), as the compose stack does.
fn apply_role_script(db_url: &str, role: &str, password: Option<&str>) -> std::process::Output {
    apply_script(ROLE_SCRIPT, "WHE_EXPORTER_DB_PASSWORD", db_url, role, password)
}

/// Runs a role script of deploy/postgres, its password (if any) in `password_env`.
pub(crate) fn apply_script(
    script: &str,
    password_env: &str,
    db_url: &str,
    role: &str,
    password: Option<&str>,
) -> std::process::Output {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let mut cmd = Command::new("psql");
    cmd.arg(db_url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-v"])
        .arg(format!("role={role}"))
        .args(["-v", &format!("pgmq_queue={}", crate::support::pgmq::QUEUE)])
        .arg("-f")
        .arg(&script)
        .env_remove(password_env);
    if let Some(p) = password {
        cmd.env(password_env, p);
    }
    cmd.output().unwrap_or_else(|e| match e.kind() {
        ErrorKind::NotFound => panic!("`psql` is needed for this test: run scripts/install-test-deps.sh"),
        _ => panic!("cannot run psql: {e}"),
    })
}

pub(crate) fn role_url(db_url: &str, role: &str) -> String {
    let mut url = url::Url::parse(db_url).unwrap();
    url.set_username(role).unwrap();
    url.set_password(Some(PASSWORD)).unwrap();
    url.to_string()
}

fn command(event: Uuid) -> ReprocessCommand {
    crate::api_support::reprocess_by_ids("ops", "token", "role-key", "h", vec![event])
}

/// SQLSTATE 42501, insufficient_privilege (also "must be owner of table").
pub(crate) fn assert_refused(what: &str, result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) {
    let e = result.expect_err(&format!("the exporter role may {what}"));
    let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("42501"), "{what}: expected a permission error, got {e}");
}

async fn exercise(db_url: String, owner: Store, role: String) {
    // Without a password the role cannot be created, and psql says so with a failing status.
    let out = apply_role_script(&db_url, &role, None);
    assert!(!out.status.success(), "created a role without a password");
    assert!(String::from_utf8_lossy(&out.stderr).contains("WHE_EXPORTER_DB_PASSWORD"));

    let out = apply_role_script(&db_url, &role, Some(PASSWORD));
    assert!(out.status.success(), "{ROLE_SCRIPT} failed: {}", String::from_utf8_lossy(&out.stderr));
    // Idempotent: again, and without the password once the role exists (a re-run after a migration).
    let out = apply_role_script(&db_url, &role, None);
    assert!(out.status.success(), "re-running {ROLE_SCRIPT}: {}", String::from_utf8_lossy(&out.stderr));

    let seeded = seed(&owner).await;
    let url = role_url(&db_url, &role);
    let opts = ConnectOptions { queue: owner.queue().clone(), ..ConnectOptions::default() };
    let store = Store::open_lazy(&url, &opts).unwrap();
    store.ping().await.expect("logging in as the exporter role");

    // The exporter's own work.
    let collector = LogCollector::new(store.clone(), CollectorConfig::default());
    collector.collect(chrono::Utc::now(), Instant::now()).await.expect("a collector refresh");
    let snapshot = collector.snapshot(chrono::Utc::now());
    assert!(snapshot.orgs.iter().any(|o| &*o.org == "contoso"), "the refresh read the log store");
    let listed = store.error_events(&EventFilter::default(), None, 100).await.expect("GET /api/v1/events");
    assert_eq!(
        listed.len(),
        seeded.rejected.len() + seeded.failed.len() + 1,
        "every error event, ghost-org's too"
    );
    // A reprocess by filter: the count and the selection queries.
    let mut by_filter = command(seeded.failed[0]);
    by_filter.audit.idempotency_key = None;
    by_filter.selection =
        Selection::Filter(EventFilter { orgs: vec!["fabrikam".into()], ..EventFilter::default() });
    let render = |_: &_| StoredResponse { http_status: 200, body: "{}".into() };
    let done = store.reprocess(by_filter, render).await.expect("a reprocess by filter");
    assert!(matches!(done, ReprocessOutcome::Completed { .. }), "{done:?}");
    let render = |_: &_| StoredResponse { http_status: 200, body: "{}".into() };
    let done = store.reprocess(command(seeded.rejected[0]), render).await.expect("a reprocess request");
    assert!(matches!(done, ReprocessOutcome::Completed { .. }), "{done:?}");
    let replay = store.reprocess(command(seeded.rejected[0]), render).await.expect("a replayed request");
    assert!(!matches!(replay, ReprocessOutcome::Completed { .. }), "{replay:?}");
    let now = chrono::Utc::now();
    store.record_healthy("edge_function", now).await.expect("record_healthy");
    store.record_healthy("edge_function", now).await.expect("record_healthy again (the upsert's update)");
    assert!(store.component_health().await.unwrap().iter().any(|(c, _)| c == "edge_function"));
    store.compact_event_totals().await.expect("compacting webhook_event_totals");
    // Lifecycle ingestion: the insert, and a retry of it (ON CONFLICT DO NOTHING).
    let crash = IngestedLifecycleEvent {
        source_event_id: "role-test-1".into(),
        event: NewLifecycleEvent {
            occurred_at: now,
            function_name: "dynamics-webhook".into(),
            event_type: "UncaughtException",
            shutdown_reason: None,
            detail: None,
        },
    };
    for expected in [(1, 0), (0, 1)] {
        let done =
            store.ingest_lifecycle("edge_runtime", std::slice::from_ref(&crash)).await.expect("ingesting");
        assert_eq!((done.inserted, done.duplicates), expected);
    }

    // The real binary, as the compose stack runs it: serving, ready, its reads succeeding.
    let flags = crate::support::pgmq::flags(&owner);
    let exporter =
        crate::support::Exporter::start(&url, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    exporter
        .scrape_until("webhook_store_up 1 and a successful refresh", |page| {
            crate::support::metric(page, "webhook_store_up") == Some(1.0)
                && crate::support::metric(page, "webhook_exporter_last_collect_success_timestamp_seconds")
                    .is_some_and(|t| t > 0.0)
        })
        .await;
    let ready = reqwest::get(exporter.url("/readyz")).await.unwrap();
    assert!(ready.status().is_success(), "/readyz answered {}", ready.status());
    drop(exporter);

    // Writes that are not the exporter's.
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let insert = "INSERT INTO webhook_events (event_id, org_id, received_at, outcome, http_status)
                  VALUES (gen_random_uuid(), 'contoso', now(), 'accepted', 200)";
    let forbidden = [
        ("insert into webhook_events", insert),
        ("delete from webhook_events", "DELETE FROM webhook_events"),
        ("update webhook_events", "UPDATE webhook_events SET outcome = 'accepted'"),
        ("update organizations", "UPDATE organizations SET endpoint_url = 'https://evil.test/'"),
        (
            "insert into organizations",
            "INSERT INTO organizations (org_id, display_name, endpoint_url) VALUES ('x', 'x', 'x')",
        ),
        ("update sync_queue", "UPDATE sync_queue SET state = 'done'"),
        ("update edge_function_events", "UPDATE edge_function_events SET event_type = 'Boot'"),
        ("delete from edge_function_events", "DELETE FROM edge_function_events"),
        ("delete from sync_queue", "DELETE FROM sync_queue"),
        ("delete from reprocess_requests", "DELETE FROM reprocess_requests"),
        ("update webhook_event_deletions", "UPDATE webhook_event_deletions SET statements = 0"),
        ("truncate webhook_events", "TRUNCATE webhook_events"),
        ("drop table webhook_events", "DROP TABLE webhook_events"),
        ("alter table organizations", "ALTER TABLE organizations ADD COLUMN x int"),
        ("create a table", "CREATE TABLE public.intruder (x int)"),
    ];
    for (what, sql) in forbidden {
        assert_refused(what, sqlx::query(sql).execute(&mut conn).await);
    }
    conn.close().await.unwrap();
    drop(collector);
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_role_does_its_work_and_nothing_else() {
    with_role("whe_exporter", exercise).await;
}

/// The same on a pgmq sync queue: its figures, listing and reprocessing's sends, and no update
/// or delete of a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_role_on_pgmq_does_its_work_and_nothing_else() {
    with_role_on(crate::support::pgmq::fresh_pgmq(), "whe_exporter", |db_url, owner, role| async move {
        let url = role_url(&db_url, &role);
        exercise(db_url, owner, role).await;
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let q = crate::support::pgmq::QUEUE;
        for (what, sql) in [
            ("update a message", format!("UPDATE pgmq.q_{q} SET vt = now()")),
            ("delete a message", format!("DELETE FROM pgmq.q_{q}")),
            ("archive a message", format!("SELECT pgmq.archive('{q}', msg_id) FROM pgmq.q_{q}")),
        ] {
            assert_refused(what, sqlx::query(&sql).execute(&mut conn).await);
        }
        conn.close().await.unwrap();
    })
    .await;
}

/// Runs `body` with a fresh database, its owner's store and a role name of its own, then drops
/// the role even when the body failed.
pub(crate) async fn with_role<F, Fut>(prefix: &str, body: F)
where
    F: FnOnce(String, Store, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    with_role_on(crate::support::fresh_postgres(), prefix, body).await;
}

/// [`with_role`] on the database `fresh` makes.
pub(crate) async fn with_role_on<F, Fut>(
    fresh: impl std::future::Future<Output = (String, Store)>,
    prefix: &str,
    body: F,
) where
    F: FnOnce(String, Store, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (db_url, owner) = fresh.await;
    // Roles are cluster-wide and other tests run at the same time: a name of its own.
    let role = format!("{prefix}_{}", Uuid::new_v4().simple());
    let body = tokio::spawn(body(db_url.clone(), owner, role.clone())).await;

    // Drop the role even when the test failed: its grants in this database first.
    let mut admin = PgConnection::connect(&db_url).await.unwrap();
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(&role)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    if exists {
        // The exporter's pooled sessions must end before its role can go.
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(&role)
            .execute(&mut admin)
            .await
            .unwrap();
        for sql in [format!("DROP OWNED BY {role}"), format!("DROP ROLE {role}")] {
            sqlx::query(&sql).execute(&mut admin).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    admin.close().await.unwrap();
    if let Err(e) = body {
        std::panic::resume_unwind(e.into_panic());
    }
}
