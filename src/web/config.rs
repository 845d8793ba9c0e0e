//! Web security settings, as exporters conventionally offer them: optional protection of the
//! telemetry path (basic auth with a bcrypt or sha256 password hash, or bearer tokens by sha256)
//! and TLS. Flags `--web.*`, the `[web]` section of the config file.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use crate::credentials;
use crate::parse::{invalid, ConfigError};

#[derive(Debug, Clone, Default, Args)]
pub struct WebArgs {
    /// User name for basic auth on the telemetry path (needs --web.basic-auth-password-hash)
    #[arg(long = "web.basic-auth-user", env = "WHE_WEB_BASIC_AUTH_USER")]
    pub basic_auth_user: Option<String>,
    /// Password hash for basic auth: bcrypt ($2b$...) or sha256 hex (`hash-token` prints it)
    #[arg(long = "web.basic-auth-password-hash", env = "WHE_WEB_BASIC_AUTH_PASSWORD_HASH")]
    pub basic_auth_password_hash: Option<String>,
    /// sha256 hex of a bearer token accepted on the telemetry path (repeatable)
    #[arg(long = "web.bearer-token-sha256", env = "WHE_WEB_BEARER_TOKEN_SHA256", value_delimiter = ',')]
    pub bearer_token_sha256: Vec<String>,
    /// PEM certificate chain: serve HTTPS (needs --web.tls-key-file)
    #[arg(long = "web.tls-cert-file", env = "WHE_WEB_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the certificate
    #[arg(long = "web.tls-key-file", env = "WHE_WEB_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
}

/// The `[web]` section of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebFileConfig {
    pub basic_auth_user: Option<String>,
    pub basic_auth_password_hash: Option<String>,
    #[serde(default)]
    pub bearer_token_sha256: Vec<String>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
}

/// How a basic-auth password is stored.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    Bcrypt(String),
    Sha256([u8; 32]),
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PasswordHash::Bcrypt(_) => "Bcrypt(***)",
            PasswordHash::Sha256(_) => "Sha256(***)",
        })
    }
}

/// Credentials required on the telemetry path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryAuth {
    pub basic: Option<(String, PasswordHash)>,
    pub bearer_sha256: Vec<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSettings {
    /// None: the telemetry path is open.
    pub telemetry_auth: Option<TelemetryAuth>,
    pub tls: Option<TlsFiles>,
}

fn sha256_hex(setting: &'static str, text: &str) -> Result<[u8; 32], ConfigError> {
    credentials::parse_sha256_hex(text).ok_or_else(|| {
        invalid(setting, "(hidden)", "expected a sha256 as 64 hex digits (`hash-token` prints it)")
    })
}

impl WebSettings {
    pub fn resolve(args: &WebArgs, file: Option<&WebFileConfig>) -> Result<WebSettings, ConfigError> {
        let empty = WebFileConfig::default();
        let file = file.unwrap_or(&empty);
        let user = args.basic_auth_user.clone().or(file.basic_auth_user.clone());
        let hash = args.basic_auth_password_hash.clone().or(file.basic_auth_password_hash.clone());
        let basic = match (user, hash) {
            (None, None) => None,
            (Some(user), Some(hash)) => {
                if user.is_empty() || user.contains(':') {
                    return Err(invalid("--web.basic-auth-user", &user, "must be non-empty and without ':'"));
                }
                let hash = if hash.starts_with("$2") {
                    hash.parse::<bcrypt::HashParts>().map_err(|e| {
                        invalid(
                            "--web.basic-auth-password-hash",
                            "(hidden)",
                            format!("not a bcrypt hash: {e}"),
                        )
                    })?;
                    PasswordHash::Bcrypt(hash)
                } else {
                    PasswordHash::Sha256(sha256_hex("--web.basic-auth-password-hash", &hash)?)
                };
                Some((user, hash))
            }
            (Some(_), None) => {
                return Err(ConfigError::Missing("--web.basic-auth-password-hash (with a user)"))
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing("--web.basic-auth-user (with a password hash)"))
            }
        };
        let bearer_texts = if args.bearer_token_sha256.is_empty() {
            &file.bearer_token_sha256
        } else {
            &args.bearer_token_sha256
        };
        let bearer_sha256 = bearer_texts
            .iter()
            .map(|t| sha256_hex("--web.bearer-token-sha256", t))
            .collect::<Result<Vec<_>, _>>()?;
        let telemetry_auth =
            (basic.is_some() || !bearer_sha256.is_empty()).then_some(TelemetryAuth { basic, bearer_sha256 });
        let cert = args.tls_cert_file.clone().or(file.tls_cert_file.clone());
        let key = args.tls_key_file.clone().or(file.tls_key_file.clone());
        let tls = match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (Some(_), None) => {
                return Err(ConfigError::Missing("--web.tls-key-file (with --web.tls-cert-file)"))
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing("--web.tls-cert-file (with --web.tls-key-file)"))
            }
        };
        Ok(WebSettings { telemetry_auth, tls })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_by_default_and_pairs_are_required() {
        assert_eq!(WebSettings::resolve(&WebArgs::default(), None).unwrap(), WebSettings::default());
        let a = WebArgs { basic_auth_user: Some("prom".into()), ..WebArgs::default() };
        assert!(WebSettings::resolve(&a, None)
            .unwrap_err()
            .to_string()
            .contains("--web.basic-auth-password-hash"));
        let a = WebArgs { tls_cert_file: Some("c.pem".into()), ..WebArgs::default() };
        assert!(WebSettings::resolve(&a, None).unwrap_err().to_string().contains("--web.tls-key-file"));
        let a = WebArgs { bearer_token_sha256: vec!["secret".into()], ..WebArgs::default() };
        let e = WebSettings::resolve(&a, None).unwrap_err().to_string();
        assert!(e.contains("--web.bearer-token-sha256") && !e.contains("secret"), "{e}");
    }
}
