//! Reading a JSON request body within the configured limits, with JSON error answers (axum's own
//! extractors answer in plain text).

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::access::ApiError;

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body exceeds the limit of {limit} bytes (--api.max-body-bytes)"),
    )
}

/// Checks the content type and reads at most `limit` bytes.
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON with Content-Type: application/json",
        ));
    }
    // A declared length over the limit is refused before anything is read.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|_| too_large(limit))
}

/// Parses a JSON object: 400 when it is not JSON at all, 422 when it is JSON of the wrong shape.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the request body is not valid JSON: {e}"))
    })?;
    // serde would also fill a struct from an array, positionally; the API takes objects only.
    if !value.is_object() {
        return Err(ApiError::unprocessable("invalid_request", "the request body must be a JSON object"));
    }
    // From the bytes, not the parsed value: a value keeps only the last of two equal keys, so
    // `{"dry_run": true, "dry_run": false}` would run for real; the typed parse refuses it.
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::unprocessable("invalid_request", format!("the request body is invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        dry_run: bool,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        since: String,
    }

    #[test]
    fn a_key_given_twice_is_refused_at_any_depth() {
        let err = parse::<Body>(br#"{"dry_run": true, "dry_run": false}"#).unwrap_err();
        assert!(format!("{err:?}").contains("duplicate field `dry_run`"), "{err:?}");
        let err = parse::<Body>(br#"{"dry_run": true, "inner": {"since": "a", "since": "b"}}"#).unwrap_err();
        assert!(format!("{err:?}").contains("duplicate field `since`"), "{err:?}");
        assert!(parse::<Body>(br#"{"dry_run": true, "inner": {"since": "a"}}"#).is_ok());
        assert!(parse::<Body>(br#"[true, null]"#).is_err(), "arrays are not objects");
    }
}
