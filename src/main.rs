use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use webhook_health_exporter::api::auth::token_sha256;
use webhook_health_exporter::api::client::{self, ReprocessArgs};
use webhook_health_exporter::config::{ServeArgs, Settings};
use webhook_health_exporter::serve;
use webhook_health_exporter::simulate::{self, IngestTarget, SimConfig};
use webhook_health_exporter::store::{redact_url, ConnectOptions, Store, SyncQueue};

/// Prometheus exporter for the health of a Dynamics portal -> Edge Function webhook integration.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Log level: trace, debug, info, warn, error or off, or tracing directives such as
    /// `info,sqlx=warn`
    #[arg(long = "log.level", env = "WHE_LOG", default_value = "info", global = true)]
    log_level: String,
    /// Log format: text (human-readable), logfmt (key=value, as Prometheus exporters write) or json
    #[arg(long = "log.format", env = "WHE_LOG_FORMAT", default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Logfmt,
    Json,
}

// Parsed once at start: the size of the flags struct does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve /metrics from a log store.
    Serve(Box<ServeArgs>),
    /// Try it out: an embedded SQLite store, the simulator feeding it, the exporter serving it.
    Demo(DemoArgs),
    /// Write realistic webhook traffic into a log store.
    Simulate(SimulateArgs),
    /// Re-enqueue failed events through an exporter's reprocessing API (token in WHE_API_TOKEN).
    Reprocess(ReprocessArgs),
    /// Read an API token on stdin and print the sha256 to configure with --api.token-sha256.
    HashToken,
    /// Apply the log-store migrations.
    Migrate(UrlArgs),
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Folder for the SQLite store
    #[arg(long, default_value = "demo-data")]
    data_dir: PathBuf,
    /// Address to serve on
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9877")]
    listen_address: String,
    /// Organizations to simulate
    #[arg(long, default_value_t = 8)]
    orgs: usize,
    /// Live events per second
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// A PostgreSQL log store to run the demo on instead of the embedded SQLite one
    #[arg(long, env = "WHE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The sync queue: `table` or `pgmq:<queue name>` (PostgreSQL with pgmq installed)
    #[arg(long = "sync-queue", env = "WHE_SYNC_QUEUE", default_value = "table")]
    sync_queue: String,
}

/// The store options of `sync_queue` (`--sync-queue`).
fn queue_options(sync_queue: &str) -> anyhow::Result<ConnectOptions> {
    let queue =
        SyncQueue::parse(sync_queue).map_err(|e| anyhow::anyhow!("--sync-queue {sync_queue:?}: {e}"))?;
    Ok(ConnectOptions { queue, ..ConnectOptions::default() })
}

/// The log store of `migrate` and `simulate`: a URL, or a file holding it (a Docker secret).
#[derive(Debug, Args)]
struct UrlArgs {
    /// Log store URL: postgres://... or sqlite://path?mode=rwc
    #[arg(
        long,
        env = "WHE_DATABASE_URL",
        hide_env_values = true,
        required_unless_present = "database_url_file"
    )]
    database_url: Option<String>,
    /// A file holding the log store URL, instead of --database-url
    #[arg(long = "database-url-file", env = "WHE_DATABASE_URL_FILE", conflicts_with = "database_url")]
    database_url_file: Option<PathBuf>,
}

impl UrlArgs {
    fn url(&self) -> Result<String, webhook_health_exporter::parse::ConfigError> {
        match (&self.database_url, &self.database_url_file) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(path)) => webhook_health_exporter::parse::read_secret("--database-url-file", path),
            (None, None) => Err(webhook_health_exporter::parse::ConfigError::Missing(
                "--database-url or --database-url-file (WHE_DATABASE_URL, WHE_DATABASE_URL_FILE)",
            )),
        }
    }
}

#[derive(Debug, Args)]
struct SimulateArgs {
    #[command(flatten)]
    store: UrlArgs,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 8)]
    orgs: usize,
    /// Events of history to write
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Days of history the events spread over
    #[arg(long, default_value_t = 1.0)]
    days: f64,
    /// Keep writing live traffic until interrupted
    #[arg(long)]
    follow: bool,
    /// Live events per second with --follow
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// An exporter to post the Edge Function lifecycle events to (its base URL, e.g.
    /// http://127.0.0.1:9877), with an ingestion token from WHE_INGEST_TOKEN or
    /// --ingest.token-file; without it they are not written
    #[arg(long = "ingest.url", env = "WHE_INGEST_URL")]
    ingest_url: Option<String>,
    /// A file holding the ingestion token (a Docker or Kubernetes secret)
    #[arg(long = "ingest.token-file", env = "WHE_INGEST_TOKEN_FILE")]
    ingest_token_file: Option<PathBuf>,
    /// The sync queue to write: `table` or `pgmq:<queue name>` (PostgreSQL with pgmq installed)
    #[arg(long = "sync-queue", env = "WHE_SYNC_QUEUE", default_value = "table")]
    sync_queue: String,
}

impl SimulateArgs {
    /// The ingestion endpoint's exporter and token; the token never comes from a flag.
    fn ingest_target(&self) -> anyhow::Result<Option<IngestTarget>> {
        let Some(url) = &self.ingest_url else { return Ok(None) };
        let token = match (&self.ingest_token_file, std::env::var("WHE_INGEST_TOKEN")) {
            (Some(path), _) => webhook_health_exporter::parse::read_secret("--ingest.token-file", path)?,
            (None, Ok(token)) if !token.trim().is_empty() => token.trim().to_string(),
            _ => anyhow::bail!(
                "--ingest.url needs an ingestion token: set WHE_INGEST_TOKEN or --ingest.token-file"
            ),
        };
        Ok(Some(IngestTarget { url: url.clone(), token }))
    }
}

