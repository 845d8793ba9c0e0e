//! Settings of the lifecycle ingestion endpoints: flags (`--ingest.*`, env `WHE_INGEST_*`) and
//! the `[ingest]` section of the config file. Ingestion has credentials of its own, configured
//! like the API's tokens (sha256 hashes only) but never accepted by the API, nor the API's here.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use crate::access::tokens::{parse_token_flag, read_token_file, refuse_repeated_hashes, TokenEntry};
use crate::parse::{invalid, ConfigError};

/// The role every ingestion token holds (the API's admin role is never it).
pub const INGEST_ROLE: &str = "lifecycle_ingest";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 8 * 1024 * 1024;
/// Events per `POST /api/v1/lifecycle/edge-runtime` (the event worker's contract).
pub const MAX_RUNTIME_EVENTS: usize = 500;
/// Events per `POST /api/v1/lifecycle/log-drain` (Supabase drains send at most 250 per batch).
pub const MAX_DRAIN_EVENTS: usize = 250;

const TOKEN_FLAG: &str = "--ingest.token-sha256";
const TOKEN_FILE_FLAG: &str = "--ingest.token-sha256-file";

/// Flags of the ingestion endpoints, flattened into `serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct IngestArgs {
    /// An ingestion token (event worker, log drain) as the sha256 hex of the token: HEX or
    /// NAME:HEX (repeatable; make one with `hash-token`)
    #[arg(
        id = "ingest_token_sha256",
        long = "ingest.token-sha256",
        env = "WHE_INGEST_TOKEN_SHA256",
        value_delimiter = ','
    )]
    pub token_sha256: Vec<String>,
    /// A file of ingestion token hashes (a Docker or Kubernetes secret): one HEX or NAME:HEX per
    /// line; blank lines and lines starting with # are ignored
    #[arg(
        id = "ingest_token_sha256_file",
        long = "ingest.token-sha256-file",
        env = "WHE_INGEST_TOKEN_SHA256_FILE"
    )]
    pub token_sha256_file: Option<PathBuf>,
    /// Largest request body accepted, as sent (compressed) [default: 1048576]
    #[arg(id = "ingest_max_body_bytes", long = "ingest.max-body-bytes", env = "WHE_INGEST_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest body once decompressed [default: 8388608]
    #[arg(
        id = "ingest_max_decompressed_bytes",
        long = "ingest.max-decompressed-bytes",
        env = "WHE_INGEST_MAX_DECOMPRESSED_BYTES"
    )]
    pub max_decompressed_bytes: Option<usize>,
}

/// The `[ingest]` section of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestFileConfig {
    /// Like `--ingest.token-sha256`: HEX or NAME:HEX entries.
    #[serde(default)]
    pub token_sha256: Vec<String>,
    pub token_sha256_file: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub max_decompressed_bytes: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub max_runtime_events: usize,
    pub max_drain_events: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_runtime_events: MAX_RUNTIME_EVENTS,
            max_drain_events: MAX_DRAIN_EVENTS,
        }
    }
}

/// Resolved ingestion settings.
#[derive(Debug, Clone, Default)]
pub struct IngestSettings {
    pub tokens: Vec<TokenEntry>,
    pub limits: IngestLimits,
}

impl IngestSettings {
    /// Ingestion answers only when a sender can authenticate.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    pub fn resolve(
        args: &IngestArgs,
        file: Option<&IngestFileConfig>,
    ) -> Result<IngestSettings, ConfigError> {
        let empty = IngestFileConfig::default();
        let file = file.unwrap_or(&empty);
        let mut tokens = Vec::new();
        for text in args.token_sha256.iter().chain(&file.token_sha256) {
            tokens.push(parse_token_flag(TOKEN_FLAG, text, INGEST_ROLE)?);
        }
        if let Some(path) = args.token_sha256_file.as_ref().or(file.token_sha256_file.as_ref()) {
            tokens.extend(read_token_file(TOKEN_FILE_FLAG, path, INGEST_ROLE)?);
        }
        if let Some(t) = tokens.iter().find(|t| t.role != INGEST_ROLE) {
            return Err(invalid(
                TOKEN_FLAG,
                &t.principal,
                "an ingestion token has no role: give HEX or NAME:HEX",
            ));
        }
        refuse_repeated_hashes(TOKEN_FLAG, &tokens)?;
        let max_body_bytes = args.max_body_bytes.or(file.max_body_bytes).unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(invalid(
                "--ingest.max-body-bytes",
                &max_body_bytes.to_string(),
                "must be between 1024 and 67108864",
            ));
        }
        let max_decompressed_bytes = args
            .max_decompressed_bytes
            .or(file.max_decompressed_bytes)
            .unwrap_or(DEFAULT_MAX_DECOMPRESSED_BYTES);
        if !(max_body_bytes..=256 * 1024 * 1024).contains(&max_decompressed_bytes) {
            return Err(invalid(
                "--ingest.max-decompressed-bytes",
                &max_decompressed_bytes.to_string(),
                "must be at least --ingest.max-body-bytes and at most 268435456",
            ));
        }
        let limits = IngestLimits { max_body_bytes, max_decompressed_bytes, ..IngestLimits::default() };
        Ok(IngestSettings { tokens, limits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn tokens_come_from_flags_files_and_the_config_file() {
        assert!(!IngestSettings::resolve(&IngestArgs::default(), None).unwrap().enabled());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ingest-tokens");
        std::fs::write(&path, format!("# drains\nsupabase-drain:{}\n", HASH.replace('9', "8"))).unwrap();
        let args = IngestArgs {
            token_sha256: vec![format!("event-worker:{HASH}")],
            token_sha256_file: Some(path),
            ..IngestArgs::default()
        };
        let file: IngestFileConfig = toml::from_str(&format!(
            "token_sha256 = [\"{}\"]\nmax_body_bytes = 4096\n",
            HASH.replace('9', "7")
        ))
        .unwrap();
        let s = IngestSettings::resolve(&args, Some(&file)).unwrap();
        let names: Vec<&str> = s.tokens.iter().map(|t| t.principal.as_str()).collect();
        assert_eq!(names, ["event-worker", "token-7f86d081", "supabase-drain"]);
        assert!(s.tokens.iter().all(|t| t.role == INGEST_ROLE));
        assert_eq!(s.limits.max_body_bytes, 4096);
        assert_eq!(s.limits.max_runtime_events, 500);
    }

    #[test]
    fn roles_pasted_tokens_and_bad_limits_are_refused() {
        let with_role =
            IngestArgs { token_sha256: vec![format!("w:global_admin:{HASH}")], ..IngestArgs::default() };
        let e = IngestSettings::resolve(&with_role, None).unwrap_err().to_string();
        assert!(e.contains("has no role"), "{e}");
        let pasted = IngestArgs { token_sha256: vec!["w:my-secret-token".into()], ..IngestArgs::default() };
        let e = IngestSettings::resolve(&pasted, None).unwrap_err().to_string();
        assert!(e.contains("--ingest.token-sha256") && !e.contains("my-secret-token"), "{e}");
        let small = IngestArgs {
            token_sha256: vec![HASH.into()],
            max_body_bytes: Some(4096),
            max_decompressed_bytes: Some(1024),
            ..IngestArgs::default()
        };
        let e = IngestSettings::resolve(&small, None).unwrap_err().to_string();
        assert!(e.contains("--ingest.max-decompressed-bytes"), "{e}");
        let bad: Result<IngestFileConfig, _> = toml::from_str("token = \"x\"\n");
        assert!(bad.unwrap_err().to_string().contains("unknown field"));
    }
}
