//! Settings of the reprocessing API: flags (`--api.*`, env `WHE_API_*`) and the `[api]` section of
//! the config file. Tokens are configured only as sha256 hashes; secrets only through files or the
//! environment, never as plaintext in the config file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::Args;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use crate::parse::{invalid, ConfigError};

pub use crate::access::jwt::{JwtKeys, JwtSettings};
pub use crate::access::tokens::TokenEntry;
use crate::access::tokens::{parse_token_flag, read_token_file, refuse_repeated_hashes, token_entry};

pub const DEFAULT_ROLE_CLAIM: &str = "role";
pub const DEFAULT_ADMIN_ROLE: &str = "global_admin";
pub const DEFAULT_MAX_BATCH: usize = 1000;
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
pub const DEFAULT_PAGE_SIZE: i64 = 100;
pub const DEFAULT_MAX_PAGE_SIZE: i64 = 500;

/// A secret given on the command line or in the environment; never printed.
#[derive(Clone, Default)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Flags of the reprocessing API, flattened into `serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ApiArgs {
    /// An API token, as the sha256 hex of the token (make one with `hash-token`): HEX,
    /// PRINCIPAL:HEX or PRINCIPAL:ROLE:HEX (repeatable; role defaults to the admin role)
    #[arg(long = "api.token-sha256", env = "WHE_API_TOKEN_SHA256", value_delimiter = ',')]
    pub token_sha256: Vec<String>,
    /// A file of API token hashes (a Docker or Kubernetes secret): one HEX, PRINCIPAL:HEX or
    /// PRINCIPAL:ROLE:HEX per line; blank lines and lines starting with # are ignored
    #[arg(long = "api.token-sha256-file", env = "WHE_API_TOKEN_SHA256_FILE")]
    pub token_sha256_file: Option<PathBuf>,
    /// File holding the HS256 secret shared with the admin portal's identity provider
    #[arg(long = "api.jwt-hs256-secret-file", env = "WHE_API_JWT_HS256_SECRET_FILE")]
    pub jwt_hs256_secret_file: Option<PathBuf>,
    /// The HS256 secret itself; prefer the environment variable to the flag
    #[arg(long = "api.jwt-hs256-secret", env = "WHE_API_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<Secret>,
    /// PEM file with the identity provider's RS256 public key
    #[arg(long = "api.jwt-rs256-public-key-file", env = "WHE_API_JWT_RS256_PUBLIC_KEY_FILE")]
    pub jwt_rs256_public_key_file: Option<PathBuf>,
    /// JWKS file with the identity provider's RS256 keys (selected by `kid`)
    #[arg(long = "api.jwt-jwks-file", env = "WHE_API_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,
    /// Required `iss` of JWTs (required when a JWT key is configured)
    #[arg(long = "api.jwt-issuer", env = "WHE_API_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of JWTs (required when a JWT key is configured)
    #[arg(long = "api.jwt-audience", env = "WHE_API_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// JWT claim holding the caller's role; dots reach into objects (e.g. app_metadata.role) [default: role]
    #[arg(long = "api.jwt-role-claim", env = "WHE_API_JWT_ROLE_CLAIM")]
    pub jwt_role_claim: Option<String>,
    /// Role value that may list and reprocess events [default: global_admin]
    #[arg(long = "api.admin-role", env = "WHE_API_ADMIN_ROLE")]
    pub admin_role: Option<String>,
    /// Most events one reprocess request may select [default: 1000]
    #[arg(long = "api.max-batch", env = "WHE_API_MAX_BATCH")]
    pub max_batch: Option<usize>,
    /// Largest accepted request body in bytes [default: 262144]
    #[arg(long = "api.max-body-bytes", env = "WHE_API_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest page of GET /api/v1/events [default: 500]
    #[arg(long = "api.max-page-size", env = "WHE_API_MAX_PAGE_SIZE")]
    pub max_page_size: Option<i64>,
}

/// One token of the `[api]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileToken {
    pub principal: String,
    pub role: Option<String>,
    pub sha256: String,
}

