//! Setting parsers and their error, shared by every room's configuration (`config.rs`,
//! `api/config.rs`, `probes/config.rs`, `web/config.rs`, `health/config.rs`). A leaf: it imports
//! nothing from the crate, so no room's settings import back up the layers.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid {setting} {value:?}: {reason}")]
    Invalid { setting: &'static str, value: String, reason: String },
    #[error("missing {0}: give it on the command line, in the environment or in the config file")]
    Missing(&'static str),
}

/// The error for a setting whose value is wrong, naming both.
pub fn invalid(setting: &'static str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid { setting, value: value.to_string(), reason: reason.to_string() }
}

pub fn parse_duration(setting: &'static str, text: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| invalid(setting, text, e))?;
    if d.is_zero() {
        return Err(invalid(setting, text, "must be greater than zero"));
    }
    Ok(d)
}
