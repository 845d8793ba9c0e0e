//! Setting parsers and their error, shared by every room's configuration (`config.rs`,
//! `api/config.rs`, `probes/config.rs`, `web/config.rs`, `health/config.rs`). A leaf: it imports
//! nothing from the crate, so no room's settings import back up the layers.

use std::path::{Path, PathBuf};
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

/// A secret kept in a file (a Docker or Kubernetes secret): its content without the trailing
/// newline that editors and `echo` add. The error names the setting and the path, never the content.
pub fn read_secret(setting: &'static str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(setting, &path.display().to_string(), format!("cannot read it: {e}")))?;
    let secret = text.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(invalid(setting, &path.display().to_string(), "the file is empty"));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_loses_its_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, " s3cret \r\n").unwrap();
        assert_eq!(read_secret("--x-file", &path).unwrap(), " s3cret ");
        std::fs::write(&path, "\n").unwrap();
        let e = read_secret("--x-file", &path).unwrap_err().to_string();
        assert!(e.contains("--x-file") && e.contains("empty"), "{e}");
        let e = read_secret("--x-file", &dir.path().join("missing")).unwrap_err().to_string();
        assert!(e.contains("--x-file") && e.contains("cannot read it"), "{e}");
    }
}
