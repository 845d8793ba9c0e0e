//! Web security settings: exporter-toolkit's `--web.config.file` (TLS, client certificates, basic
//! auth with bcrypt, response headers), or the older, deprecated flags (basic auth with a bcrypt
//! or sha256 password hash, bearer tokens by sha256, TLS certificate and key). Flags `--web.*`,
//! the `[web]` section of the config file.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::settings::{ClientAuth, PasswordHash, TelemetryAuth, TlsFiles, WebSettings};
use super::web_config;
use crate::credentials;
use crate::parse::{invalid, ConfigError};

#[derive(Debug, Clone, Default, Args)]
pub struct WebArgs {
    /// exporter-toolkit web config file (YAML): TLS, client certificates, basic auth, headers
    #[arg(long = "web.config.file", env = "WHE_WEB_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Deprecated (use --web.config.file): user name for basic auth on the telemetry path
    #[arg(long = "web.basic-auth-user", env = "WHE_WEB_BASIC_AUTH_USER")]
    pub basic_auth_user: Option<String>,
    /// Deprecated (use --web.config.file): password hash for basic auth: bcrypt ($2b$...) or sha256 hex (`hash-token` prints it)
    #[arg(long = "web.basic-auth-password-hash", env = "WHE_WEB_BASIC_AUTH_PASSWORD_HASH")]
    pub basic_auth_password_hash: Option<String>,
    /// Deprecated: sha256 hex of a bearer token accepted on the telemetry path (repeatable)
    #[arg(long = "web.bearer-token-sha256", env = "WHE_WEB_BEARER_TOKEN_SHA256", value_delimiter = ',')]
    pub bearer_token_sha256: Vec<String>,
    /// Deprecated (use --web.config.file): PEM certificate chain: serve HTTPS
    #[arg(long = "web.tls-cert-file", env = "WHE_WEB_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// Deprecated (use --web.config.file): PEM private key of the certificate
    #[arg(long = "web.tls-key-file", env = "WHE_WEB_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
}

/// The `[web]` section of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebFileConfig {
    /// `--web.config.file`.
    pub config_file: Option<PathBuf>,
    pub basic_auth_user: Option<String>,
    pub basic_auth_password_hash: Option<String>,
    #[serde(default)]
    pub bearer_token_sha256: Vec<String>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
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
        if let Some(path) = args.config_file.clone().or(file.config_file.clone()) {
            let legacy = [
                ("--web.basic-auth-user", args.basic_auth_user.is_some() || file.basic_auth_user.is_some()),
                (
                    "--web.basic-auth-password-hash",
                    args.basic_auth_password_hash.is_some() || file.basic_auth_password_hash.is_some(),
                ),
                (
                    "--web.bearer-token-sha256",
                    !args.bearer_token_sha256.is_empty() || !file.bearer_token_sha256.is_empty(),
                ),
                ("--web.tls-cert-file", args.tls_cert_file.is_some() || file.tls_cert_file.is_some()),
                ("--web.tls-key-file", args.tls_key_file.is_some() || file.tls_key_file.is_some()),
            ];
            if let Some((flag, _)) = legacy.iter().find(|(_, given)| *given) {
                return Err(invalid(
                    "--web.config.file",
                    &path.display().to_string(),
                    format!(
                        "cannot be combined with the deprecated {flag}: move it into the web config file"
                    ),
                ));
            }
            let c = web_config::load(&path)?;
            let telemetry_auth = (!c.basic_users.is_empty()).then(|| TelemetryAuth {
                basic: c.basic_users,
                bearer_sha256: Vec::new(),
                landing_page: true,
            });
            return Ok(WebSettings {
                telemetry_auth,
                tls: c.tls,
                headers: c.headers,
                web_config_file: Some(path),
            });
        }
        let user = args.basic_auth_user.clone().or(file.basic_auth_user.clone());
        let hash = args.basic_auth_password_hash.clone().or(file.basic_auth_password_hash.clone());
        let basic = match (user, hash) {
            (None, None) => Vec::new(),
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
                vec![(user, hash)]
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
        let telemetry_auth = (!basic.is_empty() || !bearer_sha256.is_empty()).then_some(TelemetryAuth {
            basic,
            bearer_sha256,
            landing_page: false,
        });
        let cert = args.tls_cert_file.clone().or(file.tls_cert_file.clone());
        let key = args.tls_key_file.clone().or(file.tls_key_file.clone());
        let tls = match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_auth: ClientAuth::NoClientCert,
                tls13_only: false,
                http2: true,
            }),
            (Some(_), None) => {
                return Err(ConfigError::Missing("--web.tls-key-file (with --web.tls-cert-file)"))
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing("--web.tls-cert-file (with --web.tls-key-file)"))
            }
        };
        Ok(WebSettings { telemetry_auth, tls, headers: Vec::new(), web_config_file: None })
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

    #[test]
    fn a_web_config_file_excludes_the_deprecated_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&path, format!("basic_auth_users:\n  prometheus: {hash}\n")).unwrap();
        let a = WebArgs { config_file: Some(path.clone()), ..WebArgs::default() };
        let s = WebSettings::resolve(&a, None).unwrap();
        let auth = s.telemetry_auth.unwrap();
        assert_eq!(auth.basic, [("prometheus".to_string(), PasswordHash::Bcrypt(hash))]);
        assert!(auth.landing_page && s.tls.is_none());
        let a = WebArgs {
            config_file: Some(path.clone()),
            tls_cert_file: Some("c.pem".into()),
            ..WebArgs::default()
        };
        let e = WebSettings::resolve(&a, None).unwrap_err().to_string();
        assert!(e.contains("--web.config.file") && e.contains("--web.tls-cert-file"), "{e}");
        // The [web] section's config_file, combined with a deprecated flag from the environment.
        let file = WebFileConfig { config_file: Some(path), ..WebFileConfig::default() };
        let a = WebArgs { basic_auth_user: Some("prom".into()), ..WebArgs::default() };
        let e = WebSettings::resolve(&a, Some(&file)).unwrap_err().to_string();
        assert!(e.contains("--web.basic-auth-user"), "{e}");
    }
}
