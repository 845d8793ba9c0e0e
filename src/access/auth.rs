//! Who is calling: `Authorization: Bearer` with an API token (compared by its sha256 in constant
//! time) or a JWT from the admin portal's identity provider (signature, issuer, audience, expiry).
//!
//! Every failure is the same 401 to the caller; the reason goes to the debug log only, without the
//! credential.

use axum::http::HeaderMap;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::jwt::JwtSettings;
use super::tokens::TokenEntry;
use crate::credentials;

/// Tolerated clock skew with the identity provider.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Token,
    Jwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Token => "token",
            AuthMethod::Jwt => "jwt",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub roles: Vec<String>,
    pub method: AuthMethod,
}

#[derive(Debug, Clone)]
pub struct Authenticator {
    tokens: Vec<TokenEntry>,
    jwt: Option<JwtSettings>,
    role_claim: Vec<String>,
    admin_role: String,
}

/// sha256 of a token, as configured with `--api.token-sha256` or `--ingest.token-sha256`.
pub fn token_sha256(token: &str) -> [u8; 32] {
    credentials::sha256(token.as_bytes())
}

impl Authenticator {
    /// Token hashes and, when configured, JWTs whose roles are read at the dotted `role_claim`
    /// path (the reprocessing API).
    pub fn new(
        tokens: Vec<TokenEntry>,
        jwt: Option<JwtSettings>,
        role_claim: &str,
        admin_role: &str,
    ) -> Authenticator {
        Authenticator {
            tokens,
            jwt,
            role_claim: role_claim.split('.').map(str::to_string).collect(),
            admin_role: admin_role.to_string(),
        }
    }

    /// Token hashes only, no JWTs, every caller holding `role` (the ingestion endpoints).
    pub fn tokens_only(tokens: Vec<TokenEntry>, role: &str) -> Authenticator {
        Authenticator { tokens, jwt: None, role_claim: Vec::new(), admin_role: role.to_string() }
    }

    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let credential = credentials::bearer(headers).ok_or_else(ApiError::unauthorized)?;
        if let Some(entry) = self.match_token(credential) {
            return Ok(Principal {
                name: entry.principal.clone(),
                roles: vec![entry.role.clone()],
                method: AuthMethod::Token,
            });
        }
        match &self.jwt {
            Some(jwt) if credential.matches('.').count() == 2 => {
                self.verify_jwt(jwt, credential).map_err(|reason| {
                    tracing::debug!(%reason, "JWT refused");
                    ApiError::unauthorized()
                })
            }
            _ => Err(ApiError::unauthorized()),
        }
    }

    /// 403 for an authenticated caller without the admin role.
    pub fn require_admin(&self, principal: &Principal) -> Result<(), ApiError> {
        if principal.roles.iter().any(|r| r == &self.admin_role) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// Compares against every configured hash, so the time taken does not depend on which matched.
    fn match_token(&self, credential: &str) -> Option<&TokenEntry> {
        let digest = token_sha256(credential);
        let mut found = None;
        for entry in &self.tokens {
            if bool::from(entry.sha256.ct_eq(&digest)) {
                found = Some(entry);
            }
        }
        found
    }

    fn verify_jwt(&self, jwt: &JwtSettings, token: &str) -> Result<Principal, String> {
        let header = decode_header(token).map_err(|e| e.to_string())?;
        // Each key verifies only its own algorithm: an RS256 public key is never used as an HS256 secret.
        let key: &DecodingKey = match header.alg {
            Algorithm::HS256 => jwt.keys.hs256.as_ref().ok_or("HS256 is not configured")?,
            Algorithm::RS256 => match (&jwt.keys.jwks, &header.kid, &jwt.keys.rs256) {
                (Some(set), Some(kid), _) => {
                    let jwk = set.find(kid).ok_or("unknown kid")?;
                    &DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?
                }
                (_, _, Some(key)) => key,
                (Some(set), None, None) if set.keys.len() == 1 => {
                    &DecodingKey::from_jwk(&set.keys[0]).map_err(|e| e.to_string())?
                }
                _ => return Err("no RS256 key for this token".into()),
            },
            other => return Err(format!("algorithm {other:?} is not accepted")),
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&jwt.issuer]);
        validation.set_audience(&[&jwt.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let data = decode::<serde_json::Value>(token, key, &validation).map_err(|e| e.to_string())?;
        let claims = data.claims;
        let sub = claims.get("sub").and_then(|s| s.as_str()).filter(|s| !s.is_empty()).ok_or("no sub")?;
        let name: String = sub.chars().filter(|c| !c.is_control()).take(200).collect();
        Ok(Principal { name, roles: roles(&claims, &self.role_claim), method: AuthMethod::Jwt })
    }
}

/// The role claim at a dotted path: a string or an array of strings.
fn roles(claims: &serde_json::Value, path: &[String]) -> Vec<String> {
    let value = path.iter().try_fold(claims, |v, key| v.get(key));
    match value {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::jwt::JwtKeys;
    use axum::http::{header, HeaderValue};
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn auth() -> Authenticator {
        let tokens = vec![TokenEntry {
            principal: "ops".into(),
            role: "global_admin".into(),
            sha256: token_sha256("good-token"),
        }];
        let jwt = JwtSettings {
            keys: JwtKeys { hs256: Some(DecodingKey::from_secret(SECRET.as_bytes())), ..JwtKeys::default() },
            issuer: "https://idp.example".into(),
            audience: "webhook-health".into(),
        };
        Authenticator::new(tokens, Some(jwt), "app_metadata.role", "global_admin")
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    fn jwt(claims: serde_json::Value) -> String {
        encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
    }

    #[test]
    fn tokens_and_jwts_authenticate() {
        let a = auth();
        let p = a.authenticate(&headers("Bearer good-token")).unwrap();
        assert_eq!((p.name.as_str(), p.method), ("ops", AuthMethod::Token));
        assert!(a.require_admin(&p).is_ok());
        assert!(a.authenticate(&headers("Bearer bad-token")).is_err());
        assert!(a.authenticate(&headers("Basic good-token")).is_err());

        let exp = chrono::Utc::now().timestamp() + 600;
        let good =
            jwt(serde_json::json!({"sub": "alice", "iss": "https://idp.example", "aud": "webhook-health",
            "exp": exp, "app_metadata": {"role": ["viewer", "global_admin"]}}));
        let p = a.authenticate(&headers(&format!("Bearer {good}"))).unwrap();
        assert_eq!(p.name, "alice");
        assert!(a.require_admin(&p).is_ok());

        let other_aud =
            jwt(serde_json::json!({"sub": "alice", "iss": "https://idp.example", "aud": "x", "exp": exp}));
        assert!(a.authenticate(&headers(&format!("Bearer {other_aud}"))).is_err());
        let no_role =
            jwt(serde_json::json!({"sub": "bob", "iss": "https://idp.example", "aud": "webhook-health",
            "exp": exp, "role": "global_admin"}));
        let p = a.authenticate(&headers(&format!("Bearer {no_role}"))).unwrap();
        assert!(a.require_admin(&p).is_err(), "the role is read from the configured claim only");
    }
}
