//! The /admin page in a real headless Chromium against the real exporter and PostgreSQL: sign in,
//! filter by org, select two failed events, reprocess, see the results, and find the queue rows
//! carrying the reprocessing flag; a bad token is refused; a second click enqueues nothing twice;
//! sync failures are listed by stage and reprocessed the same way.
//! A screenshot of the page with results lands in test-artifacts/admin-reprocess.png.

use crate::support;

use crate::api_support::sync::{accepted, at, update_items};
use crate::api_support::{reprocess_items, seed, start, ADMIN_TOKEN, VIEWER_TOKEN};
use crate::support::browser::Browser;
use chrono::{Duration, Utc};
use fantoccini::Locator;
use serde_json::json;

async fn sign_in(browser: &Browser, base: &str, token: &str) {
    browser.client.goto(&format!("{base}/admin")).await.unwrap();
    browser.type_into("#token", token).await;
    browser.click("#signin-button").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_and_reprocess_failed_events_in_chromium() {
    let (url, store) = support::fresh_postgres().await;
    let seeded = seed(&store).await;
    let exporter = start(&url, &[]);
    let base = format!("http://{}", exporter.addr);

    // The page is served with a strict CSP and no inline code; it works under it (below).
    let page = reqwest::get(format!("{base}/admin")).await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("http://") && !html.contains("https://"));

    let browser = Browser::start().await;

    // Without a valid global-admin token the page says why and shows no data.
    sign_in(&browser, &base, "not-a-real-token").await;
    let refused = browser.wait_text("#signin-error", |t| !t.is_empty()).await;
    assert!(refused.contains("401"), "{refused}");
    assert!(browser.is_hidden("#app").await);
    assert_eq!(browser.client.find_all(Locator::Css("#events tbody tr")).await.unwrap().len(), 0);
    sign_in(&browser, &base, VIEWER_TOKEN).await;
    let forbidden = browser.wait_text("#signin-error", |t| t.contains("403")).await;
    assert!(forbidden.contains("global admin"), "{forbidden}");
    assert!(browser.is_hidden("#app").await);

    // The admin signs in and sees the recent error events (5 contoso, 3 fabrikam, 1 unknown org).
    sign_in(&browser, &base, ADMIN_TOKEN).await;
    browser.wait_count("#events tbody tr", |n| n == 9).await;

    // Filter by organization.
    browser.type_into("#f-org", "fabrikam").await;
    browser.click("#apply").await;
    browser.wait_count("#events tbody tr", |n| n == 3).await;
    let orgs = browser.client.find_all(Locator::Css("#events tbody tr td:nth-child(3)")).await.unwrap();
    for org in orgs {
        assert_eq!(org.text().await.unwrap(), "fabrikam");
    }

    // Select two and reprocess, through the confirmation.
    let boxes = browser.client.find_all(Locator::Css("#events tbody input.select")).await.unwrap();
    let mut chosen = Vec::new();
    for b in &boxes[..2] {
        b.click().await.unwrap();
        let row = b.find(Locator::XPath("./ancestor::tr")).await.unwrap();
        chosen.push(row.attr("data-event-id").await.unwrap().unwrap());
    }
    browser.wait_text("#reprocess", |t| t == "Reprocess selected (2)").await;
    browser.click("#reprocess").await;
    let question = browser.wait_text("#confirm-text", |t| !t.is_empty()).await;
    assert!(question.contains("2 events") && question.contains("fabrikam"), "{question}");
    browser.click("#confirm-yes").await;
    let totals = browser.wait_text("#results-totals", |t| !t.is_empty()).await;
    assert!(totals.contains("2 enqueued") && totals.contains("0 already pending"), "{totals}");
    browser.wait_count("#results-table tbody tr", |n| n == 2).await;
    browser.wait_count("#events tbody .badge.pending", |n| n == 2).await;
    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test-artifacts/admin-reprocess.png");
    browser.screenshot(&shot).await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "the screenshot is suspiciously small");

    // The queue rows carry the reprocessing flag and link to the chosen events.
    let items = reprocess_items(&store).await;
    let mut queued: Vec<String> = items.iter().map(|i| i.event_id.clone()).collect();
    queued.sort();
    chosen.sort();
    assert_eq!(queued, chosen);
    assert!(items.iter().all(|i| i.org_id == "fabrikam" && i.state == "pending" && i.request_id.is_some()));

    // A second click on the same events enqueues nothing twice.
    for b in &boxes[..2] {
        b.click().await.unwrap();
    }
    browser.click("#reprocess").await;
    browser.click("#confirm-yes").await;
    let again = browser.wait_text("#results-totals", |t| t.contains("2 already pending")).await;
    assert!(again.contains("0 enqueued"), "{again}");
    assert_eq!(reprocess_items(&store).await.len(), 2, "still one queue item per event");

    // A dry run of a filter counts without writing.
    browser.type_into("#f-org", "contoso").await;
    let since = (Utc::now() - Duration::hours(3)).format("%Y-%m-%dT%H:%M:%S").to_string();
    browser
        .client
        .execute("document.getElementById('f-from').value = arguments[0];", vec![json!(since)])
        .await
        .unwrap();
    browser.click("#dry-run").await;
    let dry = browser.wait_text("#dry-run-result", |t| !t.is_empty()).await;
    assert!(dry.contains("would enqueue 5 events"), "{dry}");
    assert_eq!(reprocess_items(&store).await.len(), 2, "a dry run writes nothing");

    // Sync failures: listed by stage, described, the given-up one selectable and reprocessed,
    // the abandoned one (its worker vanished; the next claim returns it) shown but not selectable.
    let given_up = accepted(&store, "contoso", 11).await;
    update_items(&store, given_up, "state = 'failed', attempts = 5, last_error = 'portal API 500'", "").await;
    let abandoned = accepted(&store, "contoso", 12).await;
    let lost =
        format!("state = 'processing', attempts = 2, claimed_by = 'worker-7', lease_until = '{}'", at(-1));
    update_items(&store, abandoned, &lost, "").await;
    browser.client.execute("document.getElementById('f-stage').value = 'sync';", vec![]).await.unwrap();
    browser.click("#apply").await;
    browser.wait_count("#events tbody tr", |n| n == 2).await;
    let texts = browser.client.find_all(Locator::Css("#events tbody td.sync")).await.unwrap();
    let mut described = Vec::new();
    for t in texts {
        described.push(t.text().await.unwrap());
    }
    assert!(described
        .iter()
        .any(|t| t.contains("given up after 5 attempts") && t.contains("portal API 500")));
    assert!(described.iter().any(|t| t.contains("abandoned") && t.contains("worker-7")), "{described:?}");
    let lost_box = format!("#events tr[data-event-id=\"{abandoned}\"] input.select");
    assert_eq!(
        browser
            .client
            .find(Locator::Css(&lost_box))
            .await
            .unwrap()
            .prop("disabled")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    browser.click("#select-all").await;
    browser.wait_text("#reprocess", |t| t == "Reprocess selected (1)").await;
    browser.click("#reprocess").await;
    browser.click("#confirm-yes").await;
    let totals = browser.wait_text("#results-totals", |t| t.contains("1 enqueued")).await;
    assert!(totals.contains("0 already pending") && totals.contains("of 1"), "{totals}");
    let items = reprocess_items(&store).await;
    assert!(items.iter().any(|i| i.event_id == given_up.to_string()) && items.len() == 3, "{items:?}");

    // A deep link from the dashboard preselects the event (the token stays for this tab).
    let target = seeded.rejected[0];
    browser.client.goto(&format!("{base}/admin?org=contoso&event={target}")).await.unwrap();
    browser.wait_count("#events tbody tr.highlight", |n| n == 1).await;
    browser.wait_text("#reprocess", |t| t == "Reprocess selected (1)").await;
    assert_eq!(
        browser.client.find(Locator::Css("#f-org")).await.unwrap().prop("value").await.unwrap().as_deref(),
        Some("contoso")
    );

    browser.close().await;
}