/// The `[api]` section of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFileConfig {
    #[serde(default)]
    pub tokens: Vec<FileToken>,
    /// Like `--api.token-sha256-file`.
    pub token_sha256_file: Option<PathBuf>,
    pub jwt_hs256_secret_file: Option<PathBuf>,
    pub jwt_rs256_public_key_file: Option<PathBuf>,
    pub jwt_jwks_file: Option<PathBuf>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub jwt_role_claim: Option<String>,
    pub admin_role: Option<String>,
    pub max_batch: Option<usize>,
    pub max_body_bytes: Option<usize>,
    pub max_page_size: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_batch: usize,
    pub max_body_bytes: usize,
    pub default_page_size: i64,
    pub max_page_size: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch: DEFAULT_MAX_BATCH,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            default_page_size: DEFAULT_PAGE_SIZE,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
        }
    }
}

/// Resolved API settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub tokens: Vec<TokenEntry>,
    pub jwt: Option<JwtSettings>,
    pub role_claim: String,
    pub admin_role: String,
    pub limits: Limits,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            tokens: Vec::new(),
            jwt: None,
            role_claim: DEFAULT_ROLE_CLAIM.into(),
            admin_role: DEFAULT_ADMIN_ROLE.into(),
            limits: Limits::default(),
        }
    }
}

impl ApiSettings {
    /// The API answers only when someone can authenticate.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty() || self.jwt.is_some()
    }

    pub fn resolve(args: &ApiArgs, file: Option<&ApiFileConfig>) -> Result<ApiSettings, ConfigError> {
        let empty = ApiFileConfig::default();
        let file = file.unwrap_or(&empty);
        let admin_role =
            args.admin_role.clone().or(file.admin_role.clone()).unwrap_or(DEFAULT_ADMIN_ROLE.into());
        if admin_role.trim().is_empty() {
            return Err(invalid("--api.admin-role", &admin_role, "must not be empty"));
        }
        let role_claim =
            args.jwt_role_claim.clone().or(file.jwt_role_claim.clone()).unwrap_or(DEFAULT_ROLE_CLAIM.into());
        if role_claim.split('.').any(str::is_empty) {
            return Err(invalid(
                "--api.jwt-role-claim",
                &role_claim,
                "must be a claim name or a dotted path",
            ));
        }

        let mut tokens = Vec::new();
        for text in &args.token_sha256 {
            tokens.push(parse_token_flag(TOKEN_FLAG, text, &admin_role)?);
        }
        if let Some(path) = args.token_sha256_file.as_ref().or(file.token_sha256_file.as_ref()) {
            tokens.extend(read_token_file(TOKEN_FILE_FLAG, path, &admin_role)?);
        }
        for t in &file.tokens {
            let role = t.role.clone().unwrap_or_else(|| admin_role.clone());
            tokens.push(token_entry(&t.principal, &role, &t.sha256, "[api] tokens")?);
        }
        refuse_repeated_hashes(TOKEN_FLAG, &tokens)?;

        let jwt = resolve_jwt(args, file)?;
        let limits = Limits {
            max_batch: args.max_batch.or(file.max_batch).unwrap_or(DEFAULT_MAX_BATCH),
            max_body_bytes: args.max_body_bytes.or(file.max_body_bytes).unwrap_or(DEFAULT_MAX_BODY_BYTES),
            default_page_size: DEFAULT_PAGE_SIZE,
            max_page_size: args.max_page_size.or(file.max_page_size).unwrap_or(DEFAULT_MAX_PAGE_SIZE),
        };
        if !(1..=100_000).contains(&limits.max_batch) {
            return Err(invalid(
                "--api.max-batch",
                &limits.max_batch.to_string(),
                "must be between 1 and 100000",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&limits.max_body_bytes) {
            return Err(invalid(
                "--api.max-body-bytes",
                &limits.max_body_bytes.to_string(),
                "must be between 1024 and 67108864",
            ));
        }
        if !(1..=10_000).contains(&limits.max_page_size) {
            return Err(invalid(
                "--api.max-page-size",
                &limits.max_page_size.to_string(),
                "must be between 1 and 10000",
            ));
        }
        let limits =
            Limits { default_page_size: limits.default_page_size.min(limits.max_page_size), ..limits };
        Ok(ApiSettings { tokens, jwt, role_claim, admin_role, limits })
    }
}

const TOKEN_FLAG: &str = "--api.token-sha256";
const TOKEN_FILE_FLAG: &str = "--api.token-sha256-file";

fn read_file(setting: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| invalid(setting, &path.display().to_string(), e))
}

