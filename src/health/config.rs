//! Edge Function health settings (`--edge.*`).

use std::time::Duration;

use clap::Args;

use crate::parse::{invalid, parse_duration, ConfigError};

pub const DEFAULT_RECOVERY_WINDOW: Duration = Duration::from_secs(300);

/// The collector reads a day of lifecycle history at start; a longer window could not be honoured
/// after a restart.
const MAX_RECOVERY_WINDOW: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Default, Args)]
pub struct EdgeArgs {
    /// How long the Edge Function counts as down after an error exit [default: 5m]
    #[arg(long = "edge.recovery-window", env = "WHE_EDGE_RECOVERY_WINDOW")]
    pub recovery_window: Option<String>,
    /// Count only this Edge Function's lifecycle events (repeatable, or comma-separated): its
    /// name as `edge_function_events.function_name` stores it, the slug or the UUID [default:
    /// every function]
    #[arg(long = "edge.function", env = "WHE_EDGE_FUNCTION", value_delimiter = ',', value_name = "NAME")]
    pub functions: Vec<String>,
}

/// The flag, else the config file's `edge_recovery_window`, else 5m.
pub fn resolve_recovery_window(args: &EdgeArgs, file: Option<&str>) -> Result<Duration, ConfigError> {
    let Some(text) = args.recovery_window.as_deref().or(file) else {
        return Ok(DEFAULT_RECOVERY_WINDOW);
    };
    let d = parse_duration("--edge.recovery-window", text)?;
    if d > MAX_RECOVERY_WINDOW {
        return Err(invalid("--edge.recovery-window", text, "at most 24h"));
    }
    Ok(d)
}

/// The flag (or its environment variable), else the config file's `edge_functions`, else none:
/// every function counts. Each must match a stored `function_name` exactly.
pub fn resolve_functions(args: &EdgeArgs, file: Option<&[String]>) -> Result<Vec<String>, ConfigError> {
    let texts = if args.functions.is_empty() { file.unwrap_or_default() } else { &args.functions };
    let mut functions: Vec<String> = Vec::with_capacity(texts.len());
    for text in texts {
        let name = text.trim();
        if name.is_empty() {
            return Err(invalid("--edge.function", text, "must not be empty"));
        }
        if functions.iter().any(|f| f == name) {
            return Err(invalid("--edge.function", name, "given twice"));
        }
        functions.push(name.to_string());
    }
    Ok(functions)
}

/// Says at start whose lifecycle events the Edge Function's health counts.
pub fn log_status(functions: &[String]) {
    if functions.is_empty() {
        tracing::info!(
            "Edge Function health counts the lifecycle events of every function: give --edge.function \
             to watch the webhook's function only"
        );
    } else {
        tracing::info!(functions = %functions.join(","), "Edge Function health counts these functions only");
    }
}
