//! Times the in-process stages of a scrape against a loaded log store, without HTTP: an
//! incremental collection with nothing new, building the snapshot, and encoding it in both
//! exposition formats; then the same with 1,000 new payloads and 1,000 new sync attempts
//! committed before each collection. Used by `bench/run.sh`; prints one JSON object.
//!
//! cargo run --release --example bench_encode -- postgres://postgres@127.0.0.1:5432/whe_bench_1m [iterations]

use std::time::{Duration, Instant};

use chrono::Utc;
use webhook_health_exporter::collector::{CollectorConfig, LogCollector};
use webhook_health_exporter::metrics::{Encoder, Format};
use webhook_health_exporter::store::{ConnectOptions, Store};

fn millis(mut samples: Vec<Duration>) -> serde_json::Value {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    serde_json::json!({ "n": samples.len(), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0) })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or_else(|| anyhow::anyhow!("usage: bench_encode DATABASE_URL [ITERATIONS]"))?;
    let iterations: usize = args.next().map_or(Ok(200), |n| n.parse())?;

    let store = Store::open_lazy(&url, &ConnectOptions::default())?;
    let collector = LogCollector::new(store, CollectorConfig::default());
    let started = Instant::now();
    collector.collect(Utc::now(), Instant::now()).await?;
    let bootstrap = started.elapsed();

    let encoder = Encoder::default();
    let (mut collect, mut snapshot, mut openmetrics, mut text) = (vec![], vec![], vec![], vec![]);
    let (mut bytes, mut series) = (0, 0);
    for _ in 0..iterations {
        let t = Instant::now();
        collector.collect(Utc::now(), Instant::now()).await?;
        collect.push(t.elapsed());

        let t = Instant::now();
        let snap = collector.snapshot(Utc::now());
        snapshot.push(t.elapsed());

        let copy = snap.clone();
        let t = Instant::now();
        let om = encoder.encode(&copy, Format::OpenMetrics);
        openmetrics.push(t.elapsed());

        let t = Instant::now();
        let body = encoder.encode(&snap, Format::Text004);
        text.push(t.elapsed());

        bytes = body.len();
        series = body.lines().filter(|l| !l.starts_with('#')).count();
        drop(om);
    }

    // The bench's steady state: 1,000 new payloads over the organizations and 1,000 new sync
    // attempts before each scrape, in one transaction (the statement bench/run.py runs too).
    let Store::Postgres(pg) = collector.store() else { anyhow::bail!("a PostgreSQL URL") };
    let pool = pg.pool().clone();
    let (mut collect_new, mut snapshot_new, mut encode_new, mut gzip_new) = (vec![], vec![], vec![], vec![]);
    for i in 0..iterations as i64 {
        sqlx::query(include_str!("../bench/round.sql"))
            .bind(i * 7919 + 104_729)
            .bind(1000_i32)
            .bind(1000_i32)
            .execute(&pool)
            .await?;
        let t = Instant::now();
        collector.collect(Utc::now(), Instant::now()).await?;
        collect_new.push(t.elapsed());
        let t = Instant::now();
        let snap = collector.snapshot(Utc::now());
        snapshot_new.push(t.elapsed());
        let t = Instant::now();
        let body = encoder.encode(&snap, Format::OpenMetrics);
        encode_new.push(t.elapsed());
        // gzip at the fastest level, as /metrics answers a scraper that accepts it, on one thread
        // (the handler deflates a large body in two halves on two).
        let t = Instant::now();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, body.as_bytes())?;
        let _ = gz.finish()?;
        gzip_new.push(t.elapsed());
    }
    let report = serde_json::json!({
        "bootstrap_ms": bootstrap.as_secs_f64() * 1e3,
        "collect_nothing_new": millis(collect),
        "snapshot": millis(snapshot),
        "encode_openmetrics": millis(openmetrics),
        "encode_text004": millis(text),
        "text004_bytes": bytes,
        "collect_1000_new": millis(collect_new),
        "snapshot_1000_new": millis(snapshot_new),
        "encode_openmetrics_1000_new": millis(encode_new),
        "gzip_openmetrics_1000_new": millis(gzip_new),
        "series": series,
    });
    println!("{report}");
    Ok(())
}
