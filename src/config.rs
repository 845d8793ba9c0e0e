//! Settings for `serve`: command-line flags, environment variables and an optional TOML file,
//! in that order of precedence. Every error names the setting that is wrong.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::api::{ApiArgs, ApiFileConfig, ApiSettings};
use crate::collector::{CollectorConfig, Window};
use crate::health::config::{resolve_functions, resolve_recovery_window, EdgeArgs};
use crate::ingest::{IngestArgs, IngestFileConfig, IngestSettings};
use crate::parse::{invalid, read_secret};
pub use crate::parse::{parse_duration, ConfigError};
use crate::probes::{self, ProbeArgs, ProbeFileEntry, ProbeTarget};
use crate::store::SyncQueue;
use crate::web::{WebArgs, WebFileConfig, WebSettings};

/// Flags of `serve` (and of `demo`, which fills some itself).
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML config file; flags and environment variables override it.
    #[arg(long, env = "WHE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log store URL: postgres://... or sqlite://path?mode=rwc
    #[arg(long, env = "WHE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A file holding the log store URL (a Docker or Kubernetes secret), instead of --database-url
    #[arg(long = "database-url-file", env = "WHE_DATABASE_URL_FILE", conflicts_with = "database_url")]
    pub database_url_file: Option<PathBuf>,
    /// Address to listen on for the web interface and telemetry [default: 0.0.0.0:9877]
    #[arg(long = "web.listen-address", env = "WHE_WEB_LISTEN_ADDRESS")]
    pub listen_address: Option<String>,
    /// Path under which to expose metrics [default: /metrics]
    #[arg(long = "web.telemetry-path", env = "WHE_WEB_TELEMETRY_PATH")]
    pub telemetry_path: Option<String>,
    /// A window for the webhook_window_* gauges (repeatable) [default: 1h 24h]
    #[arg(long = "window", env = "WHE_WINDOWS", value_delimiter = ',')]
    pub windows: Vec<String>,
    /// How long a scrape waits for the log store before serving last-known values [default: 5s]
    #[arg(long = "collect.timeout", env = "WHE_COLLECT_TIMEOUT")]
    pub collect_timeout: Option<String>,
    /// Rows per incremental read [default: 50000]
    #[arg(long = "collect.batch-size", env = "WHE_COLLECT_BATCH_SIZE")]
    pub batch_size: Option<i64>,
    /// How long one log-store statement may run before it is cancelled and its connection closed
    /// [default: 10s]
    #[arg(long = "store.timeout", env = "WHE_STORE_TIMEOUT")]
    pub store_timeout: Option<String>,
    /// Apply the bundled log-store migrations at start (off for a store owned by another team)
    #[arg(long = "store.migrate", env = "WHE_STORE_MIGRATE")]
    pub migrate: bool,
    /// The sync queue: `table` (the sync_queue table) or `pgmq:<queue name>` (Supabase Queues,
    /// PostgreSQL only) [default: table]
    #[arg(long = "sync-queue", env = "WHE_SYNC_QUEUE")]
    pub sync_queue: Option<String>,
    #[command(flatten)]
    pub probe: ProbeArgs,
    #[command(flatten)]
    pub edge: EdgeArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub web: WebArgs,
}

/// The config file. Unknown keys are an error, so a typo cannot silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub database_url_file: Option<PathBuf>,
    pub listen_address: Option<String>,
    pub telemetry_path: Option<String>,
    pub windows: Option<Vec<String>>,
    pub collect_timeout: Option<String>,
    pub batch_size: Option<i64>,
    pub store_timeout: Option<String>,
    pub migrate: Option<bool>,
    pub sync_queue: Option<String>,
    /// `[[probe]]` tables: endpoints to probe, with per-target settings.
    #[serde(default)]
    pub probe: Vec<ProbeFileEntry>,
    pub edge_recovery_window: Option<String>,
    /// Like `--edge.function`: the functions whose lifecycle events count.
    pub edge_functions: Option<Vec<String>>,
    pub api: Option<ApiFileConfig>,
    pub ingest: Option<IngestFileConfig>,
    pub web: Option<WebFileConfig>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })
    }
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
    pub collector: CollectorConfig,
    /// Client- and server-side limit of one log-store statement.
    pub store_timeout: Duration,
    pub migrate: bool,
    /// The sync queue the store reads and the reprocessing API writes.
    pub sync_queue: SyncQueue,
    pub probes: Vec<ProbeTarget>,
    pub edge_recovery_window: Duration,
    pub api: ApiSettings,
    pub ingest: IngestSettings,
    pub web: WebSettings,
}

