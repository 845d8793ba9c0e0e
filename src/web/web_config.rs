//! `--web.config.file`: the YAML web configuration of Prometheus' exporter-toolkit
//! (docs/web-configuration.md there), so that operators' existing files work unchanged.
//!
//! Supported: `tls_server_config` (`cert_file`, `key_file`, `client_auth_type` NoClientCert or
//! RequireAndVerifyClientCert, `client_ca_file`, `min_version` TLS12 or TLS13),
//! `http_server_config` (`headers`, `http2`) and `basic_auth_users` (bcrypt hashes only).
//! Keys exporter-toolkit knows but this exporter does not implement are refused by name, and so
//! is any unknown key: a typo must not silently weaken the setup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::settings::{ClientAuth, PasswordHash, TlsFiles};
use crate::parse::{invalid, ConfigError};

const SETTING: &str = "--web.config.file";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigYaml {
    tls_server_config: Option<TlsServerConfig>,
    http_server_config: Option<HttpServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    // exporter-toolkit's, not implemented here: refused by name below.
    cert: Option<serde_norway::Value>,
    key: Option<serde_norway::Value>,
    client_ca: Option<serde_norway::Value>,
    client_allowed_sans: Option<serde_norway::Value>,
    max_version: Option<serde_norway::Value>,
    cipher_suites: Option<serde_norway::Value>,
    prefer_server_cipher_suites: Option<serde_norway::Value>,
    curve_preferences: Option<serde_norway::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServerConfig {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// What a web config file asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebConfig {
    pub tls: Option<TlsFiles>,
    pub basic_users: Vec<(String, PasswordHash)>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The response headers exporter-toolkit lets a web config set, with the values it allows
/// (None: any).
const HEADERS: [(&str, Option<&[&str]>); 5] = [
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

fn bad(value: &str, reason: impl ToString) -> ConfigError {
    invalid(SETTING, value, reason)
}

/// Reads and checks `path`; relative file names in it are relative to its folder, as in
/// exporter-toolkit.
pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(&path.display().to_string(), format!("cannot read it: {e}")))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, dir).map_err(|e| match e {
        ConfigError::Invalid { setting, value, reason } if value.is_empty() => {
            ConfigError::Invalid { setting, value: path.display().to_string(), reason }
        }
        other => other,
    })
}

/// Parses a web config; file names are taken relative to `dir`. Errors carry an empty value
/// that `load` fills with the file name.
pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, ConfigError> {
    // An empty file is a valid, empty configuration (as in exporter-toolkit).
    let yaml: WebConfigYaml = if text.trim().is_empty() {
        WebConfigYaml::default()
    } else {
        serde_norway::from_str(text).map_err(|e| bad("", e))?
    };
    let tls = match yaml.tls_server_config {
        None => None,
        Some(t) => Some(tls(t, dir)?),
    };
    let mut basic_users = Vec::new();
    for (user, hash) in yaml.basic_auth_users {
        if user.is_empty() || user.contains(':') {
            return Err(bad(
                "",
                format!("basic_auth_users: user {user:?} must be non-empty and without ':'"),
            ));
        }
        hash.parse::<bcrypt::HashParts>().map_err(|e| {
            bad("", format!("basic_auth_users: the password of {user:?} is not a bcrypt hash: {e}"))
        })?;
        basic_users.push((user, PasswordHash::Bcrypt(hash)));
    }
    let mut headers = Vec::new();
    let mut http2 = true;
    if let Some(http) = yaml.http_server_config {
        http2 = http.http2.unwrap_or(true);
        for (name, value) in http.headers {
            let Some((canonical, allowed)) = HEADERS.iter().find(|(h, _)| h.eq_ignore_ascii_case(&name))
            else {
                return Err(bad(
                    "",
                    format!(
                        "http_server_config.headers: header {name:?} cannot be set (only {})",
                        HEADERS.map(|h| h.0).join(", ")
                    ),
                ));
            };
            if let Some(allowed) = allowed {
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&value)) {
                    return Err(bad(
                        "",
                        format!(
                            "http_server_config.headers: {canonical}: {value:?} is not one of {allowed:?}"
                        ),
                    ));
                }
            }
            let value = HeaderValue::from_str(&value).map_err(|_| {
                bad("", format!("http_server_config.headers: {canonical}: not a header value"))
            })?;
            headers.push((HeaderName::from_static(lowercase(canonical)), value));
        }
    }
    let tls = tls.map(|t| TlsFiles { http2, ..t });
    Ok(WebConfig { tls, basic_users, headers })
}

fn lowercase(canonical: &str) -> &'static str {
    match canonical {
        "Strict-Transport-Security" => "strict-transport-security",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-Frame-Options" => "x-frame-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "content-security-policy",
    }
}

