//! Optional credentials on the telemetry path; everything else keeps its own rules (the API its
//! bearer authentication, health and landing pages open).

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use subtle::ConstantTimeEq;

use super::config::{PasswordHash, TelemetryAuth};
use crate::credentials::{self, sha256};

#[derive(Clone)]
struct Guard {
    path: String,
    auth: Arc<TelemetryAuth>,
    /// sha256 of the last `user:password` that bcrypt accepted: bcrypt is slow on purpose, and a
    /// scraper sends the same credentials every few seconds.
    verified: Arc<Mutex<Option<[u8; 32]>>>,
}

/// Requires `auth` on requests to `telemetry_path`.
pub fn protect(app: Router, telemetry_path: &str, auth: Option<TelemetryAuth>) -> Router {
    let Some(auth) = auth else { return app };
    let guard = Guard { path: telemetry_path.to_string(), auth: Arc::new(auth), verified: Arc::default() };
    app.layer(middleware::from_fn_with_state(guard, check))
}

async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    if request.uri().path() != guard.path || allowed(&guard, request.headers()).await {
        return next.run(request).await;
    }
    let mut response = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
    let challenge = if guard.auth.basic.is_some() {
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
    let Some((user, hash)) = &guard.auth.basic else { return false };
    let Some(decoded) = base64::engine::general_purpose::STANDARD.decode(credential).ok() else {
        return false;
    };
    let Some((given_user, password)) = std::str::from_utf8(&decoded).ok().and_then(|s| s.split_once(':'))
    else {
        return false;
    };
    let user_ok = bool::from(sha256(given_user.as_bytes()).ct_eq(&sha256(user.as_bytes())));
    let password_ok = match hash {
        PasswordHash::Sha256(want) => bool::from(sha256(password.as_bytes()).ct_eq(want)),
        PasswordHash::Bcrypt(want) => {
            let whole = sha256(&decoded);
            let cached = *guard.verified.lock().unwrap();
            if cached.is_some_and(|c| bool::from(c.ct_eq(&whole))) {
                true
            } else {
                let (password, want) = (password.to_string(), want.clone());
                let ok =
                    tokio::task::spawn_blocking(move || bcrypt::verify(password, &want).unwrap_or(false))
                        .await
                        .unwrap_or(false);
                if ok && user_ok {
                    *guard.verified.lock().unwrap() = Some(whole);
                }
                ok
            }
        }
    };
    user_ok && password_ok
}
