//! GET /api/v1/events on PostgreSQL and SQLite: newest first, filters, cursor pagination, the
//! pending flag, and refusals of malformed queries.

use crate::api_support::*;
use serde_json::json;
use webhook_health_exporter::store::Store;

fn ids_of(a: &Answer) -> Vec<String> {
    a.body["events"].as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap().to_string()).collect()
}

async fn listing(url: String, store: Store) {
    let seeded = seed(&store).await;
    let exporter = start(&url, &[]);
    let all = get(&exporter, Some(ADMIN_TOKEN), "/api/v1/events").await;
    assert_eq!(all.status, 200, "{}", all.text);
    let events = all.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 9, "rejected and failed only, accepted events are not listed");
    assert!(all.body["next_cursor"].is_null());
    let times: Vec<&str> = events.iter().map(|e| e["received_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let first = &events[0];
    assert_eq!(first["event_id"], seeded.rejected[0].to_string());
    assert_eq!(first["org"], "contoso");
    assert_eq!(first["outcome"], "rejected");
    assert_eq!(first["http_status"], 401);
    assert_eq!(first["rejection_reason"], "invalid_auth");
    assert_eq!(first["error_detail"], "rejected at the edge");
    assert_eq!(first["reprocess_pending"], false);

    let count = |q: &'static str| {
        let exporter = &exporter;
        async move {
            let a = get(exporter, Some(ADMIN_TOKEN), &format!("/api/v1/events?{q}")).await;
            assert_eq!(a.status, 200, "{q}: {}", a.text);
            a.body["events"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("org=contoso").await, 5);
    assert_eq!(count("org=contoso&org=fabrikam").await, 8);
    assert_eq!(count("outcome=failed").await, 3);
    assert_eq!(count("reason=invalid_auth&reason=unknown_organization").await, 6);
    assert_eq!(count("status_code=500").await, 3);
    assert_eq!(count("org=nobody").await, 0);
    let since = (chrono::Utc::now() - chrono::Duration::minutes(21)).to_rfc3339();
    let until = (chrono::Utc::now() - chrono::Duration::minutes(12)).to_rfc3339();
    let q = format!("since={}&until={}", urlencode(&since), urlencode(&until));
    let a = get(&exporter, Some(ADMIN_TOKEN), &format!("/api/v1/events?{q}")).await;
    // contoso at 12, 13, 14 minutes ago and fabrikam at 20 minutes ago.
    assert_eq!(a.body["events"].as_array().unwrap().len(), 4, "{}", a.text);

    // Pages of 2 walk through all events once each.
    let mut seen = Vec::new();
    let mut path = "/api/v1/events?limit=2".to_string();
    loop {
        let a = get(&exporter, Some(ADMIN_TOKEN), &path).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let page = ids_of(&a);
        assert!(page.len() <= 2);
        seen.extend(page);
        match a.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/events?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids_of(&all));

    // A pending reprocess shows.
    post(&exporter, Some(ADMIN_TOKEN), None, &json!({ "event_ids": ids_json(&seeded.failed[..1]) })).await;
    let a = get(&exporter, Some(ADMIN_TOKEN), "/api/v1/events?outcome=failed").await;
    let pending: Vec<bool> = a.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reprocess_pending"].as_bool().unwrap())
        .collect();
    assert_eq!(pending, [true, false, false]);

    for (query, status, want) in [
        ("cursor=abc", 400, "invalid_cursor"),
        ("bogus=1", 400, "unknown_parameter"),
        ("limit=1&limit=2", 400, "duplicate_parameter"),
        ("limit=0", 422, "invalid_limit"),
        ("limit=ten", 422, "invalid_limit"),
        ("org=contoso%27%20OR%20%271%27%3D%271", 422, "invalid_org"),
        ("org=", 422, "invalid_org"),
        ("outcome=accepted", 422, "invalid_outcome"),
        ("status_code=42", 422, "invalid_status_code"),
        ("reason=a%3Bdrop", 422, "invalid_reason"),
        ("since=yesterday", 422, "invalid_time"),
    ] {
        let a = get(&exporter, Some(ADMIN_TOKEN), &format!("/api/v1/events?{query}")).await;
        assert_eq!((a.status.as_u16(), code(&a)), (status, want), "{query}: {}", a.text);
    }
}
on_both_backends!(events_are_listed_newest_first_with_filters_and_pages, super::listing);

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn cli(url: String, store: Store) {
    let seeded = seed(&store).await;
    let exporter = start(&url, &[]);
    let run = |args: &[&str], token: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_webhook-health-exporter"));
        cmd.arg("reprocess").args(["--url", &exporter.url("")]).args(args).env_remove("WHE_API_TOKEN");
        if let Some(t) = token {
            cmd.env("WHE_API_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = run(
        &["--org", "contoso", "--since", "2h", "--reason", "invalid_auth", "--dry-run"],
        Some(ADMIN_TOKEN),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("dry run") && stdout.contains("would enqueue 5"), "{stdout}");
    assert!(reprocess_items(&store).await.is_empty());

    let id0 = seeded.failed[0].to_string();
    let id1 = seeded.accepted[0].to_string();
    let out = run(&["--event-id", &id0, "--event-id", &id1], Some(ADMIN_TOKEN));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("requested 2, enqueued 1") && stdout.contains("not eligible 1"), "{stdout}");
    assert_eq!(reprocess_items(&store).await.len(), 1);

    let out = run(&["--org", "contoso", "--since", "2h"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WHE_API_TOKEN"));
    let out = run(&["--org", "contoso", "--since", "2h"], Some(VIEWER_TOKEN));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
}
on_both_backends!(the_cli_prints_totals, super::cli);
