//! Optional credentials on the telemetry path (and, with a web config file, the landing page);
//! everything else keeps its own rules: the API and /admin their bearer authentication (basic auth
//! there would take the Authorization header their tokens need), /healthz and /readyz open for
//! probes. Also the configured response headers, on every response.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use subtle::ConstantTimeEq;

use super::settings::{PasswordHash, TelemetryAuth};
use crate::credentials::{self, sha256};

#[derive(Clone)]
struct Guard {
    path: String,
    auth: Arc<TelemetryAuth>,
    /// sha256 of the last `user:password` per user that bcrypt accepted: bcrypt is slow on
    /// purpose, and a scraper sends the same credentials every few seconds.
    verified: Arc<Mutex<Vec<[u8; 32]>>>,
}

/// Requires `auth` on requests to `telemetry_path` (and `/` when `auth.landing_page`), and adds
/// `headers` to every response.
pub fn protect(
    app: Router,
    telemetry_path: &str,
    auth: Option<TelemetryAuth>,
    headers: Vec<(HeaderName, HeaderValue)>,
) -> Router {
    let app = match auth {
        None => app,
        Some(auth) => {
            let guard =
                Guard { path: telemetry_path.to_string(), auth: Arc::new(auth), verified: Arc::default() };
            app.layer(middleware::from_fn_with_state(guard, check))
        }
    };
    if headers.is_empty() {
        return app;
    }
    app.layer(middleware::from_fn_with_state(Arc::new(headers), add_headers))
}

async fn add_headers(
    State(headers): State<Arc<Vec<(HeaderName, HeaderValue)>>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    for (name, value) in headers.iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let protected = path == guard.path || (guard.auth.landing_page && path == "/");
    if !protected || allowed(&guard, request.headers()).await {
        return next.run(request).await;
    }
    let mut response = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
    let challenge = if !guard.auth.basic.is_empty() {
        "Basic realm=\"webhook-health-exporter\""
    } else {
        "Bearer realm=\"webhook-health-exporter\""
    };
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

async fn allowed(guard: &Guard, headers: &HeaderMap) -> bool {
    let Some((scheme, credential)) = credentials::authorization(headers) else { return false };
    if scheme.eq_ignore_ascii_case("bearer") {
        let digest = sha256(credential.as_bytes());
        return guard.auth.bearer_sha256.iter().fold(false, |ok, h| ok | bool::from(h.ct_eq(&digest)));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    if guard.auth.basic.is_empty() {
        return false;
    }
    let Some(decoded) = base64::engine::general_purpose::STANDARD.decode(credential).ok() else {
        return false;
    };
    let Some((given_user, password)) = std::str::from_utf8(&decoded).ok().and_then(|s| s.split_once(':'))
    else {
        return false;
    };
    // Every configured user is compared, so that the time taken does not tell which exist.
    let given = sha256(given_user.as_bytes());
    let mut found = None;
    for (user, hash) in &guard.auth.basic {
        if bool::from(given.ct_eq(&sha256(user.as_bytes()))) {
            found = Some(hash);
        }
    }
    let user_ok = found.is_some();
    let Some(hash) = found.or(guard.auth.basic.first().map(|(_, h)| h)) else { return false };
    let password_ok = match hash {
        PasswordHash::Sha256(want) => bool::from(sha256(password.as_bytes()).ct_eq(want)),
        PasswordHash::Bcrypt(want) => {
            let whole = sha256(&decoded);
            let cached =
                guard.verified.lock().unwrap().iter().fold(false, |hit, c| hit | bool::from(c.ct_eq(&whole)));
            if cached {
                true
            } else {
                let (password, want) = (password.to_string(), want.clone());
                let ok =
                    tokio::task::spawn_blocking(move || bcrypt::verify(password, &want).unwrap_or(false))
                        .await
                        .unwrap_or(false);
                if ok && user_ok {
                    let mut verified = guard.verified.lock().unwrap();
                    if verified.len() >= guard.auth.basic.len() {
                        verified.remove(0);
                    }
                    verified.push(whole);
                }
                ok
            }
        }
    };
    user_ok && password_ok
}
