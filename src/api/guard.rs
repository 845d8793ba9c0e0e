//! The one door into the authenticated API. A handler that takes [`Admin`] cannot run for anyone
//! but an authenticated admin, and every refusal is logged and counted here, alike on every route,
//! before the handler reads a byte of the body or writes anything (no audit row for a 401 or 403).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::state::{ApiState, REPROCESS_ROUTE};
use crate::access::auth::Principal;
use crate::access::{refusal, ApiError};
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

/// Logs and counts a refused caller; on the reprocess route also as a request result, as
/// `webhook_reprocess_requests_total` counted refusals before the refusal metric existed
/// (dashboards and alerts that sum its results stay right).
fn refuse(counters: &ReprocessCounters, parts: &Parts, principal: Option<&Principal>, refusal: Refusal) {
    if refusal::refuse(counters, parts, principal, refusal) == REPROCESS_ROUTE {
        counters.record_request(refusal.into());
    }
}
