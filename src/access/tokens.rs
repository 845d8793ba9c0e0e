//! Configured tokens, kept as sha256 hashes: the flag syntax (`HEX`, `PRINCIPAL:HEX`,
//! `PRINCIPAL:ROLE:HEX`) and the one-per-line secret files, shared by the API's tokens
//! (`--api.token-sha256[-file]`) and the ingestion tokens (`--ingest.token-sha256[-file]`).
//! Errors name the setting and the principal or line, never the value: it may be a pasted token.

use std::fmt;
use std::path::Path;

use crate::credentials;
use crate::parse::{invalid, read_secret, ConfigError};

/// A configured token: who it is, what role it has, the sha256 of its value.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub principal: String,
    pub role: String,
    pub sha256: [u8; 32],
}

impl fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEntry").field("principal", &self.principal).field("role", &self.role).finish()
    }
}

/// The same hash twice (in one list of tokens) is refused: one of the two names would be wrong.
pub(crate) fn refuse_repeated_hashes(
    setting: &'static str,
    tokens: &[TokenEntry],
) -> Result<(), ConfigError> {
    for (i, t) in tokens.iter().enumerate() {
        if tokens[..i].iter().any(|o| o.sha256 == t.sha256) {
            return Err(invalid(setting, &t.principal, "the same token hash is configured twice"));
        }
    }
    Ok(())
}

/// A file of token hashes (`--api.token-sha256-file`, `--ingest.token-sha256-file`): one token per
/// line in the flag's syntax, `#` comments; `default_role` for lines that name none.
pub(crate) fn read_token_file(
    setting: &'static str,
    path: &Path,
    default_role: &str,
) -> Result<Vec<TokenEntry>, ConfigError> {
    let text = read_secret(setting, path)?;
    let mut tokens = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Name the line, never its content: it may be a pasted token.
        let at = format!("{} line {}", path.display(), n + 1);
        let entry = parse_token_flag(setting, line, default_role).map_err(|e| match e {
            ConfigError::Invalid { reason, .. } => invalid(setting, &at, reason),
            other => other,
        })?;
        tokens.push(entry);
    }
    if tokens.is_empty() {
        return Err(invalid(setting, &path.display().to_string(), "holds no token hashes"));
    }
    Ok(tokens)
}

/// `HEX`, `PRINCIPAL:HEX` or `PRINCIPAL:ROLE:HEX` (the role defaults to `default_role`).
pub(crate) fn parse_token_flag(
    setting: &'static str,
    text: &str,
    default_role: &str,
) -> Result<TokenEntry, ConfigError> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    let (principal, role, hex) = match parts.as_slice() {
        [hex] => (format!("token-{}", hex.get(..8).unwrap_or(hex)), default_role.to_string(), *hex),
        [p, hex] => (p.to_string(), default_role.to_string(), *hex),
        [p, r, hex] => (p.to_string(), r.to_string(), *hex),
        _ => return Err(invalid(setting, "(hidden)", "expected HEX, PRINCIPAL:HEX or PRINCIPAL:ROLE:HEX")),
    };
    token_entry(&principal, &role, hex, setting)
}

pub(crate) fn token_entry(
    principal: &str,
    role: &str,
    hex_text: &str,
    setting: &'static str,
) -> Result<TokenEntry, ConfigError> {
    if principal.trim().is_empty() || principal.len() > 100 || principal.chars().any(char::is_control) {
        return Err(invalid(setting, principal, "a principal name must be 1 to 100 printable characters"));
    }
    if role.trim().is_empty() {
        return Err(invalid(setting, principal, "the role must not be empty"));
    }
    // Never echo the value: someone may have pasted the token itself instead of its hash.
    let bytes = credentials::parse_sha256_hex(hex_text).ok_or_else(|| {
            invalid(
                setting,
                principal,
                "expected the sha256 of the token as 64 hex digits (`webhook-health-exporter hash-token` prints it)",
            )
        })?;
    Ok(TokenEntry { principal: principal.to_string(), role: role.to_string(), sha256: bytes })
}
