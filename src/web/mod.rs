//! Serving: plain HTTP or TLS, and the optional protection of the telemetry path.

mod config;
mod settings;
mod telemetry_auth;
mod tls;
mod web_config;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

pub use config::{WebArgs, WebFileConfig};
pub use settings::{ClientAuth, PasswordHash, TelemetryAuth, TlsFiles, WebSettings};
pub use telemetry_auth::protect;

/// How long in-flight requests may finish after a shutdown signal when serving TLS.
const TLS_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown`, over TLS when configured; handlers see the
/// peer address (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    web: &WebSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(
        tls = web.tls.is_some(),
        client_cert = web.tls.as_ref().is_some_and(|t| t.client_auth != ClientAuth::NoClientCert),
        telemetry_auth = match &web.telemetry_auth {
            None => "none (open)",
            Some(a) if !a.basic.is_empty() && !a.bearer_sha256.is_empty() => "basic or bearer",
            Some(a) if !a.basic.is_empty() => "basic",
            Some(_) => "bearer",
        },
        web_config_file = web.web_config_file.as_ref().map(|p| p.display().to_string()),
        "web security"
    );
    if web.web_config_file.is_none() && (web.tls.is_some() || web.telemetry_auth.is_some()) {
        tracing::warn!(
            "--web.basic-auth-*, --web.bearer-token-sha256 and --web.tls-* are deprecated: \
             use --web.config.file (exporter-toolkit's web configuration)"
        );
    }
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let Some(tls) = &web.tls else {
        axum::serve(listener, service).with_graceful_shutdown(shutdown).await?;
        return Ok(());
    };
    // Only ring is compiled in; installing it explicitly keeps that choice independent of what
    // other crates enable.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let setting = if web.web_config_file.is_some() {
        "--web.config.file's tls_server_config"
    } else {
        "--web.tls-cert-file and --web.tls-key-file"
    };
    let config = tls::server_config(tls).with_context(|| format!("loading {setting}"))?;
    let config = axum_server::tls_rustls::RustlsConfig::from_config(std::sync::Arc::new(config));
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_signal.graceful_shutdown(Some(TLS_GRACE));
    });
    axum_server::from_tcp_rustls(listener.into_std()?, config).handle(handle).serve(service).await?;
    Ok(())
}
