//! The error answer of the authenticated endpoints (reprocessing API and lifecycle ingestion):
//! `{"error": {"code": "...", "message": "..."}}` with a fitting status, and the headers every
//! answer of theirs carries.
//!
//! Messages say what the caller can fix (which limit and its value, which field); they never echo
//! credentials and never tell which part of a credential check failed.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// The same answer for a missing, malformed, unknown, expired or mis-addressed credential.
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or invalid credentials")
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this operation requires the global admin role")
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the log store failed; nothing was changed, the request may be retried",
        )
    }

    pub fn json(&self) -> String {
        serde_json::to_string(&Envelope { error: Body { code: self.code, message: &self.message } })
            .expect("an error envelope serializes")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, [(header::CONTENT_TYPE, "application/json")], self.json()).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"webhook-health-exporter\""),
            );
        }
        response
    }
}

/// Answers carry event data and request results: no cache may keep them, and no browser may
/// sniff them into something other than the declared JSON.
pub async fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_an_envelope() {
        let e = ApiError::unprocessable("batch_too_large", "at most 1000");
        let v: serde_json::Value = serde_json::from_str(&e.json()).unwrap();
        assert_eq!(v["error"]["code"], "batch_too_large");
        assert_eq!(v["error"]["message"], "at most 1000");
    }
}