fn tls(t: TlsServerConfig, dir: &Path) -> Result<TlsFiles, ConfigError> {
    let unsupported = [
        ("cert", t.cert.is_some()),
        ("key", t.key.is_some()),
        ("client_ca", t.client_ca.is_some()),
        ("client_allowed_sans", t.client_allowed_sans.is_some()),
        ("max_version", t.max_version.is_some()),
        ("cipher_suites", t.cipher_suites.is_some()),
        ("prefer_server_cipher_suites", t.prefer_server_cipher_suites.is_some()),
        ("curve_preferences", t.curve_preferences.is_some()),
    ];
    if let Some((key, _)) = unsupported.iter().find(|(_, given)| *given) {
        return Err(bad(
            "",
            format!("tls_server_config.{key} is not supported by this exporter (use cert_file, key_file, client_ca_file)"),
        ));
    }
    let at = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
    let (cert, key) = match (t.cert_file, t.key_file) {
        (Some(c), Some(k)) => (at(c), at(k)),
        (None, _) => return Err(bad("", "tls_server_config.cert_file is required")),
        (_, None) => return Err(bad("", "tls_server_config.key_file is required")),
    };
    let client_auth = match t.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "NoClientCert" => {
            if t.client_ca_file.is_some() {
                return Err(bad(
                    "",
                    "tls_server_config.client_ca_file needs client_auth_type RequireAndVerifyClientCert",
                ));
            }
            ClientAuth::NoClientCert
        }
        "RequireAndVerifyClientCert" => match t.client_ca_file {
            Some(ca) => ClientAuth::RequireAndVerify(at(ca)),
            None => {
                return Err(bad(
                    "",
                    "tls_server_config.client_auth_type RequireAndVerifyClientCert needs client_ca_file",
                ))
            }
        },
        other => {
            return Err(bad(
                "",
                format!(
                    "tls_server_config.client_auth_type {other:?} is not supported \
                     (NoClientCert or RequireAndVerifyClientCert)"
                ),
            ))
        }
    };
    let tls13_only = match t.min_version.as_deref().unwrap_or("TLS12") {
        "TLS12" => false,
        "TLS13" => true,
        other => {
            return Err(bad(
                "",
                format!("tls_server_config.min_version {other:?} is not supported (TLS12 or TLS13)"),
            ))
        }
    };
    Ok(TlsFiles { cert, key, client_auth, tls13_only, http2: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text, Path::new("/etc/whe")).unwrap_err().to_string()
    }

    #[test]
    fn every_supported_key() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let text = format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS13\n\
             http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    \
             Strict-Transport-Security: max-age=31536000\n\
             basic_auth_users:\n  prometheus: {hash}\n  alice: '{hash}'\n"
        );
        let c = parse(&text, Path::new("/etc/whe")).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert, Path::new("/etc/whe/server.crt"));
        assert_eq!(tls.key, Path::new("/abs/server.key"));
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerify("/etc/whe/ca.crt".into()));
        assert!(tls.tls13_only && !tls.http2);
        let users: Vec<_> = c.basic_users.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(users, ["alice", "prometheus"]);
        assert_eq!(c.basic_users[0].1, PasswordHash::Bcrypt(hash));
        let headers: Vec<_> = c.headers.iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap())).collect();
        assert_eq!(headers, [("strict-transport-security", "max-age=31536000"), ("x-frame-options", "deny")]);
    }

    #[test]
    fn defaults_and_an_empty_file() {
        assert_eq!(parse("", Path::new(".")).unwrap(), WebConfig::default());
        let c = parse("tls_server_config:\n  cert_file: c\n  key_file: k\n", Path::new("d")).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.client_auth, ClientAuth::NoClientCert);
        assert!(!tls.tls13_only && tls.http2);
        assert!(c.basic_users.is_empty());
    }

    #[test]
    fn typos_and_unsupported_values_are_refused_by_name() {
        let e = err("tls_server_config:\n  cert_fil: c\n  key_file: k\n");
        assert!(e.contains("--web.config.file") && e.contains("cert_fil"), "{e}");
        let e = err("basic_auth_user:\n  a: b\n");
        assert!(e.contains("basic_auth_user"), "{e}");
        let e = err(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAnyClientCert\n",
        );
        assert!(e.contains("RequireAnyClientCert"), "{e}");
        let e = err("tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n");
        assert!(e.contains("TLS10"), "{e}");
        let e = err(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
        );
        assert!(e.contains("cipher_suites") && e.contains("not supported"), "{e}");
        let e = err("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n");
        assert!(e.contains("client_ca_file"), "{e}");
        let e = err("tls_server_config:\n  key_file: k\n");
        assert!(e.contains("cert_file"), "{e}");
        let e = err("http_server_config:\n  headers:\n    Server: nginx\n");
        assert!(e.contains("\"Server\""), "{e}");
        let e = err("http_server_config:\n  headers:\n    X-Frame-Options: allow\n");
        assert!(e.contains("allow"), "{e}");
        // Unsalted hashes are not accepted here, and the hash is not echoed.
        let sha = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
        let e = err(&format!("basic_auth_users:\n  prometheus: {sha}\n"));
        assert!(e.contains("bcrypt") && e.contains("prometheus") && !e.contains(sha), "{e}");
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n").unwrap();
        assert_eq!(load(&path).unwrap().tls.unwrap().cert, dir.path().join("c.pem"));
        std::fs::write(&path, "basic_auth_users: 3\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("web.yml"), "{e}");
        let e = load(&dir.path().join("missing.yml")).unwrap_err().to_string();
        assert!(e.contains("missing.yml"), "{e}");
    }
}
