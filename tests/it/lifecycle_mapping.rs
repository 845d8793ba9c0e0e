//! What ingested lifecycle events become, on both backends: every edge-runtime event type and the
//! drain shapes mapped to `edge_function_events` rows, logs and unknown events counted and
//! ignored, a batch sent again counted once, and the Edge Function going down on a crash.

use crate::support;

use serde_json::json;
use webhook_health_exporter::store::Store;

use crate::ingest_support::*;

type Row = (String, Option<String>, String, Option<String>, Option<String>);

fn row(kind: &str, reason: Option<&str>, function: &str, source: &str, id: &str) -> Row {
    (kind.into(), reason.map(Into::into), function.into(), Some(source.into()), Some(id.into()))
}

async fn every_event_maps_once(url: String, store: Store) {
    let exporter = start(&url, &[]);
    let up = r#"webhook_infrastructure_up{component="edge_function"}"#;
    exporter.scrape_until("the Edge Function up", |p| support::metric(p, up) == Some(1.0)).await;

    let runtime = vec![
        runtime_event("rt-boot", "Boot", json!({"boot_time": 31})),
        runtime_event("rt-fail", "BootFailure", json!({"msg": "worker boot error: SyntaxError"})),
        runtime_event(
            "rt-crash",
            "UncaughtException",
            json!({"exception": "TypeError: x", "cpu_time_used": 2}),
        ),
        runtime_event(
            "rt-cpu",
            "Shutdown",
            json!({"Shutdown": {"reason": "CPUTime", "cpu_time_used": 2001,
            "memory_used": {"total": 1, "heap": 1, "external": 0, "mem_check_captured": {}}}}),
        ),
        runtime_event(
            "rt-idle",
            "Shutdown",
            json!({"reason": "EarlyDrop", "cpu_time_used": 3, "memory_used": {"total": 1}}),
        ),
        runtime_event("rt-log", "Log", json!({"msg": "hello", "level": "Info"})),
        runtime_event("rt-new", "Hibernate", json!({})),
        json!({"event_type": "Boot", "timestamp": "2026-11-28T10:00:00Z"}),
    ];
    let a = post_runtime(&exporter, Some(INGEST_TOKEN), &runtime).await;
    assert_eq!((a.status.as_u16(), counts(&a)), (200, (5, 0, 3)), "{}", a.text);
    // The event worker retries after a timeout: nothing counts twice.
    let a = post_runtime(&exporter, Some(INGEST_TOKEN), &runtime).await;
    assert_eq!((a.status.as_u16(), counts(&a)), (200, (0, 5, 3)), "{}", a.text);

    let exec = json!({"event_type": "log", "level": "error", "execution_id": "iso-1", "function_id": "fn-1"});
    let drain = vec![
        drain_event("d-boot", "booted (time: 42ms)", json!({"event_type": "Boot", "function_id": "fn-1"})),
        drain_event(
            "d-crash",
            "Error: unhandled",
            json!({"event_type": "uncaughtException", "level": "error", "function_id": "fn-1"}),
        ),
        drain_event("d-cpu", "CPU Time exceeded", exec),
        drain_event(
            "d-down",
            "shutdown",
            json!([{"event_type": "Shutdown", "reason": "CPUTime", "execution_id": "iso-1", "function_id": "fn-1"}]),
        ),
        drain_event(
            "d-drop",
            "shutdown",
            json!([{"event_type": "Shutdown", "reason": "EarlyDrop", "function_id": "fn-1"}]),
        ),
        drain_event("d-bare", "shutdown", json!({"event_type": "Shutdown", "function_id": "fn-1"})),
        drain_event(
            "d-log",
            "Listening on http://localhost:9999/",
            json!({"event_type": "log", "level": "log"}),
        ),
        drain_event(
            "d-edge",
            "POST | 200 | /functions/v1/dynamics-webhook",
            json!([{"request": [{"method": "POST"}], "response": [{"status_code": 200}]}]),
        ),
    ];
    let a = post_drain(&exporter, Some(INGEST_TOKEN), &drain).await;
    // The CPU line and its isolate's shutdown row are one exit: the second is a duplicate.
    assert_eq!((a.status.as_u16(), counts(&a)), (200, (4, 1, 3)), "{}", a.text);
    let a = post_drain(&exporter, Some(INGEST_TOKEN), &drain).await;
    assert_eq!((a.status.as_u16(), counts(&a)), (200, (0, 5, 3)), "{}", a.text);

    let (rt, d) = ("edge_runtime", "log_drain");
    let hook = "dynamics-webhook";
    assert_eq!(
        lifecycle_rows(&store).await,
        vec![
            row("Boot", None, hook, rt, "rt-boot"),
            row("BootFailure", None, hook, rt, "rt-fail"),
            row("UncaughtException", None, hook, rt, "rt-crash"),
            row("Shutdown", Some("CPUTime"), hook, rt, "rt-cpu"),
            row("Shutdown", Some("EarlyDrop"), hook, rt, "rt-idle"),
            row("Boot", None, "fn-1", d, "d-boot"),
            row("UncaughtException", None, "fn-1", d, "d-crash"),
            row("Shutdown", Some("CPUTime"), "fn-1", d, "shutdown:iso-1"),
            row("Shutdown", Some("EarlyDrop"), "fn-1", d, "d-drop"),
        ]
    );

    let page = exporter.scrape_until("the crashes read", |p| support::metric(p, up) == Some(0.0)).await;
    let exits = |reason: &str, error: &str| {
        series(&page, "webhook_edge_function_exits_total", &[("reason", reason), ("error", error)])
    };
    assert_eq!(exits("UncaughtException", "true"), Some(2.0));
    assert_eq!(exits("CPUTime", "true"), Some(2.0));
    assert_eq!(exits("BootFailure", "true"), Some(1.0));
    assert_eq!(exits("EarlyDrop", "false"), Some(2.0));
    let received = |source: &str, result: &str| {
        series(&page, "webhook_lifecycle_events_received_total", &[("source", source), ("result", result)])
    };
    assert_eq!(received(rt, "inserted"), Some(5.0));
    assert_eq!(received(rt, "duplicate"), Some(5.0));
    assert_eq!(received(rt, "ignored"), Some(6.0));
    assert_eq!(received(d, "inserted"), Some(4.0));
    assert_eq!(received(d, "duplicate"), Some(6.0));
    assert_eq!(received(d, "ignored"), Some(6.0));
}

on_both_backends!(every_event_type_maps_once_and_a_retry_counts_nothing, super::every_event_maps_once);