impl Settings {
    pub fn resolve(args: &ServeArgs) -> Result<Settings, ConfigError> {
        let file = match &args.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let url_file = args.database_url_file.clone().or(file.database_url_file);
        if url_file.is_some() && file.database_url.is_some() {
            return Err(invalid(
                "database_url_file",
                &url_file.unwrap_or_default().display().to_string(),
                "give database_url or database_url_file, not both",
            ));
        }
        let database_url = match (&args.database_url, url_file) {
            (Some(url), _) => url.clone(),
            (None, Some(path)) => read_secret("--database-url-file", &path)?,
            (None, None) => file
                .database_url
                .ok_or(ConfigError::Missing("--database-url or --database-url-file (WHE_DATABASE_URL, WHE_DATABASE_URL_FILE, database_url)"))?,
        };
        if !["postgres://", "postgresql://", "sqlite:"].iter().any(|p| database_url.starts_with(p)) {
            return Err(invalid(
                "--database-url",
                &crate::store::redact_url(&database_url),
                "expected postgres://, postgresql:// or sqlite:",
            ));
        }
        let listen =
            args.listen_address.clone().or(file.listen_address).unwrap_or_else(|| "0.0.0.0:9877".into());
        let listen_address = parse_listen_address(&listen)?;
        let telemetry_path =
            args.telemetry_path.clone().or(file.telemetry_path).unwrap_or_else(|| "/metrics".into());
        // It is also written into the landing page's HTML, so only plain path characters.
        let plain = telemetry_path.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c));
        if !plain
            || !telemetry_path.starts_with('/')
            || telemetry_path.len() < 2
            || telemetry_path.starts_with("/api/")
            || telemetry_path.starts_with("/admin")
        {
            return Err(invalid(
                "--web.telemetry-path",
                &telemetry_path,
                "must start with /, use only letters, digits and / - _ ., and not be / or under /api/ or /admin",
            ));
        }
        let window_texts = if !args.windows.is_empty() {
            args.windows.clone()
        } else {
            file.windows.unwrap_or_else(|| vec!["1h".into(), "24h".into()])
        };
        let windows = parse_windows(&window_texts)?;
        let timeout_text =
            args.collect_timeout.clone().or(file.collect_timeout).unwrap_or_else(|| "5s".into());
        let deadline = parse_duration("--collect.timeout", &timeout_text)?;
        let store_timeout_text =
            args.store_timeout.clone().or(file.store_timeout).unwrap_or_else(|| "10s".into());
        let store_timeout = parse_duration("--store.timeout", &store_timeout_text)?;
        if store_timeout < Duration::from_millis(100) {
            return Err(invalid("--store.timeout", &store_timeout_text, "must be at least 100ms"));
        }
        let queue_text = args.sync_queue.clone().or(file.sync_queue).unwrap_or_else(|| "table".into());
        let sync_queue =
            SyncQueue::parse(&queue_text).map_err(|e| invalid(SyncQueue::OPTION, &queue_text, &e))?;
        if matches!(sync_queue, SyncQueue::Pgmq(_)) && database_url.starts_with("sqlite:") {
            return Err(invalid(
                SyncQueue::OPTION,
                &queue_text,
                "pgmq needs a PostgreSQL store (SQLite has only the sync_queue table)",
            ));
        }
        let batch_size = args.batch_size.or(file.batch_size).unwrap_or(50_000);
        if !(100..=1_000_000).contains(&batch_size) {
            return Err(invalid(
                "--collect.batch-size",
                &batch_size.to_string(),
                "must be between 100 and 1000000",
            ));
        }
        let edge_functions = resolve_functions(&args.edge, file.edge_functions.as_deref())?;
        let api = ApiSettings::resolve(&args.api, file.api.as_ref())?;
        let ingest = IngestSettings::resolve(&args.ingest, file.ingest.as_ref())?;
        // One credential, one job: an admin token must not post lifecycle events, nor the reverse.
        if let Some(t) = ingest.tokens.iter().find(|i| api.tokens.iter().any(|a| a.sha256 == i.sha256)) {
            return Err(invalid(
                "--ingest.token-sha256",
                &t.principal,
                "this token hash is also an API token: give ingestion a token of its own",
            ));
        }
        Ok(Settings {
            database_url,
            listen_address,
            telemetry_path,
            collector: CollectorConfig {
                windows,
                batch_size,
                deadline,
                edge_functions,
                ..CollectorConfig::default()
            },
            store_timeout,
            migrate: args.migrate || file.migrate.unwrap_or(false),
            sync_queue,
            probes: probes::config::resolve(&args.probe, &file.probe)?,
            edge_recovery_window: resolve_recovery_window(&args.edge, file.edge_recovery_window.as_deref())?,
            api,
            ingest,
            web: WebSettings::resolve(&args.web, file.web.as_ref())?,
        })
    }
}

/// Accepts `host:port` and the exporter convention `:port` (all interfaces).
pub fn parse_listen_address(text: &str) -> Result<SocketAddr, ConfigError> {
    let full = if text.starts_with(':') { format!("0.0.0.0{text}") } else { text.to_string() };
    full.parse().map_err(|e| invalid("--web.listen-address", text, e))
}

pub fn parse_windows(texts: &[String]) -> Result<Vec<Window>, ConfigError> {
    let mut windows: Vec<Window> = Vec::new();
    for text in texts {
        let label = text.trim().to_string();
        let d = parse_duration("--window", &label)?;
        if d > Duration::from_secs(90 * 86_400) {
            return Err(invalid("--window", &label, "at most 90 days: longer windows belong in Prometheus"));
        }
        if windows.iter().any(|w| *w.label == *label) {
            return Err(invalid("--window", &label, "given twice"));
        }
        windows.push(Window { label: label.into(), micros: d.as_micros() as i64 });
    }
    Ok(windows)
}

#[cfg(test)]
mod tests;
