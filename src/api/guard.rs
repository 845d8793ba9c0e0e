//! The one door into the authenticated API. A handler that takes [`Admin`] cannot run for anyone
//! but an authenticated admin, and every refusal is logged and counted here, alike on every route,
//! before the handler reads a byte of the body or writes anything (no audit row for a 401 or 403).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath};
use axum::http::request::Parts;

use super::auth::Principal;
use super::errors::ApiError;
use super::{ApiState, REPROCESS_ROUTE};
use crate::reprocess_counters::{Refusal, ReprocessCounters};

/// An authenticated caller with the admin role.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &ApiState) -> Result<Admin, ApiError> {
        let principal = match api.auth.authenticate(&parts.headers) {
            Ok(principal) => principal,
            Err(e) => {
                refuse(&api.counters, parts, None, Refusal::Unauthorized);
                return Err(e);
            }
        };
        if let Err(e) = api.auth.require_admin(&principal) {
            refuse(&api.counters, parts, Some(&principal), Refusal::Forbidden);
            return Err(e);
        }
        Ok(Admin(principal))
    }
}

/// Logs and counts a caller refused for its credential (also by the ingestion endpoints, whose
/// refusals go into the same metric under their own routes).
pub(crate) fn refuse(
    counters: &ReprocessCounters,
    parts: &Parts,
    principal: Option<&Principal>,
    refusal: Refusal,
) {
    // The route pattern, not the path: a label value must come from a bounded set.
    let route = parts.extensions.get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    let remote_addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string());
    let remote_addr = remote_addr.as_deref().unwrap_or("-");
    match principal {
        None => tracing::warn!(route, remote_addr, "API request refused: not authenticated"),
        Some(p) => tracing::warn!(route, remote_addr, principal = %p.name,
            "API request refused: not a global admin"),
    }
    counters.record_refusal(route, refusal);
    // webhook_reprocess_requests_total counted the reprocess route's refusals before this metric
    // existed; dashboards and alerts that sum its results stay right.
    if route == REPROCESS_ROUTE {
        counters.record_request(refusal.into());
    }
}