fn init_logging(level: &str, format: LogFormat) -> anyhow::Result<()> {
    // A bare word is a target directive to tracing, so a typo such as `inf0` would silently log
    // nothing: bare words must be levels.
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_directive = level.contains(['=', ',']);
    if !is_directive && !LEVELS.contains(&level.trim().to_ascii_lowercase().as_str()) {
        anyhow::bail!(
            "invalid --log.level {level:?}: expected one of {} or tracing directives",
            LEVELS.join(", ")
        );
    }
    let filter = EnvFilter::try_new(level).with_context(|| format!("invalid --log.level {level:?}"))?;
    // Colour escapes only for a person at a terminal, never into files or log collectors.
    let ansi = std::io::stderr().is_terminal();
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .init(),
        LogFormat::Logfmt => tracing_logfmt::builder()
            .subscriber_builder()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init(),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log_level, cli.log_format)?;
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings::resolve(&args)?;
            serve::run(settings, serve::shutdown_signal()).await
        }
        Command::Migrate(a) => {
            Store::open_and_migrate(&a.url()?, &ConnectOptions::default()).await?;
            eprintln!("log store migrated");
            Ok(())
        }
        Command::Simulate(a) => {
            let store = Store::open_and_migrate(&a.store.url()?, &queue_options(&a.sync_queue)?).await?;
            store.ensure_queue().await?;
            let ingest = a.ingest_target()?;
            let cfg = SimConfig {
                seed: a.seed,
                orgs: a.orgs,
                events: a.events,
                days: a.days,
                end: Utc::now(),
                follow: a.follow,
                rate: a.rate,
                ingest,
                // Fewer, larger transactions: a history of millions of rows writes in a fraction
                // of the time (the demo keeps small ones, so that its figures move as it writes).
                batch: 10_000,
                ..SimConfig::default()
            };
            let started = std::time::Instant::now();
            let summary = simulate::run(&store, &cfg, serve::shutdown_signal()).await?;
            eprintln!(
                "wrote {} events, {} lifecycle events (posted to the exporter's ingestion endpoint), \
                 {} queue items, {} sync attempts in {:.1}s",
                summary.events,
                summary.lifecycle_events,
                summary.queue_items,
                summary.sync_attempts,
                started.elapsed().as_secs_f64()
            );
            if summary.lifecycle_not_sent > 0 {
                eprintln!(
                    "{} lifecycle events not sent: give --ingest.url and an ingestion token to post them",
                    summary.lifecycle_not_sent
                );
            }
            Ok(())
        }
        Command::Demo(a) => demo(a).await,
        Command::Reprocess(a) => client::reprocess(a).await,
        Command::HashToken => {
            println!("{}", client::hash_token(std::io::stdin().lock())?);
            Ok(())
        }
    }
}

async fn demo(a: DemoArgs) -> anyhow::Result<()> {
    let url = match &a.database_url {
        Some(url) => url.clone(),
        None => {
            std::fs::create_dir_all(&a.data_dir)
                .with_context(|| format!("creating {}", a.data_dir.display()))?;
            format!("sqlite://{}/webhook-health.db", a.data_dir.display())
        }
    };
    let store = Store::open_and_migrate(&url, &queue_options(&a.sync_queue)?).await?;
    store.ensure_queue().await?;
    // A fresh admin token and ingestion token per demo run, so that the reprocessing page can be
    // tried and the simulator posts its lifecycle events as an event worker would; only their
    // hashes are configured, as in production.
    let token = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let ingest_token = format!("demo-ingest-{}", uuid::Uuid::new_v4().simple());
    let mut args = ServeArgs {
        database_url: Some(url.clone()),
        listen_address: Some(a.listen_address.clone()),
        sync_queue: Some(a.sync_queue.clone()),
        ..ServeArgs::default()
    };
    args.api.token_sha256 = vec![format!("demo:global_admin:{}", hex::encode(token_sha256(&token)))];
    args.ingest.token_sha256 = vec![format!("demo-simulator:{}", hex::encode(token_sha256(&ingest_token)))];
    let settings = Settings::resolve(&args)?;
    let mut exporter = settings.listen_address;
    if exporter.ip().is_unspecified() {
        exporter.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let ingest = IngestTarget { url: format!("http://{exporter}"), token: ingest_token };
    let cfg = SimConfig {
        orgs: a.orgs,
        rate: a.rate,
        follow: true,
        end: Utc::now(),
        ingest: Some(ingest),
        ..SimConfig::default()
    };
    eprintln!("writing a day of simulated history into {} ({}) ...", redact_url(&url), store.queue().label());
    let sim_store = store.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let simulator = tokio::spawn(async move {
        simulate::run(&sim_store, &cfg, async {
            let _ = stop_rx.await;
        })
        .await
    });
    eprintln!(
        "\nwebhook-health-exporter demo\n  metrics:  http://{0}/metrics\n  landing:  http://{0}/\n  \
         admin:    http://{0}/admin  (token for this run: {token})\n  \
         lifecycle: the simulator posts the Edge Function's boots, crashes and shutdowns to\n             \
         http://{0}/api/v1/lifecycle/edge-runtime, as an edge runtime's event worker would\n  \
         the simulator keeps writing live traffic (every 15 minutes a secret rotation, a crash, a\n  \
         throttled org's backlog, a portal outage) and its portal sync service works the queue;\n  \
         Ctrl-C to stop.\n",
        a.listen_address
    );
    let result = serve::run(settings, serve::shutdown_signal()).await;
    let _ = stop_tx.send(());
    if let Ok(Err(e)) = simulator.await {
        tracing::error!(error = %e, "simulator failed");
    }
    result
}
