//! The rustls server configuration: the certificate and key re-read when their files change
//! (checked on each handshake by modification time and size, as exporter-toolkit re-reads them),
//! optional client certificates, the minimum TLS version.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{anyhow, Context};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use super::settings::{ClientAuth, TlsFiles};

/// What identifies one version of a file without reading it.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Serves the certificate in `cert` with the key in `key`, reloading both when either file's
/// modification time or size changed. A pair that fails to load (a half-written file, a key that
/// does not match) keeps the previous one in use, with a warning.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<(Stamp, Stamp, Arc<CertifiedKey>)>,
}

impl ReloadingCert {
    pub fn new(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> anyhow::Result<ReloadingCert> {
        let stamps = (stamp(cert), stamp(key));
        let loaded = load(cert, key, &provider)?;
        Ok(ReloadingCert {
            cert: cert.into(),
            key: key.into(),
            provider,
            current: Mutex::new((stamps.0, stamps.1, Arc::new(loaded))),
        })
    }

    /// The pair to serve now, reloaded first if a file changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut current = self.current.lock().unwrap();
        let stamps = (stamp(&self.cert), stamp(&self.key));
        if stamps != (current.0, current.1) {
            match load(&self.cert, &self.key, &self.provider) {
                Ok(loaded) => {
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    *current = (stamps.0, stamps.1, Arc::new(loaded));
                }
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "TLS certificate not reloaded, keeping the previous one"
                    );
                    // Retry only after the next change.
                    current.0 = stamps.0;
                    current.1 = stamps.1;
                }
            }
        }
        current.2.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("reading the certificate {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("no certificate in {}", cert.display());
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let certified = CertifiedKey::from_der(chain, key_der, provider)
        .with_context(|| format!("the key {} for the certificate {}", key.display(), cert.display()))?;
    Ok(certified)
}

/// The server configuration for `tls`; fails when a file cannot be loaded.
pub fn server_config(tls: &TlsFiles) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12, &rustls::version::TLS13]
    };
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let builder = match &tls.client_auth {
        ClientAuth::NoClientCert => builder.with_no_client_auth(),
        ClientAuth::RequireAndVerify(ca) => {
            let mut roots = RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(ca)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("reading client_ca_file {}", ca.display()))?;
            let (added, _) = roots.add_parsable_certificates(cas);
            if added == 0 {
                anyhow::bail!("no usable CA certificate in client_ca_file {}", ca.display());
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .with_context(|| format!("client_ca_file {}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let resolver = ReloadingCert::new(&tls.cert, &tls.key, provider)?;
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols =
        if tls.http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, c.cert.pem()).unwrap();
        std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
        (cert, key, c.cert.der().to_vec())
    }

    #[test]
    fn the_certificate_is_reloaded_when_the_files_change() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, first) = write_pair(dir.path(), "one.example");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let r = ReloadingCert::new(&cert, &key, provider).unwrap();
        assert_eq!(r.current().cert[0].as_ref(), first);
        assert_eq!(r.current().cert[0].as_ref(), first, "unchanged files: the same pair");
        // A broken file keeps the previous pair in use.
        std::fs::write(&cert, "not a certificate, and longer than before").unwrap();
        assert_eq!(r.current().cert[0].as_ref(), first);
        let (_, _, second) = write_pair(dir.path(), "two.example");
        assert_ne!(first, second);
        assert_eq!(r.current().cert[0].as_ref(), second);
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _, _) = write_pair(dir.path(), "x.example");
        let tls = TlsFiles {
            cert,
            key: dir.path().join("nope.key"),
            client_auth: ClientAuth::NoClientCert,
            tls13_only: false,
            http2: true,
        };
        let e = format!("{:#}", server_config(&tls).unwrap_err());
        assert!(e.contains("nope.key"), "{e}");
        let tls = TlsFiles { client_auth: ClientAuth::RequireAndVerify(dir.path().join("ca.pem")), ..tls };
        let e = format!("{:#}", server_config(&tls).unwrap_err());
        assert!(e.contains("ca.pem"), "{e}");
    }
}
