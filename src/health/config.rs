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