fn resolve_jwt(args: &ApiArgs, file: &ApiFileConfig) -> Result<Option<JwtSettings>, ConfigError> {
    let mut keys = JwtKeys::default();
    let secret_file = args.jwt_hs256_secret_file.clone().or(file.jwt_hs256_secret_file.clone());
    let secret = match (&args.jwt_hs256_secret, &secret_file) {
        (Some(s), _) => Some(s.0.clone().into_bytes()),
        (None, Some(path)) => {
            let mut bytes = read_file("--api.jwt-hs256-secret-file", path)?;
            // Files written with `echo` end in a newline that is not part of the secret.
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            Some(bytes)
        }
        (None, None) => None,
    };
    if let Some(secret) = secret {
        if secret.len() < 32 {
            return Err(invalid("--api.jwt-hs256-secret", "(hidden)", "must be at least 32 bytes"));
        }
        keys.hs256 = Some(DecodingKey::from_secret(&secret));
    }
    if let Some(path) = args.jwt_rs256_public_key_file.clone().or(file.jwt_rs256_public_key_file.clone()) {
        let pem = read_file("--api.jwt-rs256-public-key-file", &path)?;
        let key = DecodingKey::from_rsa_pem(&pem)
            .map_err(|e| invalid("--api.jwt-rs256-public-key-file", &path.display().to_string(), e))?;
        keys.rs256 = Some(key);
    }
    if let Some(path) = args.jwt_jwks_file.clone().or(file.jwt_jwks_file.clone()) {
        let text = read_file("--api.jwt-jwks-file", &path)?;
        let set: JwkSet = serde_json::from_slice(&text)
            .map_err(|e| invalid("--api.jwt-jwks-file", &path.display().to_string(), e))?;
        if set.keys.is_empty() {
            return Err(invalid("--api.jwt-jwks-file", &path.display().to_string(), "holds no keys"));
        }
        keys.jwks = Some(set);
    }
    if keys.hs256.is_none() && keys.rs256.is_none() && keys.jwks.is_none() {
        return Ok(None);
    }
    let issuer = args
        .jwt_issuer
        .clone()
        .or(file.jwt_issuer.clone())
        .ok_or(ConfigError::Missing("--api.jwt-issuer (required with a JWT key)"))?;
    let audience = args
        .jwt_audience
        .clone()
        .or(file.jwt_audience.clone())
        .ok_or(ConfigError::Missing("--api.jwt-audience (required with a JWT key)"))?;
    Ok(Some(JwtSettings { keys, issuer, audience }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn token_flags_take_three_shapes() {
        let a = ApiArgs {
            token_sha256: vec![
                HASH.into(),
                format!("ops:{}", &HASH.replace('9', "8")),
                format!("ro:viewer:{}", &HASH.replace('9', "7")),
            ],
            ..ApiArgs::default()
        };
        let s = ApiSettings::resolve(&a, None).unwrap();
        assert_eq!(s.tokens[0].principal, "token-9f86d081");
        assert_eq!(s.tokens[0].role, "global_admin");
        assert_eq!(s.tokens[1].principal, "ops");
        assert_eq!(s.tokens[2].role, "viewer");
        assert!(s.enabled());
        assert!(!format!("{s:?}").contains(HASH), "hashes stay out of Debug output");
    }

    #[test]
    fn a_pasted_token_is_refused_without_echoing_it() {
        let a = ApiArgs { token_sha256: vec!["ops:my-secret-token".into()], ..ApiArgs::default() };
        let e = ApiSettings::resolve(&a, None).unwrap_err().to_string();
        assert!(e.contains("--api.token-sha256") && !e.contains("my-secret-token"), "{e}");
    }

    #[test]
    fn jwt_needs_issuer_and_audience() {
        let a = ApiArgs { jwt_hs256_secret: Some(Secret("x".repeat(32))), ..ApiArgs::default() };
        let e = ApiSettings::resolve(&a, None).unwrap_err().to_string();
        assert!(e.contains("--api.jwt-issuer"), "{e}");
    }

    #[test]
    fn the_config_file_takes_an_api_section() {
        // The body of the file's `[api]` table (config.rs nests it under that key).
        let text = format!(
            "max_batch = 50\n\
             tokens = [{{ principal = \"ops\", sha256 = \"{HASH}\" }}, \
             {{ principal = \"ro\", role = \"viewer\", sha256 = \"{}\" }}]\n",
            HASH.replace('9', "8")
        );
        let file: ApiFileConfig = toml::from_str(&text).unwrap();
        let s = ApiSettings::resolve(&ApiArgs::default(), Some(&file)).unwrap();
        assert_eq!(s.limits.max_batch, 50);
        assert_eq!((s.tokens[0].role.as_str(), s.tokens[1].role.as_str()), ("global_admin", "viewer"));
        let bad: Result<ApiFileConfig, _> = toml::from_str("token = \"plaintext\"\n");
        assert!(bad.unwrap_err().to_string().contains("unknown field"));
    }

    #[test]
    fn token_hashes_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let text = format!(
            "# API tokens\n\n{HASH}\n  ops:{}  \n# ro:viewer:old\nro:viewer:{}\r\n",
            HASH.replace('9', "8"),
            HASH.replace('9', "7")
        );
        std::fs::write(&path, text).unwrap();
        let a = ApiArgs {
            token_sha256: vec![format!("cli:{}", HASH.replace('9', "6"))],
            token_sha256_file: Some(path.clone()),
            ..ApiArgs::default()
        };
        let s = ApiSettings::resolve(&a, None).unwrap();
        let got: Vec<(&str, &str)> =
            s.tokens.iter().map(|t| (t.principal.as_str(), t.role.as_str())).collect();
        assert_eq!(
            got,
            [
                ("cli", "global_admin"),
                ("token-9f86d081", "global_admin"),
                ("ops", "global_admin"),
                ("ro", "viewer")
            ]
        );

        // The config file's key names the same kind of file.
        let file = ApiFileConfig { token_sha256_file: Some(path.clone()), ..ApiFileConfig::default() };
        assert_eq!(ApiSettings::resolve(&ApiArgs::default(), Some(&file)).unwrap().tokens.len(), 3);

        // A pasted token: refused by line number, never echoed.
        std::fs::write(&path, format!("{HASH}\nops:my-secret-token\n")).unwrap();
        let a = ApiArgs { token_sha256_file: Some(path.clone()), ..ApiArgs::default() };
        let e = ApiSettings::resolve(&a, None).unwrap_err().to_string();
        assert!(e.contains("--api.token-sha256-file") && e.contains("line 2"), "{e}");
        assert!(!e.contains("my-secret-token"), "{e}");

        // Only comments, or no file at all.
        std::fs::write(&path, "# nothing yet\n\n").unwrap();
        let e = ApiSettings::resolve(&a, None).unwrap_err().to_string();
        assert!(e.contains("holds no token hashes"), "{e}");
        let a = ApiArgs { token_sha256_file: Some(dir.path().join("missing")), ..ApiArgs::default() };
        let e = ApiSettings::resolve(&a, None).unwrap_err().to_string();
        assert!(e.contains("--api.token-sha256-file") && e.contains("cannot read it"), "{e}");

        // The same hash in the file and on the command line is still refused.
        std::fs::write(&path, format!("ops:{HASH}\n")).unwrap();
        let a =
            ApiArgs { token_sha256: vec![HASH.into()], token_sha256_file: Some(path), ..ApiArgs::default() };
        assert!(ApiSettings::resolve(&a, None).unwrap_err().to_string().contains("configured twice"));
    }

    #[test]
    fn disabled_without_credentials() {
        assert!(!ApiSettings::resolve(&ApiArgs::default(), None).unwrap().enabled());
    }
}
