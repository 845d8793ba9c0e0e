//! Reading a batch: at most `max_body_bytes` as sent, gzip bodies decompressed to at most
//! `max_decompressed_bytes` (a gzip bomb is refused, not inflated), then JSON. Any content type
//! is taken: drains and event workers send JSON, and a bearer token cannot be forged by a form.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use super::config::IngestLimits;
use crate::access::ApiError;

fn too_large(what: &str, limit: usize, flag: &str) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body {what} exceeds the limit of {limit} bytes ({flag})"),
    )
}

/// The body as JSON, within the limits.
pub async fn read_json(headers: &HeaderMap, body: Body, limits: &IngestLimits) -> Result<Value, ApiError> {
    let bytes = read_limited(headers, body, limits.max_body_bytes).await?;
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim()) {
        None => bytes.starts_with(&[0x1f, 0x8b]),
        Some(e) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => true,
        Some(e) if e.is_empty() || e.eq_ignore_ascii_case("identity") => false,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_encoding",
                "Content-Encoding must be gzip or identity",
            ))
        }
    };
    let json = if gzip { gunzip(&bytes, limits.max_decompressed_bytes)? } else { bytes.to_vec() };
    serde_json::from_slice(&json).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the request body is not valid JSON: {e}"))
    })
}

async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let refuse = || too_large("as sent", limit, "--ingest.max-body-bytes");
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(refuse());
    }
    axum::body::to_bytes(body, limit).await.map_err(|_| refuse())
}

/// Inflates at most `limit` bytes (and one more, to tell "exactly the limit" from "over it").
fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(bytes).take(limit as u64 + 1);
    reader.read_to_end(&mut out).map_err(|e| {
        ApiError::bad_request("malformed_gzip", format!("the request body is not valid gzip: {e}"))
    })?;
    if out.len() > limit {
        return Err(too_large("once decompressed", limit, "--ingest.max-decompressed-bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_is_inflated_within_its_limit() {
        assert_eq!(gunzip(&gzip(b"[1,2]"), 5).unwrap(), b"[1,2]");
        let bomb = gzip(&vec![b' '; 100_000]);
        assert!(bomb.len() < 1_000, "{}", bomb.len());
        let e = gunzip(&bomb, 99_999).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"));
        assert!(e.message.contains("--ingest.max-decompressed-bytes"), "{}", e.message);
        assert_eq!(gunzip(b"\x1f\x8bnot gzip", 100).unwrap_err().code, "malformed_gzip");
    }
}
