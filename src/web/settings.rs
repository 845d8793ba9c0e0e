//! What the web settings resolve to, from the deprecated flags (`config.rs`) or from an
//! exporter-toolkit web config file (`web_config.rs`): the types both produce and the serving
//! code (`tls.rs`, `telemetry_auth.rs`) reads.

use std::path::PathBuf;

use axum::http::{HeaderName, HeaderValue};

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

/// Credentials required on the telemetry path (and, from a web config file, the landing page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryAuth {
    /// Users and their password hashes.
    pub basic: Vec<(String, PasswordHash)>,
    pub bearer_sha256: Vec<[u8; 32]>,
    /// Also protect the landing page `/` (web config files; the deprecated flags did not).
    pub landing_page: bool,
}

/// TLS serving: the certificate and key are re-read when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_auth: ClientAuth,
    /// `min_version: TLS13`; otherwise TLS 1.2 and 1.3.
    pub tls13_only: bool,
    /// Offer HTTP/2 through ALPN (`http_server_config.http2`, default true).
    pub http2: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSettings {
    /// None: the telemetry path is open.
    pub telemetry_auth: Option<TelemetryAuth>,
    pub tls: Option<TlsFiles>,
    /// Added to every response (`http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Where the settings came from, for the start-up log.
    pub web_config_file: Option<PathBuf>,
}

/// Whether the client must present a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    /// Verified against the CAs in this PEM file.
    RequireAndVerify(PathBuf),
}
