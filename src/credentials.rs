//! Credential handling shared by the API and the telemetry path: configured sha256 hashes and the
//! `Authorization` header. A leaf: it knows HTTP headers and hashes, nothing of the exporter.

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};

/// Longest credential considered: anything longer is refused before any work is done on it.
pub const MAX_CREDENTIAL_BYTES: usize = 8 * 1024;

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A configured sha256 as 64 hex digits (surrounding whitespace ignored). No error detail: the
/// caller words it, and must not echo the text, which may be a pasted secret.
pub fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok())
}

/// `(scheme, credential)` of the `Authorization` header; None when absent, sent more than once
/// (ambiguous: which one a proxy or a peer would have checked is unknown, so neither counts), not
/// ASCII, without a credential or longer than [`MAX_CREDENTIAL_BYTES`].
pub fn authorization(headers: &HeaderMap) -> Option<(&str, &str)> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    if credential.is_empty() || credential.len() > MAX_CREDENTIAL_BYTES {
        return None;
    }
    Some((scheme, credential))
}

/// The credential of `Authorization: Bearer <credential>` (the scheme in any case).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    authorization(headers).filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_takes_one_scheme_and_bounded_credentials() {
        assert_eq!(bearer(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&headers("Bearer ")), None);
        assert_eq!(bearer(&headers("Bearer")), None);
        assert_eq!(bearer(&headers(&format!("Bearer {}", "a".repeat(MAX_CREDENTIAL_BYTES + 1)))), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
        assert_eq!(authorization(&headers("Basic b3BzOng=")), Some(("Basic", "b3BzOng=")));
    }

    #[test]
    fn two_authorization_headers_are_refused_in_either_order() {
        for (first, second) in
            [("Bearer good", "Bearer bad"), ("Bearer bad", "Bearer good"), ("Bearer good", "Bearer good")]
        {
            let mut h = headers(first);
            h.append(header::AUTHORIZATION, HeaderValue::from_static(second));
            assert_eq!(authorization(&h), None, "{first} then {second}");
            assert_eq!(bearer(&h), None);
        }
    }

    #[test]
    fn sha256_hex_is_exactly_32_bytes() {
        let digest = sha256(b"test");
        assert_eq!(parse_sha256_hex(&format!(" {} \n", hex::encode(digest))), Some(digest));
        assert_eq!(parse_sha256_hex(&hex::encode(&digest[..31])), None);
        assert_eq!(parse_sha256_hex("my-secret-token"), None);
    }
}
