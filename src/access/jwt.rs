//! JWT verification settings: the keys (each bound to its algorithm), issuer and audience that
//! the reprocessing API's configuration resolves and the authenticator checks tokens against.

use std::fmt;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;

/// Keys that verify JWT signatures, each bound to its algorithm.
#[derive(Clone, Default)]
pub struct JwtKeys {
    pub hs256: Option<DecodingKey>,
    pub rs256: Option<DecodingKey>,
    pub jwks: Option<JwkSet>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("hs256", &self.hs256.is_some())
            .field("rs256", &self.rs256.is_some())
            .field("jwks", &self.jwks.as_ref().map(|s| s.keys.len()))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub keys: JwtKeys,
    pub issuer: String,
    pub audience: String,
}

impl JwtSettings {
    /// Names the configured key kinds, for the start-up log.
    pub fn describe(&self) -> String {
        let mut kinds = Vec::new();
        if self.keys.hs256.is_some() {
            kinds.push("HS256");
        }
        if self.keys.rs256.is_some() {
            kinds.push("RS256");
        }
        if self.keys.jwks.is_some() {
            kinds.push("RS256 (JWKS)");
        }
        kinds.join(", ")
    }
}
